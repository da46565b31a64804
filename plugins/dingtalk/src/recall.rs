//! Recall: `POST /topapi/message/corpconversation/recall` and its answers.

use percent_encoding::utf8_percent_encode;
use plugin_api::{
    Header, HttpRequest, InterpretInput, OperationKind, Outcome, PluginError, PrepareInput,
};
use plugin_common::{Secrets, body_prefix, unexpected};
use serde_json::json;

use crate::QUERY_VALUE;
use crate::errors::{self, vendor_error};
use crate::invalid_task;
use crate::manifest::{SECRET_KEYS, regions};

pub(crate) fn prepare(input: &PrepareInput) -> Result<HttpRequest, PluginError> {
    let operation = &input.operation;
    if operation.kind != OperationKind::Recall {
        return Err(PluginError::unsupported(operation.kind));
    }
    let token = input
        .token
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            PluginError::new(
                "missing_token",
                "no access token: the host must obtain one through token_request first",
            )
        })?;
    let task_id = task_id(&operation.message.remote_id)?;
    let base = input.account.base_url(&regions())?;
    let agent_id = input.account.credential_i64("agent_id")?;
    let body = json!({"agent_id": agent_id, "msg_task_id": task_id});
    Ok(HttpRequest {
        method: "POST".to_owned(),
        url: format!(
            "{base}/topapi/message/corpconversation/recall?access_token={}",
            utf8_percent_encode(token, QUERY_VALUE)
        ),
        headers: vec![Header::new("Content-Type", "application/json")],
        body: Some(body.to_string()),
    })
}

/// The `task_id` that `asyncsend_v2` returned, kept as the message's remote id.
fn task_id(remote_id: &str) -> Result<i64, PluginError> {
    remote_id.parse().map_err(|_| {
        let shown = body_prefix(remote_id, &Secrets::default());
        PluginError::new(
            "invalid_remote_id",
            format!("message.remote_id must be a DingTalk task_id (an int64), got {shown:?}"),
        )
    })
}

