//! Recall: `DELETE /v3/push/{msg_id}` and its answers.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use plugin_api::{HttpRequest, InterpretInput, OperationKind, Outcome, PluginError, PrepareInput};
use plugin_common::{ErrorTable, Secrets, WithdrawAnswers, basic_auth, remote_id};

use crate::manifest::regions;

/// Everything but RFC 3986's unreserved characters is escaped in a path segment.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// JPush's error codes (`vendors.md` §4). 1003 is read from its message
/// instead, see [`WithdrawAnswers::invalid_id_code`].
const ANSWERS: WithdrawAnswers = WithdrawAnswers {
    invalid_id_code: 1003,
    errors: ErrorTable {
        // 1000 internal, 1030 timeout, 2002 rate limit.
        retry: &[1000, 1030, 2002],
        refresh_token: &[],
        permanent: &[
            1001, 1002, 1005, 1009,
            1020, // request: method, missing, too large, key, HTTPS only
            1004, 1008, 2003, 2004, 2006, 2007, // auth and access
            1011, 1012, 2005, // volume and targets
        ],
        // Over 600 calls a minute per AppKey; the reset header says how long
        // is left, and without it the whole minute is waited.
        rate_limits: &[(2002, 60_000)],
    },
    // Seconds until the per-minute quota resets, sent with 2002.
    wait_headers: &["X-Rate-Limit-Reset"],
    // Any 2xx is a success; the body (`{"msg_id"}`) is not needed.
    success_needs_msg_id: false,
};

pub(crate) fn prepare(input: &PrepareInput) -> Result<HttpRequest, PluginError> {
    let operation = &input.operation;
    if operation.kind != OperationKind::Recall {
        return Err(PluginError::unsupported(operation.kind));
    }
    let msg_id = remote_id(&operation.message)?;
    let base = input.account.base_url(&regions())?;
    let app_key = input.account.credential_str("app_key")?;
    let master_secret = input.account.credential_str("master_secret")?;
    Ok(HttpRequest {
        method: "DELETE".to_owned(),
        url: format!(
            "{base}/v3/push/{}",
            utf8_percent_encode(msg_id, PATH_SEGMENT)
        ),
        headers: vec![basic_auth(app_key, master_secret)],
        body: None,
    })
}

