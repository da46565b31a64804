//! The answers of the vendors that recall with `DELETE …/{msg_id}`, HTTP Basic
//! auth and the `{"error": {"code", "message"}}` envelope: EngageLab v4 and
//! its predecessor JPush v3.

use plugin_api::{HttpResponse, Outcome};
use serde_json::Value;

use crate::{
    ErrorTable, Secrets, VendorError, body_prefix, error_envelope, unexpected, wait_hint_ms,
};

/// How one vendor of this family answers a withdraw.
#[derive(Debug, Clone, Copy)]
pub struct WithdrawAnswers {
    /// The "invalid parameter value" code (EngageLab 21003, JPush 1003),
    /// whose message says whether the msg_id was already withdrawn, has
    /// expired or does not exist (see `docs/unverified-choices.md`).
    pub invalid_id_code: i64,
    /// Every other documented code.
    pub errors: ErrorTable,
    /// Vendor headers holding seconds to wait, read before `Retry-After`.
    pub wait_headers: &'static [&'static str],
    /// Whether a 2xx answer must carry `msg_id` to count as done.
    pub success_needs_msg_id: bool,
}

impl WithdrawAnswers {
    /// The outcome of one withdraw answer. An error envelope is read whatever
    /// the status (but a 5xx or 429 is never read as a success or a permanent
    /// failure); otherwise a 2xx (with `msg_id` if required) is done, and
    /// anything else is [`unexpected`].
    pub fn interpret(&self, response: &HttpResponse, now_ms: i64, secrets: &Secrets) -> Outcome {
        let json = response.json();
        if let Some(error) = json.as_ref().and_then(error_envelope) {
            let transient = response.status >= 500 || response.status == 429;
            if error.code == self.invalid_id_code && !transient {
                return refused_id(&error, secrets);
            }
            let hint = wait_hint_ms(response, now_ms, self.wait_headers);
            return self.errors.outcome(&error, response.status, hint, secrets);
        }
        let has_msg_id = json
            .as_ref()
            .and_then(|body| body.get("msg_id"))
            .is_some_and(|id| matches!(id, Value::String(_) | Value::Number(_)));
        if (200..300).contains(&response.status) && (has_msg_id || !self.success_needs_msg_id) {
            Outcome::Done
        } else {
            unexpected(response, now_ms, secrets)
        }
    }
}

/// The "invalid msg_id" error, told apart by its message: `withdrawn` means
/// an earlier recall worked, `expired` means the window has passed, anything
/// else is a permanent failure (`not found: …` when the id does not exist).
fn refused_id(error: &VendorError, secrets: &Secrets) -> Outcome {
    let lower = error.message.to_lowercase();
    let message = body_prefix(&error.message, secrets);
    if lower.contains("withdrawn") {
        Outcome::AlreadyDone
    } else if lower.contains("expired") {
        Outcome::Expired { message }
    } else {
        let not_found = lower.contains("not exist") || lower.contains("not found");
        Outcome::Failed {
            code: error.code.to_string(),
            message: if not_found {
                format!("not found: {message}")
            } else {
                message
            },
            permanent: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::Header;

    const ANSWERS: WithdrawAnswers = WithdrawAnswers {
        invalid_id_code: 3,
        errors: ErrorTable {
            retry: &[1, 4],
            refresh_token: &[],
            permanent: &[2],
            rate_limits: &[(4, 1_000)],
        },
        wait_headers: &["X-Reset"],
        success_needs_msg_id: true,
    };

    fn answer(status: u16, body: &str) -> Outcome {
        let response = HttpResponse {
            status,
            headers: vec![Header::new("X-Reset", "2")],
            body: body.to_owned(),
        };
        ANSWERS.interpret(&response, 0, &Secrets::default())
    }

    fn error(code: i64, message: &str) -> String {
        serde_json::json!({"error": {"code": code, "message": message}}).to_string()
    }

    #[test]
    fn success_needs_msg_id_when_asked() {
        assert_eq!(
            answer(200, r#"{"request_id":"","msg_id":"18"}"#),
            Outcome::Done
        );
        assert_eq!(answer(200, r#"{"msg_id":18}"#), Outcome::Done);
        assert!(matches!(
            answer(200, "{}"),
            Outcome::Failed {
                permanent: true,
                ..
            }
        ));
        let lenient = WithdrawAnswers {
            success_needs_msg_id: false,
            ..ANSWERS
        };
        let empty = HttpResponse {
            status: 204,
            headers: vec![],
            body: String::new(),
        };
        assert_eq!(
            lenient.interpret(&empty, 0, &Secrets::default()),
            Outcome::Done
        );
    }

    #[test]
    fn invalid_id_is_read_from_the_message() {
        assert_eq!(
            answer(400, &error(3, "msg_id has been Withdrawn")),
            Outcome::AlreadyDone
        );
        assert_eq!(
            answer(400, &error(3, "msg_id has expired")),
            Outcome::Expired {
                message: "msg_id has expired".into()
            }
        );
        assert_eq!(
            answer(400, &error(3, "msg_id not exist")),
            Outcome::Failed {
                code: "3".into(),
                message: "not found: msg_id not exist".into(),
                permanent: true
            }
        );
        assert_eq!(
            answer(400, &error(3, "bad value")),
            Outcome::Failed {
                code: "3".into(),
                message: "bad value".into(),
                permanent: true
            }
        );
    }

    #[test]
    fn other_codes_use_the_table_and_the_wait_header() {
        assert_eq!(
            answer(400, &error(1, "slow down")),
            Outcome::Retry {
                after_ms: Some(2_000),
                code: "1".into(),
                message: "slow down".into()
            }
        );
        let no_hint = HttpResponse {
            status: 400,
            headers: vec![],
            body: error(4, "rate limited"),
        };
        assert_eq!(
            ANSWERS.interpret(&no_hint, 0, &Secrets::default()),
            Outcome::Retry {
                after_ms: Some(1_000),
                code: "4".into(),
                message: "rate limited".into()
            },
            "a rate-limit code without a hint waits its default"
        );
        assert!(matches!(
            answer(400, &error(4, "rate limited")),
            Outcome::Retry {
                after_ms: Some(2_000),
                ..
            }
        ));
        assert!(matches!(
            answer(400, &error(2, "x")),
            Outcome::Failed {
                permanent: true,
                ..
            }
        ));
        assert!(matches!(
            answer(503, &error(99, "x")),
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            answer(200, &error(99, "x")),
            Outcome::Failed {
                permanent: true,
                ..
            }
        ));
        let withdrawn = error(3, "msg_id has been withdrawn");
        assert!(matches!(answer(503, &withdrawn), Outcome::Retry { .. }));
        let missing = error(3, "msg_id not exist");
        assert!(matches!(answer(429, &missing), Outcome::Retry { .. }));
    }

    #[test]
    fn unreadable_answers_fall_back_to_the_status() {
        assert!(matches!(answer(502, "<html>"), Outcome::Retry { .. }));
        assert!(matches!(
            answer(404, "<html>"),
            Outcome::Failed {
                permanent: true,
                ..
            }
        ));
    }
}
