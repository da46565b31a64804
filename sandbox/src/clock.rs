//! The virtual clock: sandbox time is the wall clock plus an offset that only
//! grows, so a test can jump a day ahead without waiting. Every window, token
//! lifetime, rate limit and the Feishu scheduler read this clock.
//!
//! A frozen clock ignores the wall clock entirely and moves only when told to;
//! tests use it so that "21 calls within one minute" cannot straddle a window.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, read from the wall clock.
fn wall_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
        // A wall clock set before 1970: treat as the epoch rather than panic.
        Err(_) => 0,
    }
}

/// Converts a duration to whole milliseconds, saturating.
pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[derive(Debug)]
pub(crate) struct Clock {
    /// Added to the base (wall clock, or the frozen instant) on every read.
    offset_ms: AtomicI64,
    /// When set, the base is `frozen_base_ms` instead of the wall clock.
    frozen: AtomicBool,
    /// The wall-clock instant at which the clock was frozen.
    frozen_base_ms: AtomicI64,
}

impl Clock {
    pub(crate) fn new(frozen: bool) -> Clock {
        Clock {
            offset_ms: AtomicI64::new(0),
            frozen: AtomicBool::new(frozen),
            frozen_base_ms: AtomicI64::new(wall_ms()),
        }
    }

    /// Sandbox time in milliseconds since the Unix epoch.
    pub(crate) fn now_ms(&self) -> i64 {
        let base = if self.frozen.load(Ordering::Acquire) {
            self.frozen_base_ms.load(Ordering::Acquire)
        } else {
            wall_ms()
        };
        base.saturating_add(self.offset_ms.load(Ordering::Acquire))
    }

    /// How far sandbox time is ahead of its base.
    pub(crate) fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Acquire)
    }

    /// Moves sandbox time forward; it never goes back.
    pub(crate) fn advance(&self, by: Duration) {
        self.offset_ms.fetch_add(duration_ms(by), Ordering::AcqRel);
    }

    /// Freezes or unfreezes the clock without a jump in sandbox time.
    pub(crate) fn set_frozen(&self, frozen: bool) {
        if self.frozen.load(Ordering::Acquire) == frozen {
            return;
        }
        let wall = wall_ms();
        if frozen {
            self.frozen_base_ms.store(wall, Ordering::Release);
        } else {
            // Keep `now` continuous: the time spent frozen becomes offset.
            let base = self.frozen_base_ms.load(Ordering::Acquire);
            self.offset_ms.fetch_add(base - wall, Ordering::AcqRel);
        }
        self.frozen.store(frozen, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_moves_only_when_advanced() {
        let clock = Clock::new(true);
        let start = clock.now_ms();
        assert_eq!(clock.now_ms(), start);
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now_ms(), start + 90_000);
        assert_eq!(clock.offset_ms(), 90_000);
    }

    #[test]
    fn unfreezing_does_not_jump_back() {
        let clock = Clock::new(true);
        clock.advance(Duration::from_secs(3600));
        let frozen_now = clock.now_ms();
        clock.set_frozen(false);
        assert!(clock.now_ms() >= frozen_now);
        assert!(clock.now_ms() < frozen_now + 60_000);
    }

    #[test]
    fn wall_clock_follows_real_time_plus_offset() {
        let clock = Clock::new(false);
        clock.advance(Duration::from_secs(86_400));
        let expected = wall_ms() + 86_400_000;
        assert!((clock.now_ms() - expected).abs() < 5_000);
    }
}
