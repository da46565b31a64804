//! Part 2: one account under a tight rate limit; the vendor's arrival times
//! (logged by the sandbox) are counted in 1 s windows to see whether the
//! limit holds and how close the sustained rate comes to it.

use std::time::{Duration, Instant};

use anyhow::ensure;
use sandbox::Vendor;
use serde_json::json;

use super::{FanoutArgs, job};
use crate::fixture::AccountSpec;
use crate::report::{Report, Row, Verdict, round};

pub(super) fn run(args: &FanoutArgs, report: &mut Report) -> anyhow::Result<()> {
    let n = args.tight_messages.max(1);
    let limit = args.tight_rate.max(1);
    let accounts = [(
        AccountSpec {
            name: "engagelab-sgp",
            plugin: "engagelab",
            per_second: Some(limit),
            concurrency: Some(args.concurrency.max(1)),
        },
        Vendor::EngageLab,
    )];
    let expected = n as f64 / f64::from(limit);
    let deadline = Duration::from_secs_f64(60.0 + 3.0 * expected);
    let plan = job::Plan {
        accounts: &accounts,
        split: &[n],
        latency_ms: args.latency_ms,
        concurrency: args.concurrency.max(1),
        track_batch: args.track_batch,
        plugins: args.plugins.as_deref(),
        reference: 0,
        deadline,
        poll: Duration::from_millis(200),
    };
    let recall = job::run(&plan)?;
    let arrivals = &recall.arrivals;
    ensure!(
        arrivals.len() >= n,
        "the sandbox logged {} vendor requests for {n} messages",
        arrivals.len()
    );
    let window = Duration::from_secs(1);
    let max_in_window = most_in_window(arrivals, window);
    let sustained = sustained_rate(arrivals, window);
    // The vendor's limit holds iff every limit+1 consecutive calls span at least the window.
    let tightest = arrivals
        .iter()
        .zip(arrivals.iter().skip(limit as usize))
        .map(|(a, b)| b.duration_since(*a))
        .min();
    let span = arrivals
        .last()
        .zip(arrivals.first())
        .map_or(0.0, |(l, f)| l.duration_since(*f).as_secs_f64());
    report.row(
        "tight_max_in_1s",
        Row {
            figure: format!("tight: most vendor calls in any 1 s ({n} msgs)"),
            goal: format!("<= {limit} (never above)"),
            measured: max_in_window.to_string(),
            reference: format!("limit {limit}/s"),
            ratio: Some(max_in_window as f64 / f64::from(limit)),
            verdict: Verdict::of(max_in_window <= limit as usize),
        },
        json!(max_in_window),
    );
    let ratio = sustained / f64::from(limit);
    report.row(
        "tight_sustained_rate",
        Row {
            figure: "tight: sustained rate (full 1 s windows)".into(),
            goal: "within 5% of limit".into(),
            measured: format!("{sustained:.1}/s"),
            reference: format!("limit {limit}/s"),
            ratio: Some(ratio),
            verdict: Verdict::of((0.95..=1.0).contains(&ratio)),
        },
        json!(round(sustained, 2)),
    );
    report.value("tight_vendor_calls", json!(arrivals.len()));
    if let Some(tightest) = tightest {
        report.value(
            "tight_min_span_of_limit_plus_1_ms",
            json!(round(tightest.as_secs_f64() * 1000.0, 2)),
        );
        report.note(format!(
            "part 2: the fastest {} consecutive vendor calls spanned {:.1} ms (the limit holds only if this is >= 1000 ms)",
            limit + 1,
            tightest.as_secs_f64() * 1000.0
        ));
    }
    report.value("tight_span_seconds", json!(round(span, 3)));
    report.value(
        "tight_arrivals_per_100ms",
        json!(histogram(arrivals, Duration::from_millis(100))),
    );
    report.value(
        "tight_job_seconds",
        json!(round(recall.elapsed.as_secs_f64(), 3)),
    );
    report.note(format!(
        "part 2: timestamps are the sandbox's, taken when each vendor request arrives (before its {} ms latency); windows are [t, t+1 s) starting at every arrival; sustained = mean count of the consecutive full 1 s windows from the first arrival; {} calls over {span:.2} s",
        args.latency_ms,
        arrivals.len()
    ));
    Ok(())
}

/// The most arrivals in any `[t, t + window)`, `t` being an arrival.
fn most_in_window(arrivals: &[Instant], window: Duration) -> usize {
    let mut most = 0;
    let mut end = 0;
    for (start, &t) in arrivals.iter().enumerate() {
        while end < arrivals.len() && arrivals[end] < t + window {
            end += 1;
        }
        most = most.max(end - start);
    }
    most
}

/// Arrivals per consecutive `bucket` from the first arrival.
fn histogram(arrivals: &[Instant], bucket: Duration) -> Vec<usize> {
    let Some(&first) = arrivals.first() else {
        return Vec::new();
    };
    let mut counts = Vec::new();
    for t in arrivals {
        let i = (t.duration_since(first).as_nanos() / bucket.as_nanos().max(1)) as usize;
        if counts.len() <= i {
            counts.resize(i + 1, 0);
        }
        counts[i] += 1;
    }
    counts
}

/// Mean arrivals per consecutive full `window` from the first arrival.
fn sustained_rate(arrivals: &[Instant], window: Duration) -> f64 {
    let (Some(&first), Some(&last)) = (arrivals.first(), arrivals.last()) else {
        return 0.0;
    };
    let full = (last.duration_since(first).as_secs_f64() / window.as_secs_f64()).floor() as u32;
    if full == 0 {
        return arrivals.len() as f64 / window.as_secs_f64();
    }
    let end = first + window * full;
    let counted = arrivals.iter().filter(|&&t| t < end).count();
    counted as f64 / (window.as_secs_f64() * f64::from(full))
}
