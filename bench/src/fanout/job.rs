//! One recall job end to end: seed the sandbox, start a daemon, track the
//! messages, recall them by tag, wait for the job, check the vendor's count.
//! Optionally brackets the job with two runs of the direct-calls reference.
//!
//! Daemon, sandbox, reference and this control client each run on their own
//! runtime so their CPU can be told apart; all share the machine's cores.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use recalld::host::PluginRegistry;
use reqwest::Method;
use sandbox::{RateLimits, SeedRequest, Vendor};
use serde_json::{Value, json};

use super::direct;
use crate::cpu;
use crate::fixture::{AccountSpec, Api, Vendors, config_yaml, now_ms, start_daemon, track_all};

pub const TAG: &str = "bench-fanout";

/// What to run.
pub struct Plan<'a> {
    pub accounts: &'a [(AccountSpec, Vendor)],
    /// Messages per account, in the order of `accounts`.
    pub split: &'a [usize],
    pub latency_ms: u64,
    pub concurrency: u32,
    pub track_batch: usize,
    pub plugins: Option<&'a Path>,
    /// Messages per account in each of the two reference runs (0: none).
    pub reference: usize,
    /// Give up on the job after this long.
    pub deadline: Duration,
    /// How often to ask for the job's progress.
    pub poll: Duration,
}

/// What one recall did.
pub struct Recall {
    /// From sending `POST /v1/recalls` to the job's `finished_at`.
    pub elapsed: Duration,
    /// From sending it to its `202`.
    pub accepted: Duration,
    /// Tracking the messages (not timed as part of the recall).
    pub tracking: Duration,
    pub progress: Value,
    /// When the job's vendor requests arrived at the sandbox, sorted.
    pub arrivals: Vec<Instant>,
    /// Share of a core per thread pool during the recall.
    pub busy: Vec<(String, f64)>,
    /// The span `busy` covers (the job plus up to one poll interval).
    pub busy_wall: Duration,
    /// Connections to the sandbox the daemon closed during the job (sockets
    /// in TIME_WAIT towards the sandbox's port; the closing side keeps them).
    pub connections_closed: usize,
    /// Distinct messages the sandbox saw recalled, and recalls of already recalled ones.
    pub recalled: u64,
    pub duplicates: u64,
    /// The direct reference, before and after the job.
    pub reference: Vec<Direct>,
    /// The latency the sandbox held the job's calls (`most_late_us` is over
    /// the whole run, references included).
    pub held: sandbox::LatencyStats,
    /// Median time of a `GET /v1/jobs/{id}` of the finished job.
    pub poll: Duration,
    /// The daemon's writes of task results, and the results they carried
    /// (from `/metrics`: `recalld_results_per_write`).
    pub writes: (f64, f64),
}

/// One run of the direct-calls reference.
pub struct Direct {
    pub rate: f64,
    /// This process's CPU per call (sandbox included), in microseconds.
    pub cpu_us_per_call: f64,
}

/// This process's CPU (every pool but the control thread) per call, in
/// microseconds, from the pools' shares of a core over `took`.
pub fn cpu_us_per_call(busy: &[(String, f64)], took: Duration, calls: usize) -> f64 {
    let ours: f64 = busy
        .iter()
        .filter(|(pool, _)| pool != "other processes" && pool != "recalld-bench")
        .map(|(_, share)| share)
        .sum();
    ours * took.as_secs_f64() * 1e6 / calls.max(1) as f64
}

