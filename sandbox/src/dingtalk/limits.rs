//! DingTalk's recipient rules for `asyncsend_v2`: at most N messages a user
//! a day, the same content to the same user once a day, and at most 5000
//! recipients a minute. As documented, going over them still succeeds: those
//! users are dropped and listed in `forbidden_user_id_list` (and, for the
//! per-user rules, in `forbidden_list[{code,count,userid}]`;
//! `dingtalk.user_limits.answer: "reject"` refuses the send instead).
//!
//! The day is the calendar day in China time (UTC+8) on the sandbox clock;
//! the minute is a fixed window opened by the first send after the previous
//! one closed, as in `ratelimit`. Only `userid_list` recipients are counted
//! (the sandbox knows no members of departments or of the whole company).

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::config::DingTalkUserLimits;

const DAY_MS: i64 = 86_400_000;
const MINUTE_MS: i64 = 60_000;
/// China Standard Time, where DingTalk's day turns.
const UTC_OFFSET_MS: i64 = 8 * 3_600_000;

/// A user a send does not reach, and why: the limit's code and threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dropped {
    pub(crate) userid: String,
    pub(crate) code: i64,
    pub(crate) count: u32,
}

/// Today's deliveries.
#[derive(Debug, Default)]
pub(crate) struct Daily {
    /// Day number (UTC+8) the counts below belong to.
    day: i64,
    /// Messages each user received today.
    received: HashMap<String, u32>,
    /// (user, hash of the `msg`) pairs delivered today.
    seen: HashSet<(String, u64)>,
}

fn content_key(content: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    content.hash(&mut hasher);
    hasher.finish()
}

impl Daily {
    /// Forgets yesterday when the day has turned.
    fn roll(&mut self, now_ms: i64) {
        let day = now_ms.saturating_add(UTC_OFFSET_MS).div_euclid(DAY_MS);
        if day != self.day {
            self.day = day;
            self.received.clear();
            self.seen.clear();
        }
    }

    /// Which of `users` a send of `content` would not reach, in order, the
    /// same user twice in one list included. Changes nothing but the day.
    pub(crate) fn check(
        &mut self,
        users: &[String],
        content: &str,
        limits: &DingTalkUserLimits,
        now_ms: i64,
    ) -> Vec<Option<Dropped>> {
        self.roll(now_ms);
        let key = content_key(content);
        // Deliveries earlier in this same list.
        let mut planned: HashMap<&str, u32> = HashMap::new();
        users
            .iter()
            .map(|user| {
                let earlier = planned.get(user.as_str()).copied().unwrap_or(0);
                let duplicate = limits.duplicate_content
                    && (earlier > 0 || self.seen.contains(&(user.clone(), key)));
                let received = self.received.get(user).copied().unwrap_or(0) + earlier;
                let over_cap = limits
                    .messages_per_user_per_day
                    .filter(|cap| received >= *cap);
                let dropped = if duplicate {
                    Some((limits.duplicate_errcode, 1))
                } else {
                    over_cap.map(|cap| (limits.daily_cap_errcode, cap))
                };
                match dropped {
                    Some((code, count)) => Some(Dropped {
                        userid: user.clone(),
                        code,
                        count,
                    }),
                    None => {
                        *planned.entry(user.as_str()).or_insert(0) += 1;
                        None
                    }
                }
            })
            .collect()
    }

    /// Records that `delivered` received `content` today.
    pub(crate) fn record(&mut self, delivered: &[String], content: &str) {
        let key = content_key(content);
        for user in delivered {
            *self.received.entry(user.clone()).or_insert(0) += 1;
            self.seen.insert((user.clone(), key));
        }
    }
}

/// Recipients reached in the current minute, over all sends.
#[derive(Debug, Default)]
pub(crate) struct PerMinute {
    /// Sandbox time at which the current minute opened.
    start_ms: i64,
    /// Recipients reached since.
    count: u32,
}

