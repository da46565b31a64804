//! Reading Feishu's `{"code", "msg", "data"}` answers.

use plugin_api::{HttpResponse, InterpretInput, Outcome};
use plugin_common::{
    ErrorTable, Secrets, VendorError, base64_pair, json_code, unexpected_after, wait_hint_ms,
};
use serde_json::Value;

use crate::already_recalled;
use crate::manifest::SECRET_KEYS;

/// The helpdesk codes and the generic platform codes (`vendors.md` §1).
pub(crate) const ERRORS: ErrorTable = ErrorTable {
    retry: &[
        155000,   // helpdesk internal error
        99991400, // rate limit
    ],
    // The user token is invalid or expired. The plugin has no token exchange,
    // so the host cannot cure this by itself: the configured token must be
    // replaced.
    refresh_token: &[99991663, 99991668, 99991677],
    permanent: &[
        154000, // bad body or parameters
        154001, // bad Authorization or helpdesk header, or another tenant
        154003, // missing scope
        154004, // not found
        154005, // "Method Forbidden": no right, or the wrong state
        99991661, 99991671, // no Authorization header, bad token format
        99991672, 99991676, 99991679, // scope missing (app, token, user)
        99991543, 10014, // bad app credentials
        99991662, 99991673, // app disabled, app unavailable
    ],
    // The documented limits are per minute; `x-ogw-ratelimit-reset` says how
    // long is left, and without it the whole minute is waited.
    rate_limits: &[(99991400, 60_000)],
};

/// The "not found" code.
const NOT_FOUND: i64 = 154004;

/// Seconds until the rate limit resets, sent with 99991400 and HTTP 429.
const RATE_LIMIT_RESET: &str = "x-ogw-ratelimit-reset";

/// `code` 0 with a 2xx is done, for every operation (a repeated recall
/// answers 0 as well, unless the vendor refuses it: [`already_recalled`]).
/// Any other code is classified by [`ERRORS`]; an answer without a code
/// falls back to its HTTP status.
pub(crate) fn interpret(input: &InterpretInput) -> Outcome {
    let response = &input.response;
    let secrets = secrets(input);
    let after_ms = wait_hint_ms(response, input.now_ms, &[RATE_LIMIT_RESET]);
    let body = response.json().unwrap_or(Value::Null);
    let code = body.get("code").and_then(json_code);
    match code {
        Some(0) if (200..300).contains(&response.status) => Outcome::Done,
        Some(code) if already_recalled::says_so(input, code, &body) => Outcome::AlreadyDone,
        Some(code) if code != 0 => {
            let mut message = message(&body, response);
            if code == NOT_FOUND {
                message = format!("not found: {message}");
            }
            let error = VendorError { code, message };
            ERRORS.outcome(&error, response.status, after_ms, &secrets)
        }
        _ => unexpected_after(response, after_ms, &secrets),
    }
}

/// The vendor's `msg`, with the log id (body `error.log_id` or the
/// `X-Tt-Logid` header) that Feishu support asks for.
fn message(body: &Value, response: &HttpResponse) -> String {
    let msg = body.get("msg").and_then(Value::as_str).unwrap_or_default();
    let log_id = body
        .pointer("/error/log_id")
        .and_then(Value::as_str)
        .or_else(|| response.header("X-Tt-Logid"));
    match log_id {
        Some(log_id) if !log_id.is_empty() => format!("{msg} (log_id {log_id})"),
        _ => msg.to_owned(),
    }
}

