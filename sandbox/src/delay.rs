//! The injected latency, held to the microsecond rather than the millisecond.
//!
//! tokio's timer has a 1 ms tick and rounds every deadline up to the next
//! tick, and it fires only when a worker thread gets to its driver: under
//! load a 20 ms `tokio::time::sleep` held requests 21.2 ms on average. A
//! benchmark whose bound is "latency × n / concurrency" then measures the
//! sandbox's rounding as if it were the client's overhead. Here one
//! process-wide thread keeps the deadlines in order and sleeps on a condvar
//! until the earliest (a futex with a nanosecond timeout), then completes
//! every request whose deadline has come.
//!
//! [`Held`] counts what was asked and what was held, for `/_sandbox/stats`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::stats::LatencyStats;

/// Waits until `deadline`, to within the OS's timer slack (tens of µs).
pub(crate) async fn until(deadline: Instant) {
    if deadline <= Instant::now() {
        return;
    }
    let (tx, rx) = oneshot::channel();
    timer().add(deadline, tx);
    // The timer thread never drops a sender without sending.
    let _ = rx.await;
}

/// Waiting requests by deadline; the number keeps equal deadlines apart.
#[derive(Default)]
struct Deadlines {
    waiting: BTreeMap<(Instant, u64), oneshot::Sender<()>>,
    seq: u64,
}

struct Timer {
    deadlines: Mutex<Deadlines>,
    changed: Condvar,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            deadlines: Mutex::new(Deadlines::default()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("sandbox-delay".into())
            .spawn(move || timer.run())
            .expect("cannot start the sandbox's delay thread");
        timer
    })
}

impl Timer {
    fn add(&self, at: Instant, wake: oneshot::Sender<()>) {
        let mut deadlines = self
            .deadlines
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let earliest = deadlines
            .waiting
            .first_key_value()
            .is_none_or(|(&(first, _), _)| at < first);
        deadlines.seq += 1;
        let key = (at, deadlines.seq);
        deadlines.waiting.insert(key, wake);
        drop(deadlines);
        if earliest {
            self.changed.notify_one();
        }
    }

    /// Completes deadlines as they come, forever (the thread is idle, parked
    /// on the condvar, while nothing waits).
    fn run(&self) {
        let mut deadlines = self
            .deadlines
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            let now = Instant::now();
            while let Some(entry) = deadlines.waiting.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                // The request may be gone (its client hung up): nothing to do.
                let _ = entry.remove().send(());
            }
            deadlines = match deadlines.waiting.first_key_value() {
                Some((&(next, _), _)) => {
                    let wait = next.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(deadlines, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .changed
                    .wait(deadlines)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

/// What the injected latency asked and held, summed since the last reset.
#[derive(Default)]
pub(crate) struct Held {
    calls: AtomicU64,
    asked_us: AtomicU64,
    held_us: AtomicU64,
    most_late_us: AtomicU64,
}

impl Held {
    /// One request was asked to wait `asked` and waited `held`.
    pub(crate) fn record(&self, asked: Duration, held: Duration) {
        let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.asked_us.fetch_add(us(asked), Ordering::Relaxed);
        self.held_us.fetch_add(us(held), Ordering::Relaxed);
        self.most_late_us
            .fetch_max(us(held.saturating_sub(asked)), Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> LatencyStats {
        LatencyStats {
            calls: self.calls.load(Ordering::Relaxed),
            asked_us: self.asked_us.load(Ordering::Relaxed),
            held_us: self.held_us.load(Ordering::Relaxed),
            most_late_us: self.most_late_us.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn reset(&self) {
        for counter in [
            &self.calls,
            &self.asked_us,
            &self.held_us,
            &self.most_late_us,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_wait_ends_at_or_after_its_deadline_and_none_is_lost() {
        let start = Instant::now();
        // Deadlines out of order, some equal, some already past.
        let offsets_us = [7_000u64, 3_000, 3_000, 12_500, 0, 5_250, 9_999, 1_000];
        let waits = offsets_us.iter().map(|&us| {
            let at = start + Duration::from_micros(us);
            tokio::spawn(async move {
                until(at).await;
                Instant::now()
            })
        });
        let woke: Vec<Instant> = futures_util::future::join_all(waits)
            .await
            .into_iter()
            .map(|r| r.expect("wait task"))
            .collect();
        let mut late = Vec::new();
        for (&us, &at) in offsets_us.iter().zip(&woke) {
            let deadline = start + Duration::from_micros(us);
            assert!(at >= deadline, "woke {:?} early", deadline - at);
            late.push(at - deadline);
        }
        // How close they come is load-dependent and is measured by the
        // benchmarks (`/_sandbox/stats` → `latency`); here only a gross
        // error (a deadline served by a later one, a lost wake-up) fails.
        late.sort();
        let median = late[late.len() / 2];
        assert!(
            median < Duration::from_millis(5),
            "median lateness {median:?}: {late:?}"
        );
    }

    #[test]
    fn held_sums_and_resets() {
        let held = Held::default();
        held.record(Duration::from_millis(20), Duration::from_micros(20_040));
        held.record(Duration::from_millis(20), Duration::from_micros(20_300));
        let stats = held.snapshot();
        assert_eq!(
            (
                stats.calls,
                stats.asked_us,
                stats.held_us,
                stats.most_late_us
            ),
            (2, 40_000, 40_340, 300)
        );
        held.reset();
        assert_eq!(held.snapshot(), LatencyStats::default());
    }
}
