//! `abi` (issue 2): what the C ABI adds to one prepare+interpret round trip.
//!
//! The same adapter twice: `engagelab::EngageLab` linked into this binary
//! (the reference), and `libengagelab.so` loaded through
//! `recalld::host::PluginRegistry::load_file`, the daemon's own loader, which
//! serialises inputs to JSON, crosses `extern "C"`, copies and frees the
//! output and parses it. Rounds alternate the two sides so drift in machine
//! load hits both; the figure is the median over rounds.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, ensure};
use clap::Args;
use plugin_api::{
    Account, HttpResponse, InterpretInput, Message, Operation, OperationKind, Plugin, PrepareInput,
};
use recalld::host::PluginRegistry;
use serde_json::json;

use crate::fixture::plugin_file;
use crate::report::{Report, Row, Verdict, median, round};

/// The goal: the ABI adds less than this per operation.
const GOAL_NS: f64 = 10_000.0;

#[derive(Debug, Args)]
pub struct AbiArgs {
    /// The plugin library (default: libengagelab.so beside this binary).
    #[arg(long)]
    plugin: Option<PathBuf>,
    /// Round trips per side per round.
    #[arg(long, default_value_t = 20_000)]
    ops: u32,
    /// Rounds (each side once per round, alternating which goes first).
    #[arg(long, default_value_t = 9)]
    rounds: u32,
}

pub fn run(args: &AbiArgs) -> anyhow::Result<Report> {
    let path = plugin_file(args.plugin.as_deref(), "engagelab")?;
    let mut registry = PluginRegistry::new();
    let dynamic = Arc::clone(
        &registry
            .load_file(&path)
            .with_context(|| format!("loading {}", path.display()))?
            .plugin,
    );
    let native: Arc<dyn Plugin> = Arc::new(engagelab::EngageLab);
    let (prepare, interpret) = inputs();

    // Both sides must do the same work before their speed means anything.
    ensure!(
        native.manifest() == dynamic.manifest(),
        "the library is not the linked engagelab"
    );
    let request = native.prepare(&prepare)?;
    ensure!(
        request == dynamic.prepare(&prepare)?,
        "prepare differs across the ABI"
    );
    let outcome = native.interpret(&interpret)?;
    ensure!(
        outcome == dynamic.interpret(&interpret)?,
        "interpret differs across the ABI"
    );

    let ops = args.ops.max(1);
    for plugin in [&native, &dynamic] {
        time(plugin.as_ref(), &prepare, &interpret, ops / 4 + 1)?;
    }
    // Per round and side: (on-CPU ns/op, wall ns/op).
    let (mut native_ns, mut dynamic_ns, mut added_ns) = (Vec::new(), Vec::new(), Vec::new());
    let (mut native_wall, mut dynamic_wall) = (Vec::new(), Vec::new());
    for round in 0..args.rounds.max(1) {
        let (n, d) = if round % 2 == 0 {
            let n = time(native.as_ref(), &prepare, &interpret, ops)?;
            (n, time(dynamic.as_ref(), &prepare, &interpret, ops)?)
        } else {
            let d = time(dynamic.as_ref(), &prepare, &interpret, ops)?;
            (time(native.as_ref(), &prepare, &interpret, ops)?, d)
        };
        native_ns.push(n.cpu);
        dynamic_ns.push(d.cpu);
        added_ns.push(d.cpu - n.cpu);
        native_wall.push(n.wall);
        dynamic_wall.push(d.wall);
    }
    let (native, dynamic, added) = (
        median(&mut native_ns),
        median(&mut dynamic_ns),
        median(&mut added_ns),
    );
    let (native_wall, dynamic_wall) = (median(&mut native_wall), median(&mut dynamic_wall));

    let mut report = Report::new("abi");
    report.row(
        "in_process_ns_per_op",
        Row {
            figure: "in-process round trip".into(),
            goal: "reference".into(),
            measured: format!("{native:.0} ns/op"),
            reference: "-".into(),
            ratio: None,
            verdict: Verdict::Info,
        },
        json!(round(native, 1)),
    );
    report.row(
        "abi_ns_per_op",
        Row {
            figure: "through the C ABI".into(),
            goal: "-".into(),
            measured: format!("{dynamic:.0} ns/op"),
            reference: format!("in-process {native:.0} ns/op"),
            ratio: Some(dynamic / native),
            verdict: Verdict::Info,
        },
        json!(round(dynamic, 1)),
    );
    report.row(
        "abi_added_ns_per_op",
        Row {
            figure: "added by the ABI".into(),
            goal: "< 10 us/op".into(),
            measured: format!("{added:.0} ns/op"),
            reference: "goal 10,000 ns".into(),
            ratio: Some(added / GOAL_NS),
            verdict: Verdict::of(added < GOAL_NS),
        },
        json!(round(added, 1)),
    );
    report.value("in_process_wall_ns_per_op", json!(round(native_wall, 1)));
    report.value("abi_wall_ns_per_op", json!(round(dynamic_wall, 1)));
    report.value("ops_per_round", json!(ops));
    report.value("rounds", json!(args.rounds.max(1)));
    report.value("library", json!(path.display().to_string()));
    report.note(format!(
        "median of {} rounds x {ops} round trips per side, sides alternating; one op = prepare (DELETE /v4/push/withdraw/{{id}}) + interpret (200)",
        args.rounds.max(1)
    ));
    report.note(format!(
        "times are on-CPU time of the benchmark thread (/proc/thread-self/schedstat), so time spent preempted by other processes is left out; wall clock: in-process {native_wall:.0} ns/op, ABI {dynamic_wall:.0} ns/op, added {:.0} ns/op",
        dynamic_wall - native_wall
    ));
    report.note("the ABI side includes JSON encoding of inputs, the extern \"C\" call, copying and freeing the output, and JSON decoding of it");
    Ok(report)
}

