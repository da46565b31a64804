//! Recall: `DELETE /v4/push/withdraw/{msg_id}` and its answers.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use plugin_api::{HttpRequest, InterpretInput, OperationKind, Outcome, PluginError, PrepareInput};
use plugin_common::{ErrorTable, WithdrawAnswers, basic_auth, remote_id};

use crate::auth;
use crate::manifest::regions;

/// Everything but RFC 3986's unreserved characters is escaped in a path segment.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// EngageLab's error codes (`vendors.md` §3). 21003 is read from its message
/// instead, see [`WithdrawAnswers::invalid_id_code`].
const ANSWERS: WithdrawAnswers = WithdrawAnswers {
    invalid_id_code: 21003,
    errors: ErrorTable {
        // 21009 internal, 21030 timeout, 23008 rate limit, 27000 server error.
        retry: &[21009, 21030, 23008, 27000],
        refresh_token: &[],
        // Over 500 calls a second per AppKey; 23008 carries no wait hint.
        rate_limits: &[(23008, 1_000)],
        permanent: &[
            21001, 21002, 21005, // request: method, missing parameter, body too large
            21004, 21008, 21038, // auth: failed, bad app_key, VIP/permission
            21011, 21015, 21016, 23006, 23009, // target, validation, parameter, IP whitelist
            27001, 27008, 27009, // parameters
        ],
    },
    wait_headers: &[],
    success_needs_msg_id: true,
};

pub(crate) fn prepare(input: &PrepareInput) -> Result<HttpRequest, PluginError> {
    let operation = &input.operation;
    if operation.kind != OperationKind::Recall {
        return Err(PluginError::unsupported(operation.kind));
    }
    let msg_id = remote_id(&operation.message)?;
    let base = input.account.base_url(&regions())?;
    let (user, password) = auth::basic(&input.account)?;
    Ok(HttpRequest {
        method: "DELETE".to_owned(),
        url: format!(
            "{base}/v4/push/withdraw/{}",
            utf8_percent_encode(msg_id, PATH_SEGMENT)
        ),
        headers: vec![basic_auth(&user, password)],
        body: None,
    })
}

