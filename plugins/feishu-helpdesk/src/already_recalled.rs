//! 154005 to a recall of a notification that is already recalled.
//!
//! By default the sandbox answers a repeated `cancel_send {"is_recall":true}`
//! with success, but its `repeat_recall: reject` switch answers the
//! wrong-state error instead: HTTP 405 `{"code":154005,"msg":"Method
//! Forbidden: notification is recalled"}` (`docs/unverified-choices.md`).
//! An earlier recall worked, so that answer is already done. Any other
//! 154005 (a recall of a draft, a cancel of a sent notification, no right to
//! push) stays a permanent failure.

use plugin_api::{InterpretInput, OperationKind};
use serde_json::Value;

/// "Method Forbidden": no right to push, or the wrong state.
const WRONG_STATE: i64 = 154005;

/// Whether `code` and the body's `msg` say that the notification this
/// recall is for was recalled before.
pub(crate) fn says_so(input: &InterpretInput, code: i64, body: &Value) -> bool {
    let status = input.response.status;
    let transient = status >= 500 || status == 429;
    let msg = body.get("msg").and_then(Value::as_str).unwrap_or_default();
    code == WRONG_STATE
        && input.operation.kind == OperationKind::Recall
        && !transient
        && msg.to_lowercase().contains("recalled")
}

#[cfg(test)]
mod tests {
    use plugin_api::{HttpResponse, InterpretInput, Message, Operation, OperationKind, Outcome};
    use serde_json::{Value, json};

    /// The sandbox's answer (`sandbox/src/feishu/ops.rs`).
    const RECALLED: &str = "Method Forbidden: notification is recalled";

    fn answer(kind: OperationKind, status: u16, msg: &str) -> Outcome {
        let input = InterpretInput {
            account: serde_json::from_value(json!({
                "name": "helpdesk",
                "credentials": {"user_access_token": "u-t", "helpdesk_id": "h",
                                "helpdesk_token": "t"}
            }))
            .unwrap(),
            operation: Operation {
                kind,
                message: Message {
                    account: "helpdesk".into(),
                    remote_id: "1".into(),
                    sent_at_ms: 0,
                    tags: vec![],
                    meta: Value::Null,
                },
                params: Value::Null,
            },
            response: HttpResponse {
                status,
                headers: vec![],
                body: json!({"code": 154005, "msg": msg}).to_string(),
            },
            now_ms: 0,
            attempt: None,
        };
        crate::answer::interpret(&input)
    }

    #[test]
    fn a_repeated_recall_refused_with_154005_is_already_done() {
        assert_eq!(
            answer(OperationKind::Recall, 405, RECALLED),
            Outcome::AlreadyDone
        );
    }

    #[test]
    fn other_wrong_states_and_operations_stay_permanent_failures() {
        for (kind, msg) in [
            (
                OperationKind::Recall,
                "Method Forbidden: notification is draft",
            ),
            (OperationKind::Recall, "Method Forbidden"),
            (OperationKind::Cancel, RECALLED),
            (OperationKind::Update, RECALLED),
        ] {
            assert_eq!(
                answer(kind, 405, msg),
                Outcome::Failed {
                    code: "154005".into(),
                    message: msg.into(),
                    permanent: true
                },
                "{kind}: {msg}"
            );
        }
    }

    #[test]
    fn a_154005_with_a_server_error_status_is_retried() {
        let outcome = answer(OperationKind::Recall, 503, RECALLED);
        assert!(matches!(outcome, Outcome::Retry { .. }), "{outcome:?}");
    }
}
