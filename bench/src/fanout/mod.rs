//! `fanout` (issue 5): how close a recall comes to its bound, and how
//! exactly a tight rate limit is kept, as the vendor sees it.
//!
//! Part 1: N messages tagged `bench-fanout`, split over three accounts of
//! three vendors (EngageLab, JPush, Feishu helpdesk; DingTalk's 40/s would
//! dominate), sandbox latency L, sandbox limits off, account limits high,
//! account concurrency C. Tracked through signed `POST /v1/messages`
//! batches, then timed from the recall request to the job's `finished_at`.
//! The bound: for each account, at most C calls of L each in flight and at
//! most `rate` calls per second, so max(L * n / C, n / rate); the slowest
//! account sets it.
//!
//! Part 2: one account with `rate_limit: {requests: R, per: 1s}`; the
//! sandbox logs when each vendor request arrives, and the harness counts the
//! most requests in any 1 s window and the sustained rate.
//!
//! Because the machine is shared, part 1 has a second, measured reference:
//! the same calls made directly (plugin prepare, HTTP, plugin interpret; no
//! dispatcher, no store) with the same concurrency, before and after the job
//! ([`direct`]). The daemon's time over the time that rate implies is its
//! overhead on this machine at this moment.
//!
//! Part 1 is [`bound`], part 2 [`tight`]; each runs its job through [`job`].

mod bound;
mod direct;
mod job;
mod tight;

use std::path::PathBuf;

use clap::Args;

use crate::report::Report;

#[derive(Debug, Args)]
pub struct FanoutArgs {
    /// Messages recalled in part 1, split over the three accounts.
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    /// Vendor calls in flight per account.
    #[arg(long, default_value_t = 64)]
    concurrency: u32,
    /// Latency the sandbox adds to every vendor call (ms).
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
    /// Part 1's account limit, requests per second (high: not the bound).
    #[arg(long, default_value_t = 100_000)]
    account_rate: u32,
    /// Part 2's messages.
    #[arg(long, default_value_t = 2_000)]
    tight_messages: usize,
    /// Part 2's account limit, requests per second.
    #[arg(long, default_value_t = 200)]
    tight_rate: u32,
    /// Messages per tracking request.
    #[arg(long, default_value_t = 1_000)]
    track_batch: usize,
    /// Messages per account in each of the two direct-calls reference runs of part 1 (0: skip).
    #[arg(long, default_value_t = 10_000)]
    reference: usize,
    /// Only part 1 (`bound`) or only part 2 (`tight`).
    #[arg(long, value_parser = ["bound", "tight"])]
    only: Option<String>,
    /// Where the plugin libraries are (default: beside this binary).
    #[arg(long)]
    plugins: Option<PathBuf>,
}

pub fn run(args: &FanoutArgs) -> anyhow::Result<Report> {
    let mut report = Report::new("fanout");
    if args.only.as_deref() != Some("tight") {
        bound::run(args, &mut report)?;
    }
    if args.only.as_deref() != Some("bound") {
        tight::run(args, &mut report)?;
    }
    Ok(report)
}
