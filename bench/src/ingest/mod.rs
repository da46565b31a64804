//! `ingest` (issues 5 and 6): durable ingestion through signed
//! `POST /v1/messages`, against the same daemon's `GET /healthz` ceiling.
//!
//! One daemon (in-process, its own runtime, file store with WAL and
//! `synchronous = FULL`: a 200 means committed), the same number of
//! connections in every phase:
//! 1. `--rounds` rounds of `/healthz` (the ceiling of this daemon on this
//!    machine with this generator: the reference) then one message per
//!    request (every request has a fresh delivery id, recorded in the same
//!    transaction as the message: that is the replay protection), both
//!    closed loop; the ratio is taken per round, the median round reported;
//! 2. batches of `--batch` messages, closed loop: messages per second;
//! 3. one message per request, open loop at half the median rate of 1:
//!    latency from the scheduled send time.
//!
//! Requests are built and signed before each phase starts. The generator
//! runs in this process on its own runtime and shares the machine's cores
//! with the daemon.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::ensure;
use clap::Args;
use serde_json::json;

mod figures;

use figures::report;

use crate::cpu;
use crate::fixture::{AccountSpec, Signer, config_yaml, now_ms, start_daemon, track_body};
use crate::load::{Pace, Requests, Run, run as load};
use crate::report::{Report, median};

const ACCOUNT: &str = "push-main";
const TAG: &str = "bench-ingest";

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Concurrent connections of the load generator.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds per phase.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Rounds of (healthz, one message per request), alternating.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Messages per request in the batch phase.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Worker threads of the daemon's runtime (`recalld serve` uses one per core).
    #[arg(long, default_value_t = 2)]
    daemon_threads: usize,
    /// Worker threads of the load generator's runtime.
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// Where the plugin libraries are (default: beside this binary).
    #[arg(long)]
    plugins: Option<PathBuf>,
}

pub fn run(args: &IngestArgs) -> anyhow::Result<Report> {
    let temp = tempfile::tempdir()?;
    let daemon_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.daemon_threads.max(1))
        .thread_name("daemon")
        .enable_all()
        .build()?;
    let client_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .thread_name("load")
        .enable_all()
        .build()?;
    // Nothing is recalled here: the account's vendor address is never called.
    let accounts = [AccountSpec {
        name: ACCOUNT,
        plugin: "engagelab",
        per_second: None,
        concurrency: None,
    }];
    let yaml = config_yaml(
        temp.path(),
        args.plugins.as_deref(),
        ([127, 0, 0, 1], 9).into(),
        &accounts,
        10,
    )?;
    let daemon = daemon_runtime.block_on(start_daemon(temp.path(), &yaml))?;
    let result = client_runtime.block_on(phases(args, daemon.addr));
    daemon_runtime.block_on(daemon.stop());
    result
}

