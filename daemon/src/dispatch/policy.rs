//! What to do with a task, decided without IO: the recall window before a
//! call, and the next state after the vendor's answer.

use plugin_api::Outcome;
/// The longest wait a vendor (or a plugin) may ask for: one day, as the
/// first-party plugins' own hints are capped. A larger one is a vendor bug
/// or a misread header, and would hold the job open.
pub use plugin_common::MAX_WAIT_MS;

use crate::store::TaskState;

/// Retry timing. `attempt` counts from 1 (the attempt that just failed).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base_ms: u64,
    pub max_ms: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base_ms: 500,
            max_ms: 60_000,
        }
    }
}

impl Backoff {
    /// Exponential with jitter: a delay in `[d/2, d]`, `d = base·2^(attempt-1)`
    /// capped at `max`. `jitter` is uniform in `[0, 1)`.
    pub fn delay_ms(&self, attempt: u32, jitter: f64) -> u64 {
        let exp = attempt.saturating_sub(1).min(30);
        let d = self.base_ms.saturating_mul(1u64 << exp).min(self.max_ms);
        let half = d / 2;
        half + (half as f64 * jitter.clamp(0.0, 1.0)) as u64
    }
}

/// Is the message past its vendor's recall window at `now_ms`? (A window a
/// plugin gives as `u64::MAX` is "no window", not a negative one.)
pub fn past_window(window_secs: Option<u64>, sent_at_ms: i64, now_ms: i64) -> bool {
    window_secs.is_some_and(|w| {
        let window_ms = i64::try_from(w).unwrap_or(i64::MAX).saturating_mul(1000);
        now_ms.saturating_sub(sent_at_ms) > window_ms
    })
}

/// An HTTP `Retry-After` of `wait_ms` the plugin did not translate itself:
/// it sets the wait of a retry that has none, and turns a transient failure
/// into a retry after it (the vendor said when to come back).
pub fn honour_retry_after(outcome: Outcome, wait_ms: u64) -> Outcome {
    match outcome {
        Outcome::Retry {
            after_ms: None,
            code,
            message,
        }
        | Outcome::Failed {
            code,
            message,
            permanent: false,
        } => Outcome::Retry {
            after_ms: Some(wait_ms),
            code,
            message,
        },
        other => other,
    }
}

/// The task's next state after one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Terminal: done, already done, expired or failed, with the error if any.
    Finish(TaskState, Option<String>),
    /// Try again at `at_ms`; `pause_account` when the vendor asked the whole
    /// account to slow down.
    Retry {
        at_ms: i64,
        error: String,
        pause_account: bool,
    },
    /// Drop the cached token, then retry right away.
    RefreshToken { error: String },
}

/// Decides what follows `outcome` for the attempt number `attempts` (≥ 1).
pub fn after_outcome(
    outcome: &Outcome,
    attempts: u32,
    max_attempts: u32,
    now_ms: i64,
    backoff: Backoff,
    jitter: f64,
) -> Next {
    let exhausted = attempts >= max_attempts;
    let retry = |code: &str, message: &str, after_ms: Option<u64>| {
        let error = format!("{code}: {message}");
        if exhausted {
            return Next::Finish(
                TaskState::Failed,
                Some(format!("{error} (gave up after {attempts} attempts)")),
            );
        }
        let delay = after_ms.map_or_else(
            || backoff.delay_ms(attempts, jitter),
            |after| after.clamp(1, MAX_WAIT_MS),
        );
        Next::Retry {
            at_ms: now_ms.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX)),
            error,
            pause_account: after_ms.is_some(),
        }
    };
    match outcome {
        Outcome::Done => Next::Finish(TaskState::Done, None),
        Outcome::AlreadyDone => Next::Finish(TaskState::AlreadyDone, None),
        Outcome::Expired { message } => Next::Finish(
            TaskState::Expired,
            (!message.is_empty()).then(|| message.clone()),
        ),
        Outcome::Retry {
            after_ms,
            code,
            message,
        } => retry(code, message, *after_ms),
        Outcome::Failed {
            code,
            message,
            permanent: false,
        } => retry(code, message, None),
        Outcome::Failed {
            code,
            message,
            permanent: true,
        } => Next::Finish(TaskState::Failed, Some(format!("{code}: {message}"))),
        Outcome::RefreshToken { code, message } if !exhausted => Next::RefreshToken {
            error: format!("{code}: {message}"),
        },
        Outcome::RefreshToken { code, message } => Next::Finish(
            TaskState::Failed,
            Some(format!(
                "{code}: {message} (token refused after {attempts} attempts)"
            )),
        ),
    }
}