pub fn run(plan: &Plan<'_>) -> anyhow::Result<Recall> {
    let n: usize = plan.split.iter().sum();
    let temp = tempfile::tempdir()?;
    let runtime = |name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(name)
            .enable_all()
            .build()
    };
    let (sandbox_runtime, daemon_runtime, reference_runtime) = (
        runtime("sandbox")?,
        runtime("daemon")?,
        runtime("reference")?,
    );
    let control = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    let config = sandbox::Config {
        latency_ms: plan.latency_ms,
        rate_limits: RateLimits::disabled(),
        ..Default::default()
    };
    let vendors = sandbox_runtime.block_on(Vendors::start(config))?;
    let sent_at = vendors.sandbox.now_ms();
    let mut messages = Vec::with_capacity(n);
    let mut references: [Vec<direct::Lane>; 2] = [Vec::new(), Vec::new()];
    let mut registry = PluginRegistry::new();
    for ((account, vendor), &count) in plan.accounts.iter().zip(plan.split) {
        let mut ids = seed(&vendors.sandbox, *vendor, count + 2 * plan.reference);
        for reference in references.iter_mut().filter(|_| plan.reference > 0) {
            let ids = ids.split_off(ids.len() - plan.reference);
            reference.push(direct::lane(
                &mut registry,
                plan.plugins,
                account,
                vendors.addr,
                ids,
                sent_at,
            )?);
        }
        messages.extend(ids.into_iter().map(|id| (account.name.to_owned(), id)));
    }
    let [before, after] = references;
    let mut reference = Vec::new();
    let mut measure = |lanes: Vec<direct::Lane>| -> anyhow::Result<()> {
        let before = cpu::Snapshot::now();
        let (calls, took) =
            reference_runtime.block_on(direct::run(lanes, plan.concurrency as usize))?;
        let busy = cpu::Snapshot::now().busy_since(&before);
        reference.push(Direct {
            rate: calls as f64 / took.as_secs_f64(),
            cpu_us_per_call: cpu_us_per_call(&busy, took, calls),
        });
        Ok(())
    };
    if plan.reference > 0 {
        measure(before)?;
    }

    let specs: Vec<AccountSpec> = plan.accounts.iter().map(|(a, _)| *a).collect();
    let yaml = config_yaml(
        temp.path(),
        plan.plugins,
        vendors.addr,
        &specs,
        n as u64 + 10,
    )?;
    let daemon = daemon_runtime.block_on(start_daemon(temp.path(), &yaml))?;
    let api = Api::new(daemon.addr)?;
    let outcome = control.block_on(async {
        let tracking = track_all(&api, Arc::new(messages), TAG, sent_at, plan.track_batch, 2).await?;
        vendors.take_arrivals();
        let held_before = vendors.sandbox.stats().latency;
        let closed_before = time_wait_towards(vendors.addr.port());
        let before = cpu::Snapshot::now();
        let (started, started_ms) = (Instant::now(), now_ms());
        let body = serde_json::to_vec(&json!({"select": {"tags": [TAG]}, "action": "recall", "reason": "recalld-bench fanout"}))?;
        let answer = api.call(Method::POST, "/v1/recalls", body, 202).await?;
        let accepted = started.elapsed();
        ensure!(answer["matched"].as_u64() == Some(n as u64), "the recall matched {} of {n} messages", answer["matched"]);
        let job_id = answer["job_id"].as_i64().context("no job_id in the answer")?;
        let progress = wait_done(&api, job_id, started + plan.deadline, plan.poll).await?;
        let busy = cpu::Snapshot::now().busy_since(&before);
        let held = held_since(&held_before, &vendors.sandbox.stats().latency);
        let busy_wall = started.elapsed();
        let closed = time_wait_towards(vendors.addr.port()).saturating_sub(closed_before);
        let finished = progress["finished_at_ms"].as_i64().context("a done job without finished_at_ms")?;
        let elapsed = Duration::from_millis(u64::try_from(finished - started_ms).unwrap_or(0));
        let poll = time_polls(&api, job_id).await?;
        let writes = result_writes(&api.metrics().await?)?;
        Ok::<_, anyhow::Error>((tracking, accepted, progress, elapsed, busy, busy_wall, closed, held, poll, writes))
    });
    drop(api);
    daemon_runtime.block_on(daemon.stop());
    let mut arrivals = vendors.take_arrivals();
    arrivals.sort_unstable();
    let (
        tracking,
        accepted,
        progress,
        elapsed,
        busy,
        busy_wall,
        connections_closed,
        held,
        poll,
        writes,
    ) = outcome?;
    if plan.reference > 0 {
        measure(after)?;
    }
    let stats = vendors.sandbox.stats();
    sandbox_runtime.block_on(vendors.stop());

    ensure!(
        progress["recalled"].as_u64() == Some(n as u64),
        "the job recalled {} of {n}: {progress}",
        progress["recalled"]
    );
    let vendor_stats = [
        &stats.engagelab,
        &stats.jpush,
        &stats.feishu,
        &stats.dingtalk,
    ];
    let recalled: u64 = vendor_stats.iter().map(|s| s.recalled).sum();
    let duplicates = vendor_stats.iter().map(|s| s.duplicate_recalls).sum();
    let expected = (n + plan.split.len() * 2 * plan.reference) as u64;
    ensure!(
        recalled == expected,
        "the sandbox saw {recalled} of {expected} messages recalled (job and reference)"
    );
    Ok(Recall {
        elapsed,
        accepted,
        tracking,
        progress,
        arrivals,
        busy,
        busy_wall,
        connections_closed,
        recalled,
        duplicates,
        reference,
        held,
        poll,
        writes,
    })
}

