//! The `recalld` binary: parse the command line, set up logging, hand over
//! to the library.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = recalld::cli::Cli::parse();
    recalld::cli::init_logging(cli.log_format, &cli.command);
    match recalld::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("recalld: {e:#}");
            ExitCode::FAILURE
        }
    }
}
