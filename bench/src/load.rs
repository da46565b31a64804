//! Bounded load generators over [`crate::http1`]: closed loop (N connections,
//! each sending its next request when the previous answer arrives, for a fixed
//! time) for the maximum rate, and open loop (requests scheduled at a fixed
//! rate, latency counted from the scheduled time so a slow server cannot hide
//! its queueing) for latency at a given load.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::http1::Connection;

/// The requests of one run, built and signed before the clock starts.
pub enum Requests {
    /// The same request every time (unsigned probes such as `/healthz`).
    Same(Vec<u8>),
    /// Request `i` is used once; the run ends early when they run out.
    Each(Vec<Vec<u8>>),
}

impl Requests {
    fn get(&self, i: usize) -> Option<&[u8]> {
        match self {
            Requests::Same(request) => Some(request),
            Requests::Each(list) => list.get(i).map(Vec::as_slice),
        }
    }
}

/// When requests go out.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// As fast as answers come back, until the deadline.
    Closed { duration: Duration },
    /// `rate` per second for `duration`, whatever the answers do.
    Open { rate: f64, duration: Duration },
}

/// What a run measured.
#[derive(Debug, Default)]
pub struct Run {
    /// Answers with the expected status.
    pub ok: u64,
    /// Other statuses, by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Transport errors (the connection is reopened after one).
    pub errors: u64,
    pub elapsed: Duration,
    /// Per answered request, microseconds from when it should have gone out
    /// (open loop: its scheduled time; closed loop: when it was sent). Sorted.
    pub latency_us: Vec<u32>,
    /// Per answered request, microseconds from when it was written. Sorted.
    pub service_us: Vec<u32>,
    /// True when [`Requests::Each`] ran out before the deadline.
    pub exhausted: bool,
}

impl Run {
    /// Expected answers per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile (0..=1) of `values`, in milliseconds.
    pub fn quantile_ms(values: &[u32], q: f64) -> f64 {
        if values.is_empty() {
            return 0.0;
        }
        let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
        f64::from(values[rank - 1]) / 1000.0
    }

    fn merge(&mut self, other: Run) {
        self.ok += other.ok;
        self.errors += other.errors;
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.latency_us.extend(other.latency_us);
        self.service_us.extend(other.service_us);
        self.exhausted |= other.exhausted;
    }
}

/// Runs `connections` connections against `addr` at `pace`; an answer with
/// status `want` counts as ok.
pub async fn run(
    addr: SocketAddr,
    connections: usize,
    pace: Pace,
    requests: Arc<Requests>,
    want: u16,
) -> anyhow::Result<Run> {
    let mut opened = Vec::with_capacity(connections);
    for _ in 0..connections.max(1) {
        opened.push(Connection::open(addr).await?);
    }
    let next = Arc::new(AtomicUsize::new(0));
    // Leave the connects and task spawns out of the schedule.
    let start = Instant::now() + Duration::from_millis(20);
    let mut workers = tokio::task::JoinSet::new();
    for connection in opened {
        let (requests, next) = (Arc::clone(&requests), Arc::clone(&next));
        workers.spawn(worker(addr, connection, requests, next, pace, start, want));
    }
    let mut total = Run::default();
    while let Some(part) = workers.join_next().await {
        total.merge(part?);
    }
    // Until the last answer: closed-loop workers finish the request in
    // flight at the deadline, and every answer counted is inside this span.
    total.elapsed = Instant::now().saturating_duration_since(start);
    total.latency_us.sort_unstable();
    total.service_us.sort_unstable();
    Ok(total)
}

async fn worker(
    addr: SocketAddr,
    mut connection: Connection,
    requests: Arc<Requests>,
    next: Arc<AtomicUsize>,
    pace: Pace,
    start: Instant,
    want: u16,
) -> Run {
    let mut run = Run::default();
    tokio::time::sleep_until(start.into()).await;
    let (deadline, total, interval) = match pace {
        Pace::Closed { duration } => (start + duration, usize::MAX, 0.0),
        Pace::Open { rate, duration } => (
            start + duration,
            (rate * duration.as_secs_f64()) as usize,
            1.0 / rate.max(1e-9),
        ),
    };
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let scheduled = match pace {
            Pace::Closed { .. } => {
                if Instant::now() >= deadline {
                    break;
                }
                None
            }
            Pace::Open { .. } => {
                if i >= total {
                    break;
                }
                let at = start + Duration::from_secs_f64(interval * i as f64);
                tokio::time::sleep_until(at.into()).await;
                Some(at)
            }
        };
        let Some(request) = requests.get(i) else {
            run.exhausted = true;
            break;
        };
        let sent = Instant::now();
        match connection.exchange(request).await {
            Ok(status) if status == want => {
                let done = Instant::now();
                run.ok += 1;
                run.latency_us
                    .push(micros(done - scheduled.unwrap_or(sent)));
                run.service_us.push(micros(done - sent));
            }
            Ok(status) => *run.statuses.entry(status).or_default() += 1,
            Err(_) => {
                run.errors += 1;
                match Connection::open(addr).await {
                    Ok(fresh) => connection = fresh,
                    Err(_) => break,
                }
            }
        }
    }
    run
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}
