//! Fixed-window rate limiting on the virtual clock.
//!
//! A window opens at the first request after the previous one closed and lasts
//! `window_ms`; within it at most `limit` requests pass. Anchoring the window at
//! the first request (rather than at wall-clock minute boundaries) makes tests
//! deterministic, and the answer says how many seconds remain until it reopens,
//! which is what the vendors' reset headers carry.

/// The counting state for one limited (vendor, app, endpoint).
#[derive(Debug, Default, Clone)]
pub(crate) struct Window {
    /// Sandbox time at which the current window opened.
    start_ms: i64,
    /// Requests let through in the current window.
    count: u32,
}

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// No limit is configured (or limits are switched off).
    Unlimited,
    /// Let through; `remaining` more fit in this window.
    Allowed {
        limit: u32,
        remaining: u32,
        reset_secs: i64,
    },
    /// Refused; the window reopens in `reset_secs`.
    Limited { limit: u32, reset_secs: i64 },
}

impl Verdict {
    pub(crate) fn is_limited(self) -> bool {
        matches!(self, Verdict::Limited { .. })
    }
}

impl Window {
    /// Counts one request at `now_ms` against `limit` per `window_ms`.
    pub(crate) fn hit(&mut self, limit: Option<u32>, window_ms: i64, now_ms: i64) -> Verdict {
        let Some(limit) = limit else {
            return Verdict::Unlimited;
        };
        if self.count == 0 || now_ms >= self.start_ms.saturating_add(window_ms) {
            self.start_ms = now_ms;
            self.count = 0;
        }
        let left_ms = self.start_ms.saturating_add(window_ms) - now_ms;
        // Round up: "retry in 0 s" would invite a client to spin.
        let reset_secs = ((left_ms + 999) / 1000).max(1);
        if self.count >= limit {
            return Verdict::Limited { limit, reset_secs };
        }
        self.count += 1;
        Verdict::Allowed {
            limit,
            remaining: limit - self.count,
            reset_secs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lets_limit_through_then_refuses_until_the_window_closes() {
        let mut w = Window::default();
        for i in 0..3 {
            let v = w.hit(Some(3), 60_000, 1_000 + i);
            assert!(!v.is_limited(), "call {i}");
        }
        assert_eq!(
            w.hit(Some(3), 60_000, 31_000),
            Verdict::Limited {
                limit: 3,
                reset_secs: 30
            }
        );
        assert!(!w.hit(Some(3), 60_000, 61_000).is_limited());
    }

    #[test]
    fn reports_remaining_and_reset() {
        let mut w = Window::default();
        assert_eq!(
            w.hit(Some(600), 60_000, 0),
            Verdict::Allowed {
                limit: 600,
                remaining: 599,
                reset_secs: 60
            }
        );
    }

    #[test]
    fn no_limit_is_unlimited() {
        let mut w = Window::default();
        for i in 0..10_000 {
            assert_eq!(w.hit(None, 1_000, i), Verdict::Unlimited);
        }
    }

    #[test]
    fn zero_limit_refuses_everything() {
        let mut w = Window::default();
        assert!(w.hit(Some(0), 1_000, 5).is_limited());
    }
}