/// `errcode` 0 is done (a repeated recall answers 0 too); 400002 may also
/// mean already recalled or expired ([`invalid_task`]); any other errcode is
/// classified by [`errors::ERRORS`], whatever the HTTP status.
pub(crate) fn interpret(input: &InterpretInput) -> Outcome {
    let response = &input.response;
    let secrets = Secrets::of(&input.account, SECRET_KEYS);
    let error = response.json().as_ref().and_then(vendor_error);
    match error {
        Some(error) if error.code == 0 && (200..300).contains(&response.status) => Outcome::Done,
        Some(error) if error.code == invalid_task::INVALID_ID => {
            invalid_task::outcome(&error, input, &secrets)
        }
        Some(error) if error.code != 0 => {
            errors::outcome_of_attempt(&error, response, input.now_ms, input.attempt, &secrets)
        }
        _ => unexpected(response, input.now_ms, &secrets),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::ERRORS;
    use plugin_api::{Account, HttpResponse, Message, Operation};
    use plugin_common::Class;
    use serde_json::Value;

    fn account() -> Account {
        serde_json::from_value(json!({
            "name": "dingtalk-main",
            "credentials": {"appkey": "ding1", "appsecret": "app-s3cret", "agent_id": "1000"}
        }))
        .unwrap()
    }

    fn operation(kind: OperationKind, remote_id: &str) -> Operation {
        Operation {
            kind,
            message: Message {
                account: "dingtalk-main".into(),
                remote_id: remote_id.into(),
                sent_at_ms: 0,
                tags: vec![],
                meta: Value::Null,
            },
            params: Value::Null,
        }
    }

    fn prepare_with(
        account: Account,
        remote_id: &str,
        token: Option<&str>,
    ) -> Result<HttpRequest, PluginError> {
        prepare(&PrepareInput {
            account,
            operation: operation(OperationKind::Recall, remote_id),
            token: token.map(str::to_owned),
            now_ms: 0,
        })
    }

    fn answer(status: u16, body: &str) -> Outcome {
        interpret(&InterpretInput {
            account: account(),
            operation: operation(OperationKind::Recall, "7123456789012345678"),
            response: HttpResponse {
                status,
                headers: vec![],
                body: body.to_owned(),
            },
            now_ms: 0,
            attempt: None,
        })
    }

    #[test]
    fn recall_posts_agent_and_task_ids_with_the_token() {
        let request = prepare_with(account(), "7123456789012345678", Some("tok/en+1")).unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(
            request.url,
            "https://oapi.dingtalk.com/topapi/message/corpconversation/recall?access_token=tok%2Fen%2B1"
        );
        assert_eq!(
            request.headers,
            vec![Header::new("Content-Type", "application/json")]
        );
        let body: Value = serde_json::from_str(request.body.as_deref().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"agent_id": 1000, "msg_task_id": 7123456789012345678_i64})
        );
    }

    #[test]
    fn base_url_overrides_the_region() {
        let mut account = account();
        account.base_url = Some("http://127.0.0.1:8901".into());
        let url = prepare_with(account, "1", Some("t")).unwrap().url;
        assert_eq!(
            url,
            "http://127.0.0.1:8901/topapi/message/corpconversation/recall?access_token=t"
        );
    }

    #[test]
    fn bad_input_is_refused_naming_the_field() {
        for remote_id in ["abc", "", "1.5", " 12", "99999999999999999999"] {
            let error = prepare_with(account(), remote_id, Some("t")).unwrap_err();
            assert_eq!(error.code, "invalid_remote_id", "{remote_id:?}");
            assert!(
                error.message.starts_with("message.remote_id must be"),
                "{}",
                error.message
            );
        }
        assert_eq!(
            prepare_with(account(), "1", None).unwrap_err().code,
            "missing_token"
        );
        assert_eq!(
            prepare_with(account(), "1", Some("")).unwrap_err().code,
            "missing_token"
        );
        let mut bad_agent = account();
        bad_agent
            .credentials
            .insert("agent_id".into(), json!("agent-1"));
        let error = prepare_with(bad_agent, "1", Some("t")).unwrap_err();
        assert_eq!(error.message, "credentials.agent_id must be an integer");
        let cancel = prepare(&PrepareInput {
            account: account(),
            operation: operation(OperationKind::Cancel, "1"),
            token: Some("t".into()),
            now_ms: 0,
        });
        assert_eq!(cancel.unwrap_err().code, "unsupported_operation");
    }

    #[test]
    fn errcode_zero_is_done_including_a_repeated_recall() {
        assert_eq!(
            answer(200, r#"{"errcode":0,"errmsg":"ok","request_id":"r1"}"#),
            Outcome::Done
        );
    }

    #[test]
    fn every_documented_code_gets_its_class() {
        let documented = [
            (-1, Class::Retry),
            (500, Class::Retry),
            (90018, Class::Retry),
            (90006, Class::Retry),
            (90005, Class::Retry),
            (41047, Class::Retry),
            (41048, Class::Retry),
            (143103, Class::Retry),
            (143104, Class::Retry),
            (143203, Class::Retry),
            (143204, Class::Retry),
            (40014, Class::RefreshToken),
            (42001, Class::RefreshToken),
            (40001, Class::RefreshToken),
            (33001, Class::RefreshToken),
            (400002, Class::Permanent),
            (88, Class::Permanent),
            (143105, Class::Permanent),
            (143205, Class::Permanent),
            (143106, Class::Permanent),
            (143206, Class::Permanent),
            (1430000, Class::Permanent),
            (1430002, Class::Permanent),
        ];
        assert_eq!(ERRORS.codes().count(), documented.len());
        for (code, class) in documented {
            let outcome = answer(
                200,
                &json!({"errcode": code, "errmsg": "vendor says no"}).to_string(),
            );
            let (code, message) = (code.to_string(), "vendor says no".to_owned());
            let expected = match class {
                Class::Retry => {
                    // Rate limits wait their window; busy and system
                    // error leave the wait to the host's backoff.
                    let after_ms = match code.as_str() {
                        "-1" | "500" => None,
                        "90018" => Some(1_000),
                        _ => Some(60_000),
                    };
                    Outcome::Retry {
                        after_ms,
                        code,
                        message,
                    }
                }
                Class::RefreshToken => Outcome::RefreshToken { code, message },
                Class::Permanent => Outcome::Failed {
                    code,
                    message,
                    permanent: true,
                },
            };
            assert_eq!(outcome, expected);
        }
    }

    #[test]
    fn unknown_codes_and_answers_follow_the_status() {
        assert!(matches!(
            answer(200, r#"{"errcode":1430003,"errmsg":"?"}"#),
            Outcome::Failed {
                permanent: true,
                ..
            }
        ));
        assert!(matches!(
            answer(502, r#"{"errcode":77777}"#),
            Outcome::Retry { .. }
        ));
        assert!(matches!(answer(503, "<html>"), Outcome::Retry { .. }));
        assert_eq!(
            answer(404, "Not Found"),
            Outcome::Failed {
                code: "http_404".into(),
                message: "unexpected answer: HTTP 404: Not Found".into(),
                permanent: true
            }
        );
        assert!(matches!(
            answer(500, r#"{"errcode":0}"#),
            Outcome::Retry { .. }
        ));
    }

    #[test]
    fn secrets_never_reach_an_outcome() {
        let Outcome::Failed { message, .. } =
            answer(200, r#"{"errcode":88,"errmsg":"bad secret app-s3cret"}"#)
        else {
            panic!("expected a failure")
        };
        assert_eq!(message, "bad secret [redacted]");
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
            assert!(!format!("{outcome:?}").contains("app-s3cret"));
        }
    }
}
