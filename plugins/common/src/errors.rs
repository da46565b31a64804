//! Vendor error codes and what each means for the host.

use plugin_api::Outcome;
use serde_json::Value;

use crate::{Secrets, body_prefix};

/// What the host should do about a vendor error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Transient: try again later.
    Retry,
    /// The token was refused: get a new one, then try again.
    RefreshToken,
    /// Trying again cannot help.
    Permanent,
}

/// A vendor's documented error codes, by class (from `vendors.md`).
#[derive(Debug, Clone, Copy)]
pub struct ErrorTable {
    pub retry: &'static [i64],
    pub refresh_token: &'static [i64],
    pub permanent: &'static [i64],
    /// The retry codes that mean "over a rate limit", each with how long to
    /// wait (ms) when the answer carries no wait hint: the limit's window.
    /// The host pauses the whole account only for a retry that says how long
    /// to wait, so a rate-limit code must always say it.
    pub rate_limits: &'static [(i64, u64)],
}

impl ErrorTable {
    /// The class of a documented code; `None` for a code the table lacks.
    pub fn class(&self, code: i64) -> Option<Class> {
        self.codes()
            .find(|(c, _)| *c == code)
            .map(|(_, class)| class)
    }

    /// How long to wait after the rate-limit `code` when the vendor gave no
    /// hint; `None` for a code that is not a rate limit.
    pub fn default_wait_ms(&self, code: i64) -> Option<u64> {
        self.rate_limits
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, wait)| *wait)
    }

    /// [`vendor_outcome`] for `error` as this table classifies it. A retry
    /// waits for `hint` (read from the answer's headers), else for the
    /// code's [default wait](ErrorTable::default_wait_ms).
    pub fn outcome(
        &self,
        error: &VendorError,
        status: u16,
        hint: Option<u64>,
        secrets: &Secrets,
    ) -> Outcome {
        let after_ms = hint.or_else(|| self.default_wait_ms(error.code));
        vendor_outcome(self.class(error.code), error, status, after_ms, secrets)
    }

    /// Every documented code with its class.
    pub fn codes(&self) -> impl Iterator<Item = (i64, Class)> + '_ {
        let with = |codes: &'static [i64], class| codes.iter().map(move |c| (*c, class));
        with(self.retry, Class::Retry)
            .chain(with(self.refresh_token, Class::RefreshToken))
            .chain(with(self.permanent, Class::Permanent))
    }
}

/// A vendor's error code and message, as the vendor sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorError {
    pub code: i64,
    pub message: String,
}

