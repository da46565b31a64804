//! The commands of the `recalld` binary, one file per command.

mod check;
mod demo;
mod plugins;
mod recall;
mod rules;
mod sandbox;
mod serve;
mod sign;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// sysexits' EX_USAGE / EX_CONFIG family: the config is wrong.
pub const EXIT_CONFIG: u8 = 64;
/// sysexits' EX_DATAERR: an input file was read but is not valid.
pub const EXIT_DATAERR: u8 = 65;
/// sysexits' EX_NOINPUT: an input file is missing or unreadable.
pub const EXIT_NOINPUT: u8 = 66;

#[derive(Debug, Parser)]
#[command(
    name = "recalld",
    version,
    about = "Takes back messages that were already sent, across vendors"
)]
pub struct Cli {
    /// Log format: human-readable text, or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// A self-contained tour: sandbox, daemon, tracked messages, a signed recall-by-tag.
    Demo(demo::DemoArgs),
    /// Run the daemon.
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
    /// The vendor simulator alone (Feishu, DingTalk, EngageLab, JPush).
    Sandbox(sandbox::SandboxArgs),
    /// Validate the config, its plugins and rules; errors as file:line:col (exit 64).
    Check {
        #[arg(long)]
        config: PathBuf,
    },
    /// Inspect and check plugins.
    #[command(subcommand)]
    Plugins(plugins::PluginsCommand),
    /// Try rules without acting: which fire, and what they would select.
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    /// Print the signature headers for a body read from stdin.
    Sign(sign::SignArgs),
    /// Ask a daemon to recall messages by tag; optionally follow the job.
    Recall(recall::RecallArgs),
}

/// Logs go to stderr; level from `RUST_LOG` (default `info`, `warn` for
/// commands whose own output is the point, like `demo`).
pub fn init_logging(format: LogFormat, command: &Command) {
    use tracing_subscriber::EnvFilter;
    let default = match command {
        Command::Demo(_)
        | Command::Recall(_)
        | Command::Sign(_)
        | Command::Plugins(_)
        | Command::Rules(_)
        | Command::Check { .. } => "warn",
        _ => "info",
    };
    // warp reports idle keep-alive connections cut by a graceful shutdown as
    // errors; they are not. RUST_LOG overrides this default.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{default},warp::server::run=off")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    crate::api::install_crypto();
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Serve { config } => serve::run(&config),
        Command::Sandbox(args) => sandbox::run(args),
        Command::Check { config } => Ok(check::run(&config)),
        Command::Plugins(command) => plugins::run(command),
        Command::Rules(command) => rules::run(command),
        Command::Sign(args) => sign::run(args),
        Command::Recall(args) => recall::run(args),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[test]
    fn exit_codes_do_not_collide_with_clap_usage_errors() {
        let usage = Cli::try_parse_from(["recalld", "recall", "--no-such-flag"])
            .unwrap_err()
            .exit_code();
        let usage = u8::try_from(usage).unwrap();
        for (what, code) in [
            ("recall: some failed", recall::EXIT_SOME_FAILED),
            ("rules test: none fires", rules::EXIT_NONE_FIRES),
            ("invalid config", EXIT_CONFIG),
            ("invalid input file", EXIT_DATAERR),
            ("missing input file", EXIT_NOINPUT),
        ] {
            assert_ne!(code, usage, "{what} exits like a usage error");
        }
    }
}