pub(crate) fn interpret(input: &InterpretInput) -> Outcome {
    let secrets = Secrets::basic(&input.account, "app_key", "master_secret");
    ANSWERS.interpret(&input.response, input.now_ms, &secrets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::{Account, Header, HttpResponse, Message, Operation};
    use plugin_common::Class;
    use serde_json::json;

    fn account() -> Account {
        serde_json::from_value(json!({
            "name": "jpush-main",
            "credentials": {"app_key": "Aladdin", "master_secret": "open sesame"}
        }))
        .unwrap()
    }

    fn operation(kind: OperationKind, remote_id: &str) -> Operation {
        Operation {
            kind,
            message: Message {
                account: "jpush-main".into(),
                remote_id: remote_id.into(),
                sent_at_ms: 0,
                tags: vec![],
                meta: json!(null),
            },
            params: json!(null),
        }
    }

    fn prepare_for(
        account: Account,
        kind: OperationKind,
        remote_id: &str,
    ) -> Result<HttpRequest, PluginError> {
        prepare(&PrepareInput {
            account,
            operation: operation(kind, remote_id),
            token: None,
            now_ms: 0,
        })
    }

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Outcome {
        interpret(&InterpretInput {
            account: account(),
            operation: operation(OperationKind::Recall, "1828256757"),
            response: HttpResponse {
                status,
                headers: headers.iter().map(|(n, v)| Header::new(*n, *v)).collect(),
                body: body.to_owned(),
            },
            now_ms: 0,
            attempt: None,
        })
    }

    fn error(code: i64, message: &str) -> String {
        json!({"error": {"code": code, "message": message}}).to_string()
    }

    #[test]
    fn recall_is_a_basic_auth_delete() {
        let request = prepare_for(account(), OperationKind::Recall, "1828256757").unwrap();
        assert_eq!(request.method, "DELETE");
        assert_eq!(request.url, "https://api.jpush.cn/v3/push/1828256757");
        assert_eq!(
            request.headers,
            vec![Header::new(
                "Authorization",
                "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
            )]
        );
        assert_eq!(request.body, None);
        let mut beijing = account();
        beijing.region = Some("bj".into());
        let url = prepare_for(beijing, OperationKind::Recall, "1")
            .unwrap()
            .url;
        assert_eq!(url, "https://bjapi.push.jiguang.cn/v3/push/1");
    }

    #[test]
    fn msg_id_is_encoded_as_one_path_segment() {
        let url = prepare_for(account(), OperationKind::Recall, "../x y/%")
            .unwrap()
            .url;
        assert_eq!(url, "https://api.jpush.cn/v3/push/..%2Fx%20y%2F%25");
    }

    #[test]
    fn bad_input_is_refused_naming_the_field() {
        assert_eq!(
            prepare_for(account(), OperationKind::Recall, "..")
                .unwrap_err()
                .code,
            "invalid_remote_id"
        );
        assert_eq!(
            prepare_for(account(), OperationKind::Update, "1")
                .unwrap_err()
                .code,
            "unsupported_operation"
        );
        let mut region = account();
        region.region = Some("mars".into());
        assert_eq!(
            prepare_for(region, OperationKind::Recall, "1")
                .unwrap_err()
                .code,
            "unknown_region"
        );
    }

    #[test]
    fn any_2xx_is_done() {
        assert_eq!(
            answer(200, &[], r#"{"msg_id":"1828256757"}"#),
            Outcome::Done
        );
        assert_eq!(answer(204, &[], ""), Outcome::Done);
    }

    #[test]
    fn code_1003_is_told_apart_by_its_message() {
        assert_eq!(
            answer(400, &[], &error(1003, "msg_id has been withdrawn")),
            Outcome::AlreadyDone
        );
        assert_eq!(
            answer(400, &[], &error(1003, "msg_id has expired")),
            Outcome::Expired {
                message: "msg_id has expired".into()
            }
        );
        assert_eq!(
            answer(400, &[], &error(1003, "msg_id not exist")),
            Outcome::Failed {
                code: "1003".into(),
                message: "not found: msg_id not exist".into(),
                permanent: true
            }
        );
    }

    #[test]
    fn every_documented_code_gets_its_class() {
        let statuses = [
            (1000, 500),
            (1001, 405),
            (1002, 400),
            (1004, 401),
            (1005, 400),
            (1008, 400),
            (1009, 400),
            (1011, 400),
            (1012, 400),
            (1020, 404),
            (1030, 503),
            (2002, 429),
            (2003, 403),
            (2004, 403),
            (2005, 403),
            (2006, 403),
            (2007, 403),
        ];
        assert_eq!(ANSWERS.errors.codes().count(), statuses.len());
        for (code, status) in statuses {
            let outcome = answer(status, &[], &error(code, "vendor says no"));
            let expected = match ANSWERS.errors.class(code) {
                Some(Class::Retry) => Outcome::Retry {
                    // Without its reset header the rate limit waits a minute.
                    after_ms: (code == 2002).then_some(60_000),
                    code: code.to_string(),
                    message: "vendor says no".into(),
                },
                Some(Class::Permanent) => Outcome::Failed {
                    code: code.to_string(),
                    message: "vendor says no".into(),
                    permanent: true,
                },
                other => panic!("code {code} has class {other:?}"),
            };
            assert_eq!(outcome, expected, "code {code}");
        }
        for code in [1000, 1030, 2002] {
            assert_eq!(
                ANSWERS.errors.class(code),
                Some(Class::Retry),
                "code {code}"
            );
        }
    }

    #[test]
    fn rate_limit_waits_for_the_quota_reset() {
        let headers = [
            ("X-Rate-Limit-Quota", "600"),
            ("X-Rate-Limit-Remaining", "0"),
            ("X-Rate-Limit-Reset", "17"),
        ];
        assert_eq!(
            answer(429, &headers, &error(2002, "rate limit exceeded")),
            Outcome::Retry {
                after_ms: Some(17_000),
                code: "2002".into(),
                message: "rate limit exceeded".into()
            }
        );
        let retry_after = [("Retry-After", "3")];
        assert!(matches!(
            answer(429, &retry_after, &error(2002, "x")),
            Outcome::Retry {
                after_ms: Some(3_000),
                ..
            }
        ));
    }

    #[test]
    fn unknown_answers_retry_on_5xx_and_fail_otherwise() {
        assert!(matches!(
            answer(503, &[], "upstream timeout"),
            Outcome::Retry { .. }
        ));
        assert!(matches!(answer(429, &[], ""), Outcome::Retry { .. }));
        assert_eq!(
            answer(403, &[], "<h1>forbidden</h1>"),
            Outcome::Failed {
                code: "http_403".into(),
                message: "unexpected answer: HTTP 403: <h1>forbidden</h1>".into(),
                permanent: true
            }
        );
        assert!(matches!(
            answer(400, &[], &error(4242, "new code")),
            Outcome::Failed {
                permanent: true,
                ..
            }
        ));
    }

    #[test]
    fn secrets_never_reach_an_outcome() {
        let leaky = error(1004, "auth failed: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        let Outcome::Failed { message, .. } = answer(401, &[], &leaky) else {
            panic!("expected a failure")
        };
        assert_eq!(message, "auth failed: Basic [redacted]");
    }

    #[test]
    fn odd_answers_are_classified_sanely_without_leaks() {
        for response in plugin_common::samples::odd_responses() {
            let status = response.status;
            let outcome = interpret(&InterpretInput {
                account: account(),
                operation: operation(OperationKind::Recall, "1"),
                response,
                now_ms: 0,
                attempt: None,
            });
            plugin_common::samples::sane(status, &outcome).unwrap();
            assert!(!format!("{outcome:?}").contains("open sesame"));
        }
    }
}