/// A JSON code: an integer, or a string of one (`"21003"`).
pub fn json_code(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The `{"error": {"code": .., "message": ".."}}` envelope of EngageLab and
/// JPush. `None` when the body has no such object with a readable code.
pub fn error_envelope(body: &Value) -> Option<VendorError> {
    let error = body.get("error")?;
    let code = json_code(error.get("code")?)?;
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Some(VendorError { code, message })
}

/// The outcome for a vendor error of the given class (`None`: not in the
/// vendor's table). An unknown code is retried when the HTTP status is 5xx or
/// 429 and is otherwise a permanent failure. Where the status contradicts the
/// table, the status wins: 429 is always a retry, and a 5xx is never a
/// permanent failure. The outcome's code is the vendor's code; its message is
/// the vendor's, scrubbed and shortened.
pub fn vendor_outcome(
    class: Option<Class>,
    error: &VendorError,
    status: u16,
    after_ms: Option<u64>,
    secrets: &Secrets,
) -> Outcome {
    let code = error.code.to_string();
    let message = if error.message.trim().is_empty() {
        format!("vendor error {code} (HTTP {status}, no message)")
    } else {
        body_prefix(&error.message, secrets)
    };
    let class = match (class, status) {
        (_, 429) | (None | Some(Class::Permanent), 500..) => Class::Retry,
        (Some(class), _) => class,
        (None, _) => Class::Permanent,
    };
    match class {
        Class::Retry => Outcome::Retry {
            after_ms,
            code,
            message,
        },
        Class::RefreshToken => Outcome::RefreshToken { code, message },
        Class::Permanent => Outcome::Failed {
            code,
            message,
            permanent: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TABLE: ErrorTable = ErrorTable {
        retry: &[1, 2],
        refresh_token: &[3],
        permanent: &[4],
        rate_limits: &[(2, 60_000)],
    };

    #[test]
    fn table_classifies_documented_codes_only() {
        assert_eq!(TABLE.class(2), Some(Class::Retry));
        assert_eq!(TABLE.class(3), Some(Class::RefreshToken));
        assert_eq!(TABLE.class(4), Some(Class::Permanent));
        assert_eq!(TABLE.class(5), None);
        assert_eq!(TABLE.codes().count(), 4);
    }

    #[test]
    fn rate_limit_codes_wait_their_window_unless_told_otherwise() {
        let none = Secrets::default();
        let error = |code| VendorError {
            code,
            message: "slow down".into(),
        };
        let waits = |outcome| match outcome {
            Outcome::Retry { after_ms, .. } => after_ms,
            other => panic!("expected a retry, got {other:?}"),
        };
        assert_eq!(TABLE.default_wait_ms(2), Some(60_000));
        assert_eq!(TABLE.default_wait_ms(1), None);
        assert_eq!(
            waits(TABLE.outcome(&error(2), 400, None, &none)),
            Some(60_000)
        );
        assert_eq!(
            waits(TABLE.outcome(&error(2), 400, Some(3_000), &none)),
            Some(3_000),
            "the vendor's hint wins"
        );
        assert_eq!(waits(TABLE.outcome(&error(1), 400, None, &none)), None);
        assert!(matches!(
            TABLE.outcome(&error(4), 400, None, &none),
            Outcome::Failed {
                permanent: true,
                ..
            }
        ));
    }

    #[test]
    fn envelope_reads_numeric_or_string_codes() {
        let body = json!({"error": {"code": 21003, "message": "msg_id not exist"}});
        assert_eq!(
            error_envelope(&body),
            Some(VendorError {
                code: 21003,
                message: "msg_id not exist".into()
            })
        );
        let body = json!({"error": {"code": "1003"}});
        assert_eq!(
            error_envelope(&body),
            Some(VendorError {
                code: 1003,
                message: String::new()
            })
        );
        for bad in [
            json!({}),
            json!({"error": "x"}),
            json!({"error": {"code": "x"}}),
            json!([1]),
        ] {
            assert_eq!(error_envelope(&bad), None, "{bad}");
        }
    }

    #[test]
    fn outcome_follows_the_class_then_the_status() {
        let error = VendorError {
            code: 7,
            message: "nope".into(),
        };
        let none = Secrets::default();
        let retry = Outcome::Retry {
            after_ms: Some(5),
            code: "7".into(),
            message: "nope".into(),
        };
        assert_eq!(
            vendor_outcome(Some(Class::Retry), &error, 400, Some(5), &none),
            retry
        );
        assert_eq!(vendor_outcome(None, &error, 503, Some(5), &none), retry);
        assert_eq!(vendor_outcome(None, &error, 429, Some(5), &none), retry);
        assert_eq!(
            vendor_outcome(Some(Class::RefreshToken), &error, 401, None, &none),
            Outcome::RefreshToken {
                code: "7".into(),
                message: "nope".into()
            }
        );
        let failed = Outcome::Failed {
            code: "7".into(),
            message: "nope".into(),
            permanent: true,
        };
        assert_eq!(
            vendor_outcome(Some(Class::Permanent), &error, 400, None, &none),
            failed
        );
        assert_eq!(vendor_outcome(None, &error, 400, None, &none), failed);
    }

    #[test]
    fn status_wins_where_it_contradicts_the_table() {
        let error = VendorError {
            code: 7,
            message: "nope".into(),
        };
        let none = Secrets::default();
        for class in [Some(Class::Permanent), Some(Class::RefreshToken), None] {
            let outcome = vendor_outcome(class, &error, 429, None, &none);
            assert!(
                matches!(outcome, Outcome::Retry { .. }),
                "{class:?}: {outcome:?}"
            );
        }
        let outcome = vendor_outcome(Some(Class::Permanent), &error, 500, None, &none);
        assert!(matches!(outcome, Outcome::Retry { .. }), "{outcome:?}");
        let outcome = vendor_outcome(Some(Class::RefreshToken), &error, 503, None, &none);
        assert!(
            matches!(outcome, Outcome::RefreshToken { .. }),
            "{outcome:?}"
        );
    }

    #[test]
    fn outcome_message_is_scrubbed_or_described_when_empty() {
        let secrets = Secrets::default().with("s3cret".into());
        let leaky = VendorError {
            code: 1,
            message: "bad secret s3cret".into(),
        };
        let Outcome::Failed { message, .. } = vendor_outcome(None, &leaky, 400, None, &secrets)
        else {
            panic!("expected a failure");
        };
        assert_eq!(message, "bad secret [redacted]");
        let silent = VendorError {
            code: 1,
            message: " ".into(),
        };
        let Outcome::Failed { message, .. } = vendor_outcome(None, &silent, 400, None, &secrets)
        else {
            panic!("expected a failure");
        };
        assert_eq!(message, "vendor error 1 (HTTP 400, no message)");
    }
}
