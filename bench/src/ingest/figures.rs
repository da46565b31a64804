//! The `ingest` table: figures from the round with the median ratio, the
//! batch phase and the open-loop phase, with the notes that explain them.

use serde_json::{Value, json};

use super::{IngestArgs, Round};
use crate::load::Run;
use crate::report::{Report, Row, Verdict, round};

/// `rounds` are sorted by their ratio; the median round gives the figures.
pub(super) fn report(
    args: &IngestArgs,
    rounds: &[Round],
    batches: &Run,
    open: &Run,
    batch: usize,
) -> Report {
    let Round {
        ceiling,
        single,
        ceiling_cpu,
        single_cpu,
    } = &rounds[rounds.len() / 2];
    let ceiling_rate = ceiling.rate();
    let messages_rate = batches.rate() * batch as f64;
    let single_rate = single.rate();
    let p99_half = Run::quantile_ms(&open.latency_us, 0.99);
    let mut report = Report::new("ingest");
    let per_s = |x: f64| format!("{x:.0}");
    report.row(
        "healthz_rps",
        Row {
            figure: "GET /healthz ceiling".into(),
            goal: "reference".into(),
            measured: format!("{} req/s", per_s(ceiling_rate)),
            reference: "-".into(),
            ratio: None,
            verdict: Verdict::Info,
        },
        json!(round(ceiling_rate, 1)),
    );
    report.row(
        "batch_messages_per_s",
        Row {
            figure: format!("signed batches of {batch}"),
            goal: ">= 50,000 msg/s".into(),
            measured: format!(
                "{} msg/s ({} req/s)",
                per_s(messages_rate),
                per_s(batches.rate())
            ),
            reference: "goal 50,000 msg/s".into(),
            ratio: Some(messages_rate / 50_000.0),
            verdict: Verdict::of(messages_rate >= 50_000.0),
        },
        json!(round(messages_rate, 1)),
    );
    report.row(
        "single_rps_vs_healthz",
        Row {
            figure: "1 msg/request, replay-protected".into(),
            goal: ">= 30% of /healthz".into(),
            measured: format!("{} req/s", per_s(single_rate)),
            reference: format!("/healthz {} req/s", per_s(ceiling_rate)),
            ratio: Some(single_rate / ceiling_rate),
            verdict: Verdict::of(single_rate >= 0.30 * ceiling_rate),
        },
        json!(round(single_rate, 1)),
    );
    report.row(
        "single_rps_absolute",
        Row {
            figure: "1 msg/request, absolute".into(),
            goal: ">= 18,000 req/s (ideally)".into(),
            measured: format!("{} req/s", per_s(single_rate)),
            reference: "goal 18,000 req/s".into(),
            ratio: Some(single_rate / 18_000.0),
            verdict: Verdict::of(single_rate >= 18_000.0),
        },
        json!(round(single_rate, 1)),
    );
    report.row(
        "daemon_cpu_us_per_single",
        Row {
            figure: "daemon CPU per 1-msg request".into(),
            goal: "-".into(),
            measured: format!("{single_cpu:.1} us"),
            reference: format!("per /healthz {ceiling_cpu:.1} us"),
            ratio: Some(single_cpu / ceiling_cpu),
            verdict: Verdict::Info,
        },
        json!(round(*single_cpu, 2)),
    );
    report.row(
        "p99_ms_at_half_load",
        Row {
            figure: format!("p99 at half load ({:.0} req/s open loop)", open.rate()),
            goal: "< 10 ms".into(),
            measured: format!("{p99_half:.2} ms"),
            reference: "goal 10 ms".into(),
            ratio: Some(p99_half / 10.0),
            verdict: Verdict::of(p99_half < 10.0),
        },
        json!(round(p99_half, 3)),
    );
    let quantiles = |values: &[u32]| json!({"p50": round(Run::quantile_ms(values, 0.5), 3), "p99": round(Run::quantile_ms(values, 0.99), 3), "p999": round(Run::quantile_ms(values, 0.999), 3), "max": round(Run::quantile_ms(values, 1.0), 3)});
    report.value(
        "latency_ms_at_max_load_single",
        quantiles(&single.service_us),
    );
    report.value(
        "latency_ms_at_max_load_batches",
        quantiles(&batches.service_us),
    );
    report.value(
        "latency_ms_at_half_load_from_schedule",
        quantiles(&open.latency_us),
    );
    report.value(
        "latency_ms_at_half_load_from_send",
        quantiles(&open.service_us),
    );
    report.value("open_loop_rate", json!(round(open.rate(), 1)));
    let per_round: Vec<Value> = rounds
        .iter()
        .map(|r| {
            json!({"healthz_rps": round(r.ceiling.rate(), 1), "single_rps": round(r.single.rate(), 1), "ratio": round(r.ratio(), 4),
                   "daemon_cpu_us_per_healthz": round(r.ceiling_cpu, 2), "daemon_cpu_us_per_single": round(r.single_cpu, 2)})
        })
        .collect();
    report.value("rounds", json!(per_round));
    report.value("connections", json!(args.connections));
    report.value("seconds_per_phase", json!(args.seconds));
    report.value("daemon_threads", json!(args.daemon_threads));
    report.value("client_threads", json!(args.client_threads));
    report.value(
        "cores",
        json!(std::thread::available_parallelism().map_or(0, usize::from)),
    );
    report.note(format!(
        "{} rounds of (healthz, 1 msg/request) alternating, figures from the round with the median ratio; {} connections, {} s per phase; daemon in-process on its own {}-thread runtime, file store (WAL, synchronous=FULL); generator on a {}-thread runtime in the same process, sharing the {} cores",
        rounds.len(),
        args.connections,
        args.seconds,
        args.daemon_threads,
        args.client_threads,
        std::thread::available_parallelism().map_or(0, usize::from)
    ));
    report.note(format!(
        "at max load, 1 msg/request: p50 {:.2} ms, p99 {:.2} ms; batches: p50 {:.2} ms, p99 {:.2} ms",
        Run::quantile_ms(&single.service_us, 0.5),
        Run::quantile_ms(&single.service_us, 0.99),
        Run::quantile_ms(&batches.service_us, 0.5),
        Run::quantile_ms(&batches.service_us, 0.99)
    ));
    report.note(format!(
        "half load: p50 {:.2} ms, p99.9 {:.2} ms from schedule (tokio timer adds up to 1 ms); p99 {:.2} ms from send",
        Run::quantile_ms(&open.latency_us, 0.5),
        Run::quantile_ms(&open.latency_us, 0.999),
        Run::quantile_ms(&open.service_us, 0.99)
    ));
    report.note("a replayed request (same webhook-id) was refused with 401");
    if batches.exhausted || single.exhausted {
        report.note("a phase used up its pre-signed requests before its time was up; its rate is over the shorter time");
    }
    report
}
