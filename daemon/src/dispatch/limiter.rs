//! Per-account rate limits.
//!
//! A sliding-window log: a call is allowed when fewer than `requests` calls
//! were made in the last `per`. Unlike a token bucket, which can let through
//! up to twice its rate across a window boundary, this never exceeds the
//! vendor's limit in any window. Bursts up to the limit are still allowed.
//! Large limits are scaled down (`n` per `per` → `n/k` per `per/k`), which
//! keeps the guarantee (any window of `per` is covered by `k` windows of
//! `per/k`) and bounds memory.
//!
//! Each window is widened by a small margin (2%, at least 10 ms) so that the
//! jitter between admitting a call and its arrival at the vendor cannot push
//! the vendor's own count over the limit.
//!
//! Pure: time is passed in as milliseconds on a monotonic scale.

use std::collections::VecDeque;

use plugin_api::{OperationKind, RateLimit};

/// Timestamps kept per window at most.
const MAX_LOG: u32 = 4_096;

#[derive(Debug, Clone)]
pub struct Window {
    scope: String,
    capacity: usize,
    per_ms: u64,
    log: VecDeque<u64>,
}

impl Window {
    pub fn new(limit: &RateLimit) -> Window {
        let mut requests = u64::from(limit.requests.max(1));
        // The safety margin is taken on the whole window, before scaling.
        let per = limit.per_ms.max(1);
        let mut per_ms = per.saturating_add((per / 50).max(10));
        if requests > u64::from(MAX_LOG) {
            let k = requests.div_ceil(u64::from(MAX_LOG));
            // Fewer calls per window and a longer window: both only tighten.
            requests /= k;
            per_ms = per_ms.div_ceil(k);
        }
        Window {
            scope: limit.scope.clone(),
            capacity: requests as usize,
            per_ms,
            log: VecDeque::with_capacity(requests as usize),
        }
    }

    /// Milliseconds to wait before a call is allowed (0 = now).
    fn wait(&mut self, now_ms: u64) -> u64 {
        while self
            .log
            .front()
            .is_some_and(|&t| t.saturating_add(self.per_ms) <= now_ms)
        {
            self.log.pop_front();
        }
        if self.log.len() < self.capacity {
            0
        } else {
            // Invariant: the log is full, so it has a front.
            self.log
                .front()
                .map_or(0, |&t| t.saturating_add(self.per_ms) - now_ms)
        }
    }
}

/// Every limit that applies to one account, plus a pause set by the
/// vendor's own "slow down" answers.
#[derive(Debug, Clone)]
pub struct Limiter {
    windows: Vec<Window>,
    paused_until_ms: u64,
}

impl Limiter {
    pub fn new(limits: &[RateLimit]) -> Limiter {
        Limiter {
            windows: limits.iter().map(Window::new).collect(),
            paused_until_ms: 0,
        }
    }

    /// Takes a slot for `kind` at `now_ms`, or says how long to wait first.
    pub fn try_acquire(&mut self, kind: OperationKind, now_ms: u64) -> Result<(), u64> {
        if now_ms < self.paused_until_ms {
            return Err(self.paused_until_ms - now_ms);
        }
        let applies = |w: &Window| w.scope == "*" || w.scope == kind.as_str();
        let wait = self
            .windows
            .iter_mut()
            .filter(|w| applies(w))
            .map(|w| w.wait(now_ms))
            .max()
            .unwrap_or(0);
        if wait > 0 {
            return Err(wait);
        }
        for window in self.windows.iter_mut().filter(|w| applies(w)) {
            window.log.push_back(now_ms);
        }
        Ok(())
    }

    /// The vendor said "slow down": no call before `until_ms`.
    pub fn pause_until(&mut self, until_ms: u64) {
        self.paused_until_ms = self.paused_until_ms.max(until_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(scope: &str, requests: u32, per_ms: u64) -> RateLimit {
        RateLimit {
            scope: scope.into(),
            requests,
            per_ms,
        }
    }

    /// Drives the limiter greedily for `duration` ms and returns call times.
    fn drive(limiter: &mut Limiter, kind: OperationKind, duration: u64) -> Vec<u64> {
        let mut now = 0;
        let mut calls = Vec::new();
        while now < duration {
            match limiter.try_acquire(kind, now) {
                Ok(()) => calls.push(now),
                Err(wait) => now += wait,
            }
        }
        calls
    }

    /// The most calls in any half-open window `[t, t + per)`; `calls` is sorted.
    fn max_in_any_window(calls: &[u64], per: u64) -> usize {
        let mut end = 0;
        let mut most = 0;
        for (start, &t) in calls.iter().enumerate() {
            while end < calls.len() && calls[end] < t + per {
                end += 1;
            }
            most = most.max(end - start);
        }
        most
    }

    #[test]
    fn a_window_of_any_length_holds_its_calls() {
        let mut limiter = Limiter::new(&[limit("*", 1, u64::MAX)]);
        assert_eq!(limiter.try_acquire(OperationKind::Recall, 5), Ok(()));
        assert!(limiter.try_acquire(OperationKind::Recall, 6).is_err());
    }

    #[test]
    fn never_exceeds_the_limit_in_any_window_and_keeps_the_rate() {
        let mut limiter = Limiter::new(&[limit("*", 40, 1_000)]);
        let calls = drive(&mut limiter, OperationKind::Recall, 10_000);
        assert_eq!(max_in_any_window(&calls, 1_000), 40);
        // 40 per 1.02 s: within 2% of the limit, never above it.
        assert!((392..=400).contains(&calls.len()), "{}", calls.len());
    }

    #[test]
    fn large_limits_are_scaled_without_exceeding() {
        let mut limiter = Limiter::new(&[limit("*", 100_000, 1_000)]);
        let calls = drive(&mut limiter, OperationKind::Recall, 2_000);
        assert!(max_in_any_window(&calls, 1_000) <= 100_000);
        assert!(calls.len() >= 190_000, "{}", calls.len());
    }

    #[test]
    fn scoped_limits_apply_only_to_their_operation() {
        let mut limiter = Limiter::new(&[limit("update", 20, 60_000)]);
        assert_eq!(drive(&mut limiter, OperationKind::Update, 60_000).len(), 20);
        assert_eq!(limiter.try_acquire(OperationKind::Recall, 0), Ok(()));
    }

    #[test]
    fn a_pause_holds_every_call() {
        let mut limiter = Limiter::new(&[]);
        limiter.pause_until(5_000);
        assert_eq!(
            limiter.try_acquire(OperationKind::Recall, 1_000),
            Err(4_000)
        );
        assert_eq!(limiter.try_acquire(OperationKind::Recall, 5_000), Ok(()));
    }
}