/// Nanoseconds per round trip, on the CPU and on the wall clock.
struct Timing {
    cpu: f64,
    wall: f64,
}

/// Times `ops` round trips. On-CPU time comes from the scheduler's own
/// accounting of this thread; without it, the wall clock stands in.
fn time(
    plugin: &dyn Plugin,
    prepare: &PrepareInput,
    interpret: &InterpretInput,
    ops: u32,
) -> anyhow::Result<Timing> {
    let (started, cpu_before) = (Instant::now(), thread_cpu_ns());
    for _ in 0..ops {
        black_box(plugin.prepare(black_box(prepare))?);
        black_box(plugin.interpret(black_box(interpret))?);
    }
    let wall = started.elapsed().as_nanos() as f64 / f64::from(ops);
    let cpu = match (cpu_before, thread_cpu_ns()) {
        (Some(before), Some(after)) => after.saturating_sub(before) as f64 / f64::from(ops),
        _ => wall,
    };
    Ok(Timing { cpu, wall })
}

/// Nanoseconds this thread has spent on a CPU (first field of schedstat).
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// A recall as the dispatcher would prepare it, and the vendor's success answer.
fn inputs() -> (PrepareInput, InterpretInput) {
    let account = Account {
        name: "engagelab-sgp".into(),
        base_url: Some("http://127.0.0.1:9".into()),
        region: None,
        credentials: json!({"app_key": "el-sandbox", "master_secret": "el-secret"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    };
    let operation = Operation {
        kind: OperationKind::Recall,
        message: Message {
            account: account.name.clone(),
            remote_id: "1828256757".into(),
            sent_at_ms: 1_750_000_000_000,
            tags: vec!["incident-42".into()],
            meta: json!({"n": 7}),
        },
        params: serde_json::Value::Null,
    };
    let now_ms = 1_750_000_060_000;
    let prepare = PrepareInput {
        account: account.clone(),
        operation: operation.clone(),
        token: None,
        now_ms,
    };
    let response = HttpResponse {
        status: 200,
        headers: vec![plugin_api::Header::new("content-type", "application/json")],
        body: r#"{"request_id":"","msg_id":"1828256757"}"#.into(),
    };
    (
        prepare,
        InterpretInput {
            account,
            operation,
            response,
            now_ms,
            attempt: Some(1),
        },
    )
}