/// `(count, sum)` of `recalld_results_per_write` in a `/metrics` text.
fn result_writes(metrics: &str) -> anyhow::Result<(f64, f64)> {
    let value = |name: &str| -> anyhow::Result<f64> {
        let line = metrics
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .with_context(|| format!("no {name} in /metrics"))?;
        line.trim()
            .parse()
            .with_context(|| format!("{name}: {line:?}"))
    };
    Ok((
        value("recalld_results_per_write_count")?,
        value("recalld_results_per_write_sum")?,
    ))
}

/// The latency held between two snapshots of the sandbox's counters.
fn held_since(
    before: &sandbox::LatencyStats,
    now: &sandbox::LatencyStats,
) -> sandbox::LatencyStats {
    sandbox::LatencyStats {
        calls: now.calls.saturating_sub(before.calls),
        asked_us: now.asked_us.saturating_sub(before.asked_us),
        held_us: now.held_us.saturating_sub(before.held_us),
        most_late_us: now.most_late_us,
    }
}

/// IPv4 sockets of this host in TIME_WAIT whose remote port is `port`
/// (from `/proc/net/tcp`: state `06`, addresses as hex `ADDR:PORT`).
fn time_wait_towards(port: u16) -> usize {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return 0;
    };
    let port = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(3) == Some(&"06")
                && fields.get(2).is_some_and(|remote| remote.ends_with(&port))
        })
        .count()
}

/// `count` already-sent messages of `vendor`, their remote ids.
fn seed(sandbox: &sandbox::Sandbox, vendor: Vendor, count: usize) -> Vec<String> {
    let seeded = sandbox.seed(&SeedRequest {
        count,
        vendors: vec![vendor],
        sent_ago_secs: 0,
    });
    match vendor {
        Vendor::EngageLab => seeded.engagelab,
        Vendor::JPush => seeded.jpush,
        Vendor::Feishu => seeded.feishu,
        Vendor::DingTalk => seeded.dingtalk,
    }
}

/// The median time of [`POLLS`] progress requests of a job, one at a time.
async fn time_polls(api: &Api, job_id: i64) -> anyhow::Result<Duration> {
    let mut took = Vec::with_capacity(POLLS);
    for _ in 0..POLLS {
        let start = Instant::now();
        api.call(Method::GET, &format!("/v1/jobs/{job_id}"), Vec::new(), 200)
            .await?;
        took.push(start.elapsed().as_secs_f64());
    }
    Ok(Duration::from_secs_f64(crate::report::median(&mut took)))
}

/// Progress requests timed after the job is done.
const POLLS: usize = 21;

/// Polls `GET /v1/jobs/{id}` until the job is done.
async fn wait_done(
    api: &Api,
    job_id: i64,
    deadline: Instant,
    every: Duration,
) -> anyhow::Result<Value> {
    loop {
        let progress = api
            .call(Method::GET, &format!("/v1/jobs/{job_id}"), Vec::new(), 200)
            .await?;
        if progress["state"] == "done" {
            return Ok(progress);
        }
        if Instant::now() > deadline {
            bail!("job {job_id} not done in time: {progress}");
        }
        tokio::time::sleep(every).await;
    }
}