/// The account's secrets, with the helpdesk header value derived from them.
fn secrets(input: &InterpretInput) -> Secrets {
    let secrets = Secrets::of(&input.account, SECRET_KEYS);
    let credential = |key| input.account.credentials.get(key).and_then(Value::as_str);
    match (credential("helpdesk_id"), credential("helpdesk_token")) {
        (Some(id), Some(token)) => secrets.with(base64_pair(id, token)),
        _ => secrets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::{Account, Header, Message, Operation, OperationKind};
    use plugin_common::Class;
    use serde_json::json;

    fn account() -> Account {
        serde_json::from_value(json!({
            "name": "helpdesk",
            "credentials": {"user_access_token": "u-secret-token", "helpdesk_id": "Aladdin",
                            "helpdesk_token": "open sesame"}
        }))
        .unwrap()
    }

    fn answer_to(
        kind: OperationKind,
        status: u16,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Outcome {
        interpret(&InterpretInput {
            account: account(),
            operation: Operation {
                kind,
                message: Message {
                    account: "helpdesk".into(),
                    remote_id: "6981801914270744596".into(),
                    sent_at_ms: 0,
                    tags: vec![],
                    meta: Value::Null,
                },
                params: Value::Null,
            },
            response: HttpResponse {
                status,
                headers: headers.iter().map(|(n, v)| Header::new(*n, *v)).collect(),
                body: body.to_owned(),
            },
            now_ms: 0,
            attempt: None,
        })
    }

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Outcome {
        answer_to(OperationKind::Recall, status, headers, body)
    }

    fn error(code: i64, msg: &str) -> String {
        json!({"code": code, "msg": msg}).to_string()
    }

    #[test]
    fn code_zero_is_done_for_every_operation() {
        let ok = r#"{"code":0,"msg":"success","data":{}}"#;
        for kind in [
            OperationKind::Recall,
            OperationKind::Cancel,
            OperationKind::Update,
        ] {
            assert_eq!(answer_to(kind, 200, &[], ok), Outcome::Done, "{kind}");
        }
    }

    #[test]
    fn every_documented_code_gets_its_class() {
        let statuses = [
            (154000, 400),
            (154001, 401),
            (154003, 403),
            (154005, 405),
            (155000, 500),
            (99991400, 429),
            (99991663, 401),
            (99991668, 401),
            (99991677, 401),
            (99991661, 401),
            (99991671, 401),
            (99991672, 403),
            (99991676, 403),
            (99991679, 403),
            (99991543, 400),
            (10014, 400),
            (99991662, 400),
            (99991673, 400),
        ];
        assert_eq!(
            ERRORS.codes().count(),
            statuses.len() + 1,
            "154004 is tested on its own"
        );
        for (code, status) in statuses {
            let outcome = answer(status, &[], &error(code, "vendor says no"));
            let (code, message) = (code.to_string(), "vendor says no".to_owned());
            let expected = match ERRORS.class(code.parse().unwrap()).unwrap() {
                Class::Retry => Outcome::Retry {
                    // Without its reset header the rate limit waits a minute.
                    after_ms: (code == "99991400").then_some(60_000),
                    code,
                    message,
                },
                Class::RefreshToken => Outcome::RefreshToken { code, message },
                Class::Permanent => Outcome::Failed {
                    code,
                    message,
                    permanent: true,
                },
            };
            assert_eq!(outcome, expected);
        }
        for code in [99991663, 99991668, 99991677] {
            assert_eq!(ERRORS.class(code), Some(Class::RefreshToken));
        }
        for code in [155000, 99991400] {
            assert_eq!(ERRORS.class(code), Some(Class::Retry));
        }
    }

    #[test]
    fn not_found_and_wrong_state_are_permanent_with_the_vendor_message() {
        assert_eq!(
            answer(404, &[], &error(154004, "notification not exist")),
            Outcome::Failed {
                code: "154004".into(),
                message: "not found: notification not exist".into(),
                permanent: true
            }
        );
        let draft = error(154005, "Method Forbidden: notification is draft");
        assert_eq!(
            answer_to(OperationKind::Recall, 405, &[], &draft),
            Outcome::Failed {
                code: "154005".into(),
                message: "Method Forbidden: notification is draft".into(),
                permanent: true
            }
        );
    }

    #[test]
    fn tenant_token_means_refresh_token() {
        let tenant = error(99991668, "user access token invalid");
        assert_eq!(
            answer(401, &[], &tenant),
            Outcome::RefreshToken {
                code: "99991668".into(),
                message: "user access token invalid".into()
            }
        );
    }

    #[test]
    fn rate_limit_waits_for_the_reset_header() {
        let headers = [
            ("x-ogw-ratelimit-limit", "20"),
            ("x-ogw-ratelimit-reset", "12"),
        ];
        let limited = error(99991400, "request trigger frequency limit");
        assert_eq!(
            answer_to(OperationKind::Update, 429, &headers, &limited),
            Outcome::Retry {
                after_ms: Some(12_000),
                code: "99991400".into(),
                message: "request trigger frequency limit".into()
            }
        );
        // Older APIs answer the same code with HTTP 400.
        assert!(matches!(
            answer(400, &headers, &limited),
            Outcome::Retry {
                after_ms: Some(12_000),
                ..
            }
        ));
        // A bare 429 without the vendor body still waits for the reset.
        assert_eq!(
            answer(429, &[("X-Ogw-Ratelimit-Reset", "3")], "Too Many Requests"),
            Outcome::Retry {
                after_ms: Some(3_000),
                code: "http_429".into(),
                message: "HTTP 429: Too Many Requests".into()
            }
        );
    }

    #[test]
    fn log_id_is_kept_for_support() {
        let body = json!({"code": 154000, "msg": "bad params", "error": {"log_id": "2024abc"}})
            .to_string();
        assert!(
            matches!(answer(400, &[], &body), Outcome::Failed { message, .. } if message == "bad params (log_id 2024abc)")
        );
        let header = [("X-Tt-Logid", "from-header")];
        assert!(
            matches!(answer(400, &header, &error(154000, "bad")), Outcome::Failed { message, .. } if message == "bad (log_id from-header)")
        );
    }

    #[test]
    fn unknown_answers_retry_on_5xx_and_fail_otherwise() {
        assert!(matches!(
            answer(502, &[], "<html>bad gateway</html>"),
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            answer(503, &[], &error(1234567, "new")),
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            answer(400, &[], &error(1234567, "new")),
            Outcome::Failed {
                permanent: true,
                ..
            }
        ));
        assert_eq!(
            answer(200, &[], "OK"),
            Outcome::Failed {
                code: "http_200".into(),
                message: "unexpected answer: HTTP 200: OK".into(),
                permanent: true
            }
        );
        assert!(matches!(
            answer(500, &[], r#"{"code":0}"#),
            Outcome::Retry { .. }
        ));
    }

    #[test]
    fn secrets_never_reach_an_outcome() {
        let leaky = error(
            154001,
            "bad headers: Bearer u-secret-token, QWxhZGRpbjpvcGVuIHNlc2FtZQ==, open sesame",
        );
        let Outcome::Failed { message, .. } = answer(401, &[], &leaky) else {
            panic!("expected a failure")
        };
        assert_eq!(
            message,
            "bad headers: Bearer [redacted], [redacted], [redacted]"
        );
    }

    #[test]
    fn odd_answers_are_classified_sanely_without_leaks() {
        for response in plugin_common::samples::odd_responses() {
            let status = response.status;
            let body = response.body.clone();
            let outcome = answer(status, &[], &body);
            plugin_common::samples::sane(status, &outcome).unwrap();
            let text = format!("{outcome:?}");
            assert!(
                !text.contains("open sesame") && !text.contains("u-secret-token"),
                "{text}"
            );
        }
    }
}