impl PerMinute {
    /// How many of `wanted` more recipients may be reached at `now_ms`
    /// under `cap` a minute (`None`: all of them); counts those.
    pub(crate) fn admit(&mut self, wanted: usize, cap: Option<u32>, now_ms: i64) -> usize {
        let Some(cap) = cap else {
            return wanted;
        };
        if self.count == 0 || now_ms >= self.start_ms.saturating_add(MINUTE_MS) {
            self.start_ms = now_ms;
            self.count = 0;
        }
        let room = usize::try_from(cap.saturating_sub(self.count)).unwrap_or(usize::MAX);
        let admitted = wanted.min(room);
        // `admitted` is at most `room`, itself at most `cap`: it fits a u32.
        self.count += u32::try_from(admitted).unwrap_or(cap);
        admitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(list: &[&str]) -> Vec<String> {
        list.iter().map(|u| (*u).to_owned()).collect()
    }

    fn codes(verdicts: &[Option<Dropped>]) -> Vec<Option<i64>> {
        verdicts
            .iter()
            .map(|v| v.as_ref().map(|d| d.code))
            .collect()
    }

    #[test]
    fn same_content_reaches_a_user_once_a_day() {
        let mut daily = Daily::default();
        let limits = DingTalkUserLimits::default();
        let list = users(&["u1", "u2", "u1"]);
        let first = daily.check(&list, "hello", &limits, 0);
        assert_eq!(codes(&first), [None, None, Some(143106)]);
        daily.record(&users(&["u1", "u2"]), "hello");
        let again = daily.check(&users(&["u1", "u3"]), "hello", &limits, 1_000);
        assert_eq!(codes(&again), [Some(143106), None]);
        let other = daily.check(&users(&["u1"]), "other", &limits, 1_000);
        assert_eq!(codes(&other), [None]);
    }

    #[test]
    fn the_daily_cap_counts_deliveries_and_resets_at_midnight_china_time() {
        let mut daily = Daily::default();
        let limits = DingTalkUserLimits {
            messages_per_user_per_day: Some(2),
            ..DingTalkUserLimits::default()
        };
        // 2024-01-01 15:00 UTC is 23:00 in China.
        let evening = 1_704_121_200_000;
        for content in ["a", "b"] {
            assert_eq!(
                codes(&daily.check(&users(&["u1"]), content, &limits, evening)),
                [None]
            );
            daily.record(&users(&["u1"]), content);
        }
        let third = daily.check(&users(&["u1"]), "c", &limits, evening);
        assert_eq!(
            third,
            [Some(Dropped {
                userid: "u1".into(),
                code: 143105,
                count: 2
            })]
        );
        // An hour later it is the next day in China (still the same UTC day).
        let after_midnight = evening + 3_600_000;
        assert_eq!(
            codes(&daily.check(&users(&["u1"]), "a", &limits, after_midnight)),
            [None]
        );
    }

    #[test]
    fn the_minute_admits_up_to_the_cap_over_all_sends_then_reopens() {
        let mut minute = PerMinute::default();
        assert_eq!(minute.admit(3, Some(5), 1_000), 3);
        assert_eq!(minute.admit(3, Some(5), 30_000), 2);
        assert_eq!(minute.admit(1, Some(5), 60_999), 0);
        // The minute opened at 1 000 ms closes at 61 000 ms.
        assert_eq!(minute.admit(7, Some(5), 61_000), 5);
        assert_eq!(minute.admit(usize::MAX, None, 61_000), usize::MAX);
    }

    #[test]
    fn switched_off_limits_drop_nobody() {
        let mut daily = Daily::default();
        let limits = DingTalkUserLimits {
            messages_per_user_per_day: None,
            duplicate_content: false,
            ..DingTalkUserLimits::default()
        };
        daily.record(&users(&["u1"]), "x");
        let verdicts = daily.check(&users(&["u1", "u1"]), "x", &limits, 0);
        assert_eq!(codes(&verdicts), [None, None]);
    }
}
