//! The message store EngageLab and JPush share: messages sent through
//! `POST /v{4,3}/push` (or seeded), each withdrawable once.
//!
//! Ids are sequential from a vendor-specific base, so a message is found by
//! subtraction and seeding 100,000 of them is one `Vec` extension.

use serde_json::json;

use crate::ratelimit::Window;
use crate::stats::{Counters, VendorStats};
use crate::wire::{self, Response};

/// An error answer in the push vendors' envelope `{"error":{"code","message"}}`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refusal {
    pub(crate) http: u16,
    pub(crate) code: i64,
    pub(crate) message: &'static str,
}

impl Refusal {
    pub(crate) fn reply(self) -> Response {
        wire::json(
            self.http,
            &json!({"error": {"code": self.code, "message": self.message}}),
        )
    }
}

/// Shorthand for a `Refusal`.
pub(crate) fn refusal(http: u16, code: i64, message: &'static str) -> Refusal {
    Refusal {
        http,
        code,
        message,
    }
}

/// Which push vendor a store belongs to (id base and endpoint names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    EngageLab,
    JPush,
}

/// Endpoint indexes into `Counters`, the same for both flavors.
pub(crate) const PUSH: usize = 0;
pub(crate) const VALIDATE: usize = 1;
pub(crate) const RECALL: usize = 2;

pub(crate) const ENGAGELAB_ENDPOINTS: &[&str] = &["push", "validate", "withdraw"];
pub(crate) const JPUSH_ENDPOINTS: &[&str] = &["push", "validate", "delete"];

impl Flavor {
    fn first_id(self) -> u64 {
        match self {
            // Shaped like the ids in the vendors' own samples.
            Flavor::EngageLab => 1_828_256_757,
            Flavor::JPush => 18_100_107_238_263_620,
        }
    }

    fn endpoints(self) -> &'static [&'static str] {
        match self {
            Flavor::EngageLab => ENGAGELAB_ENDPOINTS,
            Flavor::JPush => JPUSH_ENDPOINTS,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Message {
    sent_at_ms: i64,
    withdrawn: bool,
}

/// What a withdraw attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Withdraw {
    /// Withdrawn now.
    Done,
    /// No such msg_id.
    Unknown,
    /// Withdrawn before (counted as a duplicate recall).
    Repeat,
    /// Older than the window; nothing changed.
    Expired,
}

#[derive(Debug)]
pub(crate) struct Store {
    flavor: Flavor,
    /// Id of `messages[0]`.
    base: u64,
    messages: Vec<Message>,
    /// The per-AppKey rate-limit window.
    pub(crate) limiter: Window,
    pub(crate) counters: Counters,
}

impl Store {
    pub(crate) fn new(flavor: Flavor) -> Store {
        Store {
            flavor,
            base: flavor.first_id(),
            messages: Vec::new(),
            limiter: Window::default(),
            counters: Counters::new(flavor.endpoints()),
        }
    }

    /// Forgets everything; new ids continue after the old ones, so an id from
    /// before the reset is never reused for a different message.
    pub(crate) fn reset(&mut self) {
        let next = self.next_id();
        *self = Store::new(self.flavor);
        self.base = next;
    }

    fn next_id(&self) -> u64 {
        self.base + self.messages.len() as u64
    }

    /// Records a message sent at `now_ms`; returns its msg_id.
    pub(crate) fn send(&mut self, now_ms: i64) -> String {
        let id = self.next_id();
        self.messages.push(Message {
            sent_at_ms: now_ms,
            withdrawn: false,
        });
        id.to_string()
    }

    pub(crate) fn seed(&mut self, count: usize, sent_at_ms: i64) -> Vec<String> {
        let first = self.next_id();
        self.messages.extend(std::iter::repeat_n(
            Message {
                sent_at_ms,
                withdrawn: false,
            },
            count,
        ));
        (first..first + count as u64)
            .map(|id| id.to_string())
            .collect()
    }

    /// Withdraws `msg_id` unless it is unknown, already withdrawn, or older
    /// than `window_secs`; counts recalls and duplicates.
    pub(crate) fn withdraw(
        &mut self,
        msg_id: &str,
        now_ms: i64,
        window_secs: Option<u64>,
    ) -> Withdraw {
        let Some(message) = msg_id
            .parse::<u64>()
            .ok()
            .and_then(|id| id.checked_sub(self.base))
            .and_then(|index| usize::try_from(index).ok())
            .and_then(|index| self.messages.get_mut(index))
        else {
            return Withdraw::Unknown;
        };
        if message.withdrawn {
            self.counters.duplicate_recalls += 1;
            return Withdraw::Repeat;
        }
        if let Some(window) = window_secs {
            let window_ms = i64::try_from(window.saturating_mul(1000)).unwrap_or(i64::MAX);
            if now_ms.saturating_sub(message.sent_at_ms) > window_ms {
                return Withdraw::Expired;
            }
        }
        message.withdrawn = true;
        self.counters.recalled += 1;
        Withdraw::Done
    }

    pub(crate) fn stats(&self) -> VendorStats {
        self.counters.snapshot(self.messages.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn withdraw_once_then_repeat() {
        let mut store = Store::new(Flavor::EngageLab);
        let id = store.send(0);
        assert_eq!(store.withdraw(&id, 10, Some(86_400)), Withdraw::Done);
        assert_eq!(store.withdraw(&id, 20, Some(86_400)), Withdraw::Repeat);
        assert_eq!(store.counters.recalled, 1);
        assert_eq!(store.counters.duplicate_recalls, 1);
    }

    #[test]
    fn window_is_inclusive_of_its_last_millisecond() {
        let mut store = Store::new(Flavor::JPush);
        let ids = store.seed(2, 0);
        assert_eq!(store.withdraw(&ids[0], 1_000, Some(1)), Withdraw::Done);
        assert_eq!(store.withdraw(&ids[1], 1_001, Some(1)), Withdraw::Expired);
    }

    #[test]
    fn unknown_ids() {
        let mut store = Store::new(Flavor::EngageLab);
        store.seed(1, 0);
        for id in ["", "abc", "1", "99999999999999999999", "1828256758"] {
            assert_eq!(store.withdraw(id, 0, None), Withdraw::Unknown, "{id}");
        }
    }

    #[test]
    fn reset_never_reuses_ids() {
        let mut store = Store::new(Flavor::EngageLab);
        let before = store.seed(3, 0);
        store.reset();
        let after = store.send(0);
        assert!(!before.contains(&after));
        assert_eq!(store.withdraw(&before[0], 0, None), Withdraw::Unknown);
    }
}