/// Replaces every secret value in `text` with `***`.
pub fn redact<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        if secret.len() >= 4 && out.contains(secret) {
            out = out.replace(secret, "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Backoff = Backoff {
        base_ms: 500,
        max_ms: 60_000,
    };

    #[test]
    fn backoff_grows_exponentially_with_bounded_jitter() {
        assert_eq!(B.delay_ms(1, 0.0), 250);
        assert_eq!(B.delay_ms(1, 0.999), 499);
        assert_eq!(B.delay_ms(3, 0.0), 1_000);
        assert_eq!(B.delay_ms(30, 1.0), 60_000);
    }

    #[test]
    fn window_is_checked_before_any_call() {
        let day = Some(86_400);
        assert!(!past_window(day, 0, 86_400_000));
        assert!(past_window(day, 0, 86_400_001));
        assert!(!past_window(None, 0, i64::MAX));
    }

    #[test]
    fn vendor_retry_after_wins_and_pauses_the_account() {
        let outcome = Outcome::Retry {
            after_ms: Some(7_000),
            code: "99991400".into(),
            message: "slow".into(),
        };
        assert_eq!(
            after_outcome(&outcome, 1, 8, 1_000, B, 0.5),
            Next::Retry {
                at_ms: 8_000,
                error: "99991400: slow".into(),
                pause_account: true
            }
        );
        let transient = Outcome::Failed {
            code: "155000".into(),
            message: "internal".into(),
            permanent: false,
        };
        assert!(matches!(
            after_outcome(&transient, 2, 8, 0, B, 0.0),
            Next::Retry {
                at_ms: 500,
                pause_account: false,
                ..
            }
        ));
    }

    #[test]
    fn a_wait_is_at_most_a_day_and_never_wraps() {
        let outcome = |after_ms| Outcome::Retry {
            after_ms: Some(after_ms),
            code: "429".into(),
            message: "slow".into(),
        };
        for after in [u64::MAX, i64::MAX as u64 + 1, 10 * MAX_WAIT_MS] {
            let Next::Retry { at_ms, .. } = after_outcome(&outcome(after), 1, 8, 1_000, B, 0.0)
            else {
                panic!("expected a retry");
            };
            assert_eq!(at_ms, 1_000 + MAX_WAIT_MS as i64, "after {after}");
        }
        assert!(!past_window(Some(u64::MAX), 0, 1_000));
        assert!(!past_window(Some(i64::MAX as u64 + 7), i64::MIN, i64::MAX));
    }

    /// The daemon reads an untranslated `Retry-After` with the plugins' own
    /// parser.
    fn retry_after_ms(value: &str, now_ms: i64) -> Option<u64> {
        let response = plugin_api::HttpResponse {
            status: 429,
            headers: vec![plugin_api::Header {
                name: "retry-after".into(),
                value: value.into(),
            }],
            body: String::new(),
        };
        plugin_common::retry_after_ms(&response, now_ms)
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        // Sun, 06 Nov 1994 08:49:37 GMT
        let date_ms = 784_111_777_000;
        assert_eq!(retry_after_ms("7", 0), Some(7_000));
        assert_eq!(retry_after_ms(" 0 ", 0), Some(0));
        assert_eq!(
            retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", date_ms - 5_000),
            Some(5_000)
        );
        assert_eq!(
            retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", date_ms + 5_000),
            Some(0)
        );
        assert_eq!(retry_after_ms("31536000", 0), Some(MAX_WAIT_MS));
        assert_eq!(retry_after_ms("-3", 0), None);
        assert_eq!(retry_after_ms("soon", 0), None);
    }

    #[test]
    fn an_untranslated_retry_after_sets_the_wait_of_retries_and_transient_failures() {
        let retry = |after_ms| Outcome::Retry {
            after_ms,
            code: "503".into(),
            message: "busy".into(),
        };
        assert_eq!(honour_retry_after(retry(None), 7_000), retry(Some(7_000)));
        // The plugin's own wait wins.
        assert_eq!(honour_retry_after(retry(Some(1)), 7_000), retry(Some(1)));
        let failed = |permanent| Outcome::Failed {
            code: "503".into(),
            message: "busy".into(),
            permanent,
        };
        assert_eq!(honour_retry_after(failed(false), 7_000), retry(Some(7_000)));
        assert_eq!(honour_retry_after(failed(true), 7_000), failed(true));
        assert_eq!(honour_retry_after(Outcome::Done, 7_000), Outcome::Done);
    }

    #[test]
    fn attempts_run_out_into_a_failure_that_says_so() {
        let outcome = Outcome::Retry {
            after_ms: None,
            code: "500".into(),
            message: "busy".into(),
        };
        let Next::Finish(TaskState::Failed, Some(error)) = after_outcome(&outcome, 8, 8, 0, B, 0.0)
        else {
            panic!("expected a failure");
        };
        assert!(error.contains("gave up after 8 attempts"), "{error}");
    }

    #[test]
    fn terminal_outcomes_and_token_refresh() {
        assert_eq!(
            after_outcome(&Outcome::AlreadyDone, 1, 8, 0, B, 0.0),
            Next::Finish(TaskState::AlreadyDone, None)
        );
        let permanent = Outcome::Failed {
            code: "21003".into(),
            message: "not found".into(),
            permanent: true,
        };
        assert_eq!(
            after_outcome(&permanent, 1, 8, 0, B, 0.0),
            Next::Finish(TaskState::Failed, Some("21003: not found".into()))
        );
        let refresh = Outcome::RefreshToken {
            code: "42001".into(),
            message: "expired".into(),
        };
        assert!(matches!(
            after_outcome(&refresh, 1, 8, 0, B, 0.0),
            Next::RefreshToken { .. }
        ));
    }

    #[test]
    fn redaction_hides_every_secret() {
        assert_eq!(
            redact("token=abcd1234&x=ding-secret", ["abcd1234", "ding-secret"]),
            "token=***&x=***"
        );
    }
}
