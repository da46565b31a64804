//! Errcode 400002 ("invalid agentId or taskId") in answer to a recall.
//!
//! `vendors.md` leaves unverified which code DingTalk gives a recall after
//! the 24 h window or a repeated recall: 400002 or a generic error. The
//! sandbox answers 400002 to both when told to (`docs/unverified-choices.md`),
//! so the plugin reads a 400002 as:
//!
//! * **already done** when the errmsg says the task was recalled (`recalled`,
//!   or `已撤回`, "already recalled"): an earlier recall worked;
//! * **expired** when the message is past the 24 h window by the host's
//!   clock, less [`CLOCK_SLACK_MS`]: the ledger's `sent_at` is when the
//!   message was tracked, a little after DingTalk sent it, so DingTalk's
//!   window closes a little before the host's;
//! * otherwise a **permanent failure**: the agent or the task id is wrong.
//!
//! A 5xx or 429 is never read this way; it is retried as usual.

use plugin_api::{InterpretInput, Outcome};
use plugin_common::{Secrets, VendorError, body_prefix};

use crate::errors;
use crate::manifest::RECALL_WINDOW_SECS;

/// The errcode of an invalid agent or task id.
pub(crate) const INVALID_ID: i64 = 400002;

/// How much earlier than the host's clock says DingTalk's window may close.
pub(crate) const CLOCK_SLACK_MS: i64 = 5 * 60_000;

/// Words of an errmsg that says the task was already recalled (lowercase).
const ALREADY_RECALLED: &[&str] = &["recalled", "已撤回"];

/// The outcome of a 400002 `error` to the recall in `input`.
pub(crate) fn outcome(error: &VendorError, input: &InterpretInput, secrets: &Secrets) -> Outcome {
    let response = &input.response;
    let transient = response.status >= 500 || response.status == 429;
    if !transient {
        let lower = error.message.to_lowercase();
        if ALREADY_RECALLED.iter().any(|word| lower.contains(word)) {
            return Outcome::AlreadyDone;
        }
        let age_ms = input
            .now_ms
            .saturating_sub(input.operation.message.sent_at_ms);
        let window_ms = RECALL_WINDOW_SECS as i64 * 1000;
        if age_ms > window_ms - CLOCK_SLACK_MS {
            return Outcome::Expired {
                message: body_prefix(&error.message, secrets),
            };
        }
    }
    errors::outcome(error, response, input.now_ms, secrets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::{Account, HttpResponse, Message, Operation, OperationKind};
    use serde_json::{Value, json};

    const DAY_MS: i64 = 86_400_000;
    /// When the message was sent, on the host's clock.
    const SENT_AT_MS: i64 = 1_700_000_000_000;

    /// The sandbox's answers (`sandbox/src/dingtalk/tasks.rs`).
    const REPEATED: &str = "invalid taskId: already recalled";
    const LATE: &str = "invalid taskId: recall window (24h) has passed";
    const UNKNOWN: &str = "invalid taskId";

    fn answer(status: u16, errmsg: &str, age_ms: i64) -> Outcome {
        let account: Account = serde_json::from_value(json!({
            "name": "dingtalk-main",
            "credentials": {"appkey": "k", "appsecret": "app-s3cret", "agent_id": 1000}
        }))
        .unwrap();
        let input = InterpretInput {
            account,
            operation: Operation {
                kind: OperationKind::Recall,
                message: Message {
                    account: "dingtalk-main".into(),
                    remote_id: "256271667526".into(),
                    sent_at_ms: SENT_AT_MS,
                    tags: vec![],
                    meta: Value::Null,
                },
                params: Value::Null,
            },
            response: HttpResponse {
                status,
                headers: vec![],
                body: json!({"errcode": 400002, "errmsg": errmsg}).to_string(),
            },
            now_ms: SENT_AT_MS + age_ms,
            attempt: None,
        };
        crate::recall::interpret(&input)
    }

    fn failed(errmsg: &str) -> Outcome {
        Outcome::Failed {
            code: "400002".into(),
            message: errmsg.into(),
            permanent: true,
        }
    }

    #[test]
    fn a_repeated_recall_refused_with_400002_is_already_done() {
        assert_eq!(answer(200, REPEATED, 60_000), Outcome::AlreadyDone);
        assert_eq!(answer(200, REPEATED, 2 * DAY_MS), Outcome::AlreadyDone);
        assert_eq!(answer(200, "任务已撤回", 60_000), Outcome::AlreadyDone);
    }

    #[test]
    fn a_recall_after_24_h_refused_with_400002_is_expired() {
        let expired = Outcome::Expired {
            message: LATE.into(),
        };
        assert_eq!(answer(200, LATE, DAY_MS + 1), expired);
        // The errmsg need not say why: the clock does.
        assert_eq!(
            answer(200, UNKNOWN, DAY_MS + 1),
            Outcome::Expired {
                message: UNKNOWN.into()
            }
        );
        // DingTalk's window may close a little before the host's.
        assert_eq!(answer(200, LATE, DAY_MS - CLOCK_SLACK_MS + 1), expired);
    }

    #[test]
    fn a_400002_inside_the_window_is_a_permanent_failure() {
        assert_eq!(answer(200, UNKNOWN, 60_000), failed(UNKNOWN));
        assert_eq!(
            answer(200, "invalid agentId", DAY_MS - CLOCK_SLACK_MS),
            failed("invalid agentId")
        );
    }

    #[test]
    fn a_400002_with_a_server_error_status_is_retried() {
        for status in [429, 500, 503] {
            for errmsg in [REPEATED, LATE] {
                let outcome = answer(status, errmsg, DAY_MS + 1);
                assert!(
                    matches!(outcome, Outcome::Retry { .. }),
                    "{status} {errmsg}: {outcome:?}"
                );
            }
        }
    }
}
