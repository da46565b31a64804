//! Part 1: N messages over three accounts, timed from the recall request to
//! the job's end, against the bound that latency, concurrency and the
//! account limits set, and against the direct-calls reference.

use std::time::Duration;

use sandbox::Vendor;
use serde_json::json;

use super::{FanoutArgs, job};
use crate::cpu;
use crate::fixture::AccountSpec;
use crate::report::{Report, Row, Verdict, round};

pub(super) fn run(args: &FanoutArgs, report: &mut Report) -> anyhow::Result<()> {
    let n = args.messages.max(3);
    let c = args.concurrency.max(1);
    let accounts = [
        (
            AccountSpec {
                name: "engagelab-sgp",
                plugin: "engagelab",
                per_second: Some(args.account_rate),
                concurrency: Some(c),
            },
            Vendor::EngageLab,
        ),
        (
            AccountSpec {
                name: "jpush-main",
                plugin: "jpush",
                per_second: Some(args.account_rate),
                concurrency: Some(c),
            },
            Vendor::JPush,
        ),
        (
            AccountSpec {
                name: "feishu",
                plugin: "feishu-helpdesk",
                per_second: Some(args.account_rate),
                concurrency: Some(c),
            },
            Vendor::Feishu,
        ),
    ];
    let split: Vec<usize> = (0..accounts.len())
        .map(|i| n / accounts.len() + usize::from(i < n % accounts.len()))
        .collect();
    let latency = args.latency_ms as f64 / 1000.0;
    let bound_secs = split
        .iter()
        .map(|&share| {
            (latency * share as f64 / f64::from(c))
                .max(share as f64 / f64::from(args.account_rate.max(1)))
        })
        .fold(0.0, f64::max);
    let deadline = Duration::from_secs_f64(60.0 + 10.0 * bound_secs);
    let plan = job::Plan {
        accounts: &accounts,
        split: &split,
        latency_ms: args.latency_ms,
        concurrency: c,
        track_batch: args.track_batch,
        plugins: args.plugins.as_deref(),
        reference: args.reference,
        deadline,
        poll: Duration::from_secs(1),
    };
    let recall = job::run(&plan)?;
    let elapsed = recall.elapsed.as_secs_f64();
    let ratio = elapsed / bound_secs;
    report.row(
        "fanout_seconds",
        Row {
            figure: format!("recall {n} msgs, 3 accounts, C={c}, {} ms", args.latency_ms),
            goal: "<= 1.15 x bound".into(),
            measured: format!("{elapsed:.2} s ({:.0} calls/s)", n as f64 / elapsed),
            reference: format!("bound {bound_secs:.2} s"),
            ratio: Some(ratio),
            verdict: Verdict::of(ratio <= 1.15),
        },
        json!(round(elapsed, 3)),
    );
    let daemon_cpu = job::cpu_us_per_call(&recall.busy, recall.busy_wall, n);
    if !recall.reference.is_empty() {
        let count = recall.reference.len() as f64;
        let rate = recall.reference.iter().map(|d| d.rate).sum::<f64>() / count;
        let direct_cpu = recall
            .reference
            .iter()
            .map(|d| d.cpu_us_per_call)
            .sum::<f64>()
            / count;
        let reference_secs = n as f64 / rate;
        report.row(
            "fanout_vs_direct_calls",
            Row {
                figure: "same recall vs direct calls (same run)".into(),
                goal: "- (noise-robust view)".into(),
                measured: format!("{elapsed:.2} s"),
                reference: format!("direct {reference_secs:.2} s ({rate:.0} calls/s)"),
                ratio: Some(elapsed / reference_secs),
                verdict: Verdict::Info,
            },
            json!(round(reference_secs, 3)),
        );
        report.row(
            "fanout_cpu_us_per_call",
            Row {
                figure: "CPU per vendor call (sandbox included)".into(),
                goal: "-".into(),
                measured: format!("{daemon_cpu:.0} us"),
                reference: format!("direct {direct_cpu:.0} us"),
                ratio: Some(daemon_cpu / direct_cpu),
                verdict: Verdict::Info,
            },
            json!(round(daemon_cpu, 1)),
        );
        let rates: Vec<String> = recall
            .reference
            .iter()
            .map(|d| format!("{:.0}", d.rate))
            .collect();
        report.value(
            "fanout_direct_calls_per_s",
            json!(
                recall
                    .reference
                    .iter()
                    .map(|d| round(d.rate, 1))
                    .collect::<Vec<_>>()
            ),
        );
        report.note(format!(
            "part 1: direct-calls reference: {} calls per account, C={c} per account, before and after the job: {} calls/s",
            args.reference,
            rates.join(" and ")
        ));
    } else {
        report.value("fanout_cpu_us_per_call", json!(round(daemon_cpu, 1)));
    }
    report.value(
        "fanout_connections_closed",
        json!(recall.connections_closed),
    );
    report.note(format!(
        "part 1: the daemon closed {} connections to the vendor during the job (TIME_WAIT sockets towards the sandbox): one new connection per {:.0} calls",
        recall.connections_closed,
        n as f64 / recall.connections_closed.max(1) as f64
    ));
    let in_flight = n as f64 / elapsed * latency;
    report.value("fanout_mean_calls_in_flight", json!(round(in_flight, 1)));
    report.note(format!(
        "part 1: {:.0} vendor calls in flight on average of {} allowed ({:.0}%): each slot was held {:.1} ms per {} ms call",
        in_flight,
        c as usize * accounts.len(),
        100.0 * in_flight / (f64::from(c) * accounts.len() as f64),
        1000.0 * f64::from(c) * accounts.len() as f64 * elapsed / n as f64,
        args.latency_ms
    ));
    report.value("fanout_bound_seconds", json!(round(bound_secs, 3)));
    report.value("fanout_accepted_ms", json!(recall.accepted.as_millis()));
    report.value(
        "fanout_tracking_seconds",
        json!(round(recall.tracking.as_secs_f64(), 3)),
    );
    report.value(
        "fanout_cpu_cores_busy",
        json!(
            recall
                .busy
                .iter()
                .map(|(k, v)| (k.clone(), json!(round(*v, 3))))
                .collect::<serde_json::Map<_, _>>()
        ),
    );
    report.value("fanout_progress", recall.progress.clone());
    report.note(format!(
        "part 1: bound = max over accounts of max(latency x n_account / C, n_account / rate) = max({} ms x {} / {c}, {} / {}/s); the 202 came after {} ms (job creation is inside the timed span)",
        args.latency_ms,
        split[0],
        split[0],
        args.account_rate,
        recall.accepted.as_millis()
    ));
    report.note(format!(
        "part 1: tracked {n} messages in {:.2} s through signed POST /v1/messages (batches of {}, 2 in flight): {:.0} msg/s; sandbox saw {} recalls, {} duplicates",
        recall.tracking.as_secs_f64(),
        args.track_batch,
        n as f64 / recall.tracking.as_secs_f64(),
        recall.recalled,
        recall.duplicates
    ));
    let held = &recall.held;
    let calls = held.calls.max(1) as f64;
    report.value(
        "fanout_sandbox_held_ms",
        json!(round(held.held_us as f64 / calls / 1000.0, 3)),
    );
    report.note(format!(
        "part 1: the sandbox held the job's {} calls {:.3} ms on average (asked {:.3} ms; the latest was {} us late); the bound uses the asked latency",
        held.calls,
        held.held_us as f64 / calls / 1000.0,
        held.asked_us as f64 / calls / 1000.0,
        held.most_late_us
    ));
    let (writes, written) = recall.writes;
    report.value(
        "fanout_results_per_write",
        json!(round(written / writes.max(1.0), 1)),
    );
    report.note(format!(
        "part 1: the daemon committed {written:.0} task results in {writes:.0} writes ({:.1} per write)",
        written / writes.max(1.0)
    ));
    report.value(
        "fanout_progress_poll_ms",
        json!(round(recall.poll.as_secs_f64() * 1000.0, 3)),
    );
    report.note(format!(
        "part 1: GET /v1/jobs/{{id}} of the finished {n}-task job took {:.2} ms (median of 21, signed, over HTTP)",
        recall.poll.as_secs_f64() * 1000.0
    ));
    report.note(format!(
        "part 1: CPU during the recall, cores busy per thread pool: {}",
        cpu::describe(&recall.busy)
    ));
    Ok(())
}