async fn phases(args: &IngestArgs, addr: SocketAddr) -> anyhow::Result<Report> {
    let signer = Signer::new()?;
    let seconds = Duration::from_secs(args.seconds.max(1));
    let closed = Pace::Closed { duration: seconds };
    let conns = args.connections.max(1);
    let healthz = Arc::new(Requests::Same(
        format!("GET /healthz HTTP/1.1\r\nhost: {addr}\r\n\r\n").into_bytes(),
    ));
    let mut serial = 0usize;
    let mut signed = |count: usize, batch: usize| -> Arc<Requests> {
        let sent_at = now_ms();
        let list = (0..count)
            .map(|_| {
                let ids: Vec<String> = (serial..serial + batch).map(|n| format!("m{n}")).collect();
                serial += batch;
                let body = track_body(ids.iter().map(|id| (ACCOUNT, id.as_str())), TAG, sent_at);
                signer.raw_post(addr, "/v1/messages", &body)
            })
            .collect();
        Arc::new(Requests::Each(list))
    };

    // Warm up connections, the allocator and SQLite's cache (not measured).
    load(
        addr,
        conns,
        Pace::Closed {
            duration: Duration::from_millis(500),
        },
        Arc::clone(&healthz),
        200,
    )
    .await?;
    load(
        addr,
        conns,
        Pace::Closed {
            duration: Duration::from_millis(500),
        },
        signed(2_000, 1),
        200,
    )
    .await?;

    let mut busy = Vec::new();
    let mut cpu = cpu::Snapshot::now();
    // Per phase: what each thread pool used; returns the daemon's share
    // (its runtime and its store thread) in cores.
    let mut lap = |phase: String| -> f64 {
        let now = cpu::Snapshot::now();
        let shares = now.busy_since(&cpu);
        busy.push(format!("{phase}: {}", cpu::describe(&shares)));
        cpu = now;
        shares
            .iter()
            .filter(|(pool, _)| pool == "daemon" || pool == "recalld-store")
            .map(|(_, share)| share)
            .sum()
    };
    // Daemon CPU microseconds per answered request of a phase.
    let per_request =
        |share: f64, run: &Run| share * run.elapsed.as_secs_f64() * 1e6 / run.ok.max(1) as f64;
    // The ceiling and the single-message rate alternate, so that load from
    // elsewhere on the machine hits both; the ratio is taken per round.
    let mut rounds = Vec::new();
    for round in 1..=args.rounds.max(1) {
        // Enough for 40k requests/s; a run that uses them up ends early and its rate is still right.
        let pool = signed(40_000 * seconds.as_secs() as usize, 1);
        lap("signing".into());
        let ceiling = load(addr, conns, closed, Arc::clone(&healthz), 200).await?;
        let ceiling_cpu = per_request(lap(format!("round {round} healthz")), &ceiling);
        check(&ceiling, "GET /healthz")?;
        let single = load(addr, conns, closed, pool, 200).await?;
        let single_cpu = per_request(lap(format!("round {round} single")), &single);
        check(&single, "single")?;
        rounds.push(Round {
            ceiling,
            single,
            ceiling_cpu,
            single_cpu,
        });
    }
    rounds.sort_by(|a, b| a.ratio().total_cmp(&b.ratio()));
    let batch = args.batch.max(1);
    let pool = signed(300_000 * seconds.as_secs() as usize / batch, batch);
    lap("signing".into());
    let batches = load(addr, conns, closed, pool, 200).await?;
    lap("batches".into());
    check(&batches, "batches")?;
    let mut singles: Vec<f64> = rounds.iter().map(|r| r.single.rate()).collect();
    let half = median(&mut singles) / 2.0;
    let pool = signed((half * seconds.as_secs_f64()) as usize + 1, 1);
    lap("signing".into());
    let open = load(
        addr,
        conns,
        Pace::Open {
            rate: half,
            duration: seconds,
        },
        pool,
        200,
    )
    .await?;
    lap("half load".into());
    check(&open, "open loop")?;

    // Replay protection is on: the same signed request twice is refused.
    let replayed = signed(1, 1);
    let first = load(
        addr,
        1,
        Pace::Open {
            rate: 1000.0,
            duration: Duration::from_millis(1),
        },
        Arc::clone(&replayed),
        200,
    )
    .await?;
    let second = load(
        addr,
        1,
        Pace::Open {
            rate: 1000.0,
            duration: Duration::from_millis(1),
        },
        replayed,
        401,
    )
    .await?;
    ensure!(
        first.ok == 1 && second.ok == 1,
        "a replayed request was not refused with 401"
    );

    let mut report = report(args, &rounds, &batches, &open, batch);
    for phase in busy.iter().filter(|b| !b.starts_with("signing")) {
        report.note(format!("CPU, cores busy per thread pool, {phase}"));
    }
    report.value("cpu_by_phase", json!(busy));
    Ok(report)
}

/// One round: the ceiling, then one message per request, with the daemon's
/// CPU microseconds per request in each.
struct Round {
    ceiling: Run,
    single: Run,
    ceiling_cpu: f64,
    single_cpu: f64,
}

impl Round {
    /// Single-message rate over the ceiling.
    fn ratio(&self) -> f64 {
        self.single.rate() / self.ceiling.rate()
    }
}

/// A phase must have answered, and answered only as expected.
fn check(run: &Run, phase: &str) -> anyhow::Result<()> {
    ensure!(
        run.ok > 0,
        "{phase}: no request succeeded ({} transport errors, statuses {:?})",
        run.errors,
        run.statuses
    );
    ensure!(
        run.statuses.is_empty(),
        "{phase}: unexpected statuses {:?}",
        run.statuses
    );
    Ok(())
}
