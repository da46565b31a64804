//! CPU time of this process's threads, grouped by thread name, read from
//! `/proc/self/task/*/stat`. The commands name their runtimes' threads
//! (`daemon`, `sandbox`, `load`); the store's threads are `recalld-store` (the
//! writer) and `recalld-reads` (reads that scan many rows, file stores). A
//! thread that is busy for the whole of a run points at the bottleneck.

use std::collections::BTreeMap;
use std::time::Instant;

/// Linux reports thread times in USER_HZ ticks, 100 per second on every
/// architecture Rust targets.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds per thread name at one instant, and of the whole machine.
#[derive(Debug, Clone)]
pub struct Snapshot {
    at: Instant,
    seconds: BTreeMap<String, f64>,
    /// Busy CPU seconds of every process, from `/proc/stat`.
    machine: f64,
}

impl Snapshot {
    pub fn now() -> Snapshot {
        let mut seconds = BTreeMap::new();
        if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
            for task in tasks.flatten() {
                let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
                    continue;
                };
                if let Some((name, ticks)) = parse(&stat) {
                    *seconds.entry(name).or_default() += ticks / TICKS_PER_SECOND;
                }
            }
        }
        Snapshot {
            at: Instant::now(),
            seconds,
            machine: machine_busy().unwrap_or(0.0),
        }
    }

    /// Per thread name: the share of one core used since `earlier`
    /// (1.0 = one core busy all along), busiest first, then what other
    /// processes used (the shared machine's noise). Threads that ended in
    /// between are not counted.
    pub fn busy_since(&self, earlier: &Snapshot) -> Vec<(String, f64)> {
        let wall = self.at.duration_since(earlier.at).as_secs_f64().max(1e-9);
        let mut busy: Vec<(String, f64)> = self
            .seconds
            .iter()
            .map(|(name, &s)| {
                (
                    name.clone(),
                    (s - earlier.seconds.get(name).copied().unwrap_or(0.0)).max(0.0) / wall,
                )
            })
            .filter(|(_, share)| *share >= 0.005)
            .collect();
        busy.sort_by(|a, b| b.1.total_cmp(&a.1));
        let ours: f64 = busy.iter().map(|(_, share)| share).sum();
        let machine = (self.machine - earlier.machine).max(0.0) / wall;
        busy.push(("other processes".to_owned(), (machine - ours).max(0.0)));
        busy
    }
}

/// Busy seconds of all CPUs since boot: every `cpu` column but idle and iowait.
fn machine_busy() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let busy: f64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    Some(busy / TICKS_PER_SECOND)
}

/// `(name, utime + stime)` from a `stat` line: `tid (name) state ...`, where
/// utime and stime are the 14th and 15th fields and the name may hold spaces.
fn parse(stat: &str) -> Option<(String, f64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?;
    // Name threads by their pool: "daemon-3" and "daemon" are the same pool.
    let pool = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '#');
    let fields: Vec<&str> = stat.get(close + 2..)?.split(' ').collect();
    // After the name, field 3 (state) is index 0, so utime (14) is index 11.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((
        if pool.is_empty() { name } else { pool }.to_owned(),
        utime + stime,
    ))
}

/// `name 1.23 cores, ...` for a report note.
pub fn describe(busy: &[(String, f64)]) -> String {
    busy.iter()
        .map(|(name, share)| format!("{name} {share:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}
