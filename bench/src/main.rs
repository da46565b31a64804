//! `recalld-bench`: the figures recalld promises, measured.
//!
//! The machine is shared and noisy, so every figure is a ratio against a
//! reference measured in the same run (in-process plugin calls, the
//! theoretical bound of a recall, the daemon's own `/healthz` ceiling, the
//! configured rate limit, an RSS budget). Every run is bounded in count and
//! time and talks to 127.0.0.1 only.
//!
//! | command | what it measures |
//! |---|---|
//! | `abi` | one prepare+interpret round trip through the C ABI vs in-process |
//! | `fanout` | a recall of N messages across 3 accounts vs its bound; a tight rate limit as the vendor sees it |
//! | `ingest` | signed `POST /v1/messages` (batches, then one message per request) vs `GET /healthz` |
//! | `memory` | RSS of a real `recalld serve`, idle and after tracking 1,000,000 messages |
//!
//! Each command prints a table and, last, one JSON line. Build and run in
//! release: `cargo build --release --workspace && ./target/release/recalld-bench abi`.
#![forbid(unsafe_code)]

mod abi;
mod cpu;
mod fanout;
mod fixture;
mod http1;
mod ingest;
mod load;
mod memory;
mod report;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "recalld-bench",
    about = "recalld's benchmark harness (loopback only, bounded runs)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Cost of a prepare+interpret round trip through the plugin ABI vs in-process.
    Abi(abi::AbiArgs),
    /// Time to recall N messages across 3 accounts vs the bound; a tight rate limit.
    Fanout(fanout::FanoutArgs),
    /// Durable ingestion through signed POST /v1/messages vs the /healthz ceiling.
    Ingest(ingest::IngestArgs),
    /// RSS of `recalld serve`, idle and after tracking many messages.
    Memory(memory::MemoryArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    recalld::api::install_crypto();
    let report = match cli.command {
        Command::Abi(args) => abi::run(&args),
        Command::Fanout(args) => fanout::run(&args),
        Command::Ingest(args) => ingest::run(&args),
        Command::Memory(args) => memory::run(&args),
    };
    match report {
        Ok(report) => {
            report.print();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("recalld-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