pub(crate) fn interpret(input: &InterpretInput) -> Outcome {
    ANSWERS.interpret(
        &input.response,
        input.now_ms,
        &auth::secrets(&input.account),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::{Account, Header, HttpResponse, Message, Operation};
    use plugin_common::Class;
    use serde_json::json;

    fn account() -> Account {
        serde_json::from_value(json!({
            "name": "engagelab-main",
            "credentials": {"app_key": "Aladdin", "master_secret": "open sesame"}
        }))
        .unwrap()
    }

    fn operation(kind: OperationKind, remote_id: &str) -> Operation {
        Operation {
            kind,
            message: Message {
                account: "engagelab-main".into(),
                remote_id: remote_id.into(),
                sent_at_ms: 0,
                tags: vec![],
                meta: json!(null),
            },
            params: json!(null),
        }
    }

    fn prepare_for(account: Account, remote_id: &str) -> Result<HttpRequest, PluginError> {
        prepare(&PrepareInput {
            account,
            operation: operation(OperationKind::Recall, remote_id),
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
    fn recall_is_a_basic_auth_delete_to_the_default_region() {
        let request = prepare_for(account(), "1828256757").unwrap();
        assert_eq!(request.method, "DELETE");
        assert_eq!(
            request.url,
            "https://pushapi-sgp.engagelab.com/v4/push/withdraw/1828256757"
        );
        assert_eq!(
            request.headers,
            vec![Header::new(
                "Authorization",
                "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
            )]
        );
        assert_eq!(request.body, None);
    }

    #[test]
    fn group_credentials_recall_as_group_key() {
        let mut group = account();
        group.credentials.insert("group_key".into(), json!("g1"));
        group
            .credentials
            .insert("group_master_secret".into(), json!("open sesame"));
        let request = prepare_for(group, "1828256757").unwrap();
        // base64("group-g1:open sesame")
        assert_eq!(
            request.headers,
            vec![Header::new(
                "Authorization",
                "Basic Z3JvdXAtZzE6b3BlbiBzZXNhbWU="
            )]
        );
    }

    #[test]
    fn region_and_base_url_pick_the_host() {
        let mut account = account();
        account.region = Some("defra".into());
        let url = prepare_for(account.clone(), "1").unwrap().url;
        assert_eq!(
            url,
            "https://pushapi-defra.engagelab.com/v4/push/withdraw/1"
        );
        account.base_url = Some("http://127.0.0.1:8900/".into());
        let url = prepare_for(account, "1").unwrap().url;
        assert_eq!(url, "http://127.0.0.1:8900/v4/push/withdraw/1");
    }

    #[test]
    fn msg_id_is_encoded_as_one_path_segment() {
        let url = prepare_for(account(), "a/b c?d#e%f~g.h-i_j").unwrap().url;
        assert_eq!(
            url,
            "https://pushapi-sgp.engagelab.com/v4/push/withdraw/a%2Fb%20c%3Fd%23e%25f~g.h-i_j"
        );
        let url = prepare_for(account(), "消息").unwrap().url;
        assert!(url.ends_with("/withdraw/%E6%B6%88%E6%81%AF"), "{url}");
    }

    #[test]
    fn bad_input_is_refused_naming_the_field() {
        assert_eq!(
            prepare_for(account(), "").unwrap_err().code,
            "invalid_remote_id"
        );
        let mut no_secret = account();
        no_secret.credentials.remove("master_secret");
        let error = prepare_for(no_secret, "1").unwrap_err();
        assert_eq!(
            (error.code.as_str(), error.message.as_str()),
            ("missing_credential", "missing credentials.master_secret")
        );
        let cancel = prepare(&PrepareInput {
            account: account(),
            operation: operation(OperationKind::Cancel, "1"),
            token: None,
            now_ms: 0,
        });
        assert_eq!(cancel.unwrap_err().code, "unsupported_operation");
    }

    #[test]
    fn success_needs_msg_id() {
        assert_eq!(
            answer(200, &[], r#"{"request_id":"","msg_id":"1828256757"}"#),
            Outcome::Done
        );
        assert!(matches!(
            answer(200, &[], "{}"),
            Outcome::Failed {
                permanent: true,
                ..
            }
        ));
    }

    #[test]
    fn code_21003_is_told_apart_by_its_message() {
        let repeat = error(
            21003,
            "Parameter value is invalid,msg_id has been withdrawn",
        );
        assert_eq!(answer(400, &[], &repeat), Outcome::AlreadyDone);
        let old = error(21003, "Parameter value is invalid,msg_id has expired");
        assert_eq!(
            answer(400, &[], &old),
            Outcome::Expired {
                message: "Parameter value is invalid,msg_id has expired".into()
            }
        );
        let missing = error(21003, "Parameter value is invalid,msg_id not exist");
        assert_eq!(
            answer(400, &[], &missing),
            Outcome::Failed {
                code: "21003".into(),
                message: "not found: Parameter value is invalid,msg_id not exist".into(),
                permanent: true,
            }
        );
    }

    #[test]
    fn every_documented_code_gets_its_class() {
        let statuses = [
            (21001, 405),
            (21002, 400),
            (21004, 401),
            (21005, 400),
            (21008, 400),
            (21009, 400),
            (21011, 400),
            (21015, 400),
            (21016, 400),
            (21030, 503),
            (21038, 401),
            (23006, 400),
            (23008, 400),
            (23009, 400),
            (27000, 500),
            (27001, 401),
            (27008, 401),
            (27009, 401),
        ];
        assert_eq!(ANSWERS.errors.codes().count(), statuses.len());
        for (code, status) in statuses {
            let class = ANSWERS.errors.class(code).unwrap();
            let outcome = answer(status, &[], &error(code, "vendor says no"));
            let expected = match class {
                Class::Retry => Outcome::Retry {
                    // The rate limit waits its second; the others are left
                    // to the host's backoff.
                    after_ms: (code == 23008).then_some(1_000),
                    code: code.to_string(),
                    message: "vendor says no".into(),
                },
                Class::Permanent => Outcome::Failed {
                    code: code.to_string(),
                    message: "vendor says no".into(),
                    permanent: true,
                },
                Class::RefreshToken => unreachable!("EngageLab has no tokens"),
            };
            assert_eq!(outcome, expected, "code {code}");
        }
        for code in [21009, 21030, 23008, 27000] {
            assert_eq!(
                ANSWERS.errors.class(code),
                Some(Class::Retry),
                "code {code}"
            );
        }
    }

    #[test]
    fn rate_limit_23008_without_a_hint_waits_a_second() {
        // The host pauses the account only for a retry that says how long.
        let limited = error(23008, "request rate exceeds the limit");
        assert_eq!(
            answer(400, &[], &limited),
            Outcome::Retry {
                after_ms: Some(1_000),
                code: "23008".into(),
                message: "request rate exceeds the limit".into()
            }
        );
    }

    #[test]
    fn retries_honour_retry_after() {
        let limited = error(23008, "request rate exceeds the limit");
        assert_eq!(
            answer(400, &[("Retry-After", "2")], &limited),
            Outcome::Retry {
                after_ms: Some(2_000),
                code: "23008".into(),
                message: "request rate exceeds the limit".into()
            }
        );
        assert_eq!(
            answer(429, &[("retry-after", "1")], "Too Many Requests"),
            Outcome::Retry {
                after_ms: Some(1_000),
                code: "http_429".into(),
                message: "HTTP 429: Too Many Requests".into()
            }
        );
    }

    #[test]
    fn unknown_answers_retry_on_5xx_and_fail_otherwise() {
        assert!(matches!(
            answer(502, &[], "<html>bad gateway</html>"),
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            answer(500, &[], &error(29999, "?")),
            Outcome::Retry { .. }
        ));
        assert_eq!(
            answer(404, &[], "<html>no</html>"),
            Outcome::Failed {
                code: "http_404".into(),
                message: "unexpected answer: HTTP 404: <html>no</html>".into(),
                permanent: true
            }
        );
        assert!(matches!(
            answer(400, &[], &error(29999, "?")),
            Outcome::Failed {
                permanent: true,
                ..
            }
        ));
    }

    #[test]
    fn secrets_never_reach_an_outcome() {
        let leaky = error(
            21004,
            "auth failed for open sesame / QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        );
        let Outcome::Failed { message, .. } = answer(401, &[], &leaky) else {
            panic!("expected a failure")
        };
        assert_eq!(message, "auth failed for [redacted] / [redacted]");
        let Outcome::Failed { message, .. } = answer(403, &[], "echo: open sesame") else {
            panic!("expected a failure")
        };
        assert!(!message.contains("open sesame"), "{message}");
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
