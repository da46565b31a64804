//! The access token: `GET /gettoken?appkey=…&appsecret=…`.

use percent_encoding::utf8_percent_encode;
use plugin_api::{HttpRequest, Outcome, PluginError, TokenInput, TokenParseInput, TokenReply};
use plugin_common::{Secrets, unexpected};
use serde_json::Value;

use crate::QUERY_VALUE;
use crate::errors::{self, vendor_error};
use crate::manifest::{SECRET_KEYS, regions};

/// The documented lifetime, used when an answer omits `expires_in`.
const DEFAULT_LIFETIME_SECS: u64 = 7_200;

pub(crate) fn request(input: &TokenInput) -> Result<HttpRequest, PluginError> {
    let account = &input.account;
    let base = account.base_url(&regions())?;
    let appkey = account.credential_str("appkey")?;
    let appsecret = account.credential_str("appsecret")?;
    Ok(HttpRequest {
        method: "GET".to_owned(),
        url: format!(
            "{base}/gettoken?appkey={}&appsecret={}",
            utf8_percent_encode(appkey, QUERY_VALUE),
            utf8_percent_encode(appsecret, QUERY_VALUE),
        ),
        headers: Vec::new(),
        body: None,
    })
}

/// `{"errcode":0,"access_token":"…","expires_in":7200}` is a grant; an
/// errcode is a rejection classified like any other call, except that a
/// "refresh the token" code cannot be cured by another token request and is
/// a permanent failure here (a retry on a 5xx).
pub(crate) fn parse(input: &TokenParseInput) -> TokenReply {
    let response = &input.response;
    let body = response.json().unwrap_or(Value::Null);
    let token = body
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    let mut secrets = Secrets::of(&input.account, SECRET_KEYS);
    if let Some(token) = token {
        secrets = secrets.with(token.to_owned());
    }
    let rejected = |outcome| TokenReply::Rejected { outcome };
    if let Some(error) = vendor_error(&body).filter(|e| e.code != 0) {
        return rejected(
            match errors::outcome(&error, response, input.now_ms, &secrets) {
                Outcome::RefreshToken { code, message } if response.status >= 500 => {
                    Outcome::Retry {
                        after_ms: None,
                        code,
                        message,
                    }
                }
                Outcome::RefreshToken { code, message } => Outcome::Failed {
                    code,
                    message,
                    permanent: true,
                },
                other => other,
            },
        );
    }
    match token {
        Some(token) if (200..300).contains(&response.status) => TokenReply::Granted {
            token: token.to_owned(),
            expires_in_secs: lifetime_secs(&body),
        },
        _ => rejected(unexpected(response, input.now_ms, &secrets)),
    }
}

/// `expires_in` as a number or a string of digits, else the documented 7200.
fn lifetime_secs(body: &Value) -> u64 {
    match body.get("expires_in") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .unwrap_or(DEFAULT_LIFETIME_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::{Account, HttpResponse};
    use serde_json::json;

    fn account() -> Account {
        serde_json::from_value(json!({
            "name": "dingtalk-main",
            "credentials": {"appkey": "ding key&1", "appsecret": "s=cr/t+ü", "agent_id": 1000}
        }))
        .unwrap()
    }

    fn parse_answer(status: u16, body: &str) -> TokenReply {
        parse(&TokenParseInput {
            account: account(),
            response: HttpResponse {
                status,
                headers: vec![],
                body: body.to_owned(),
            },
            now_ms: 0,
        })
    }

    fn rejected(reply: TokenReply) -> Outcome {
        match reply {
            TokenReply::Rejected { outcome } => outcome,
            granted => panic!("expected a rejection, got {granted:?}"),
        }
    }

    #[test]
    fn token_request_url_encodes_the_credentials() {
        let request = request(&TokenInput {
            account: account(),
            now_ms: 0,
        })
        .unwrap();
        assert_eq!(request.method, "GET");
        assert_eq!(
            request.url,
            "https://oapi.dingtalk.com/gettoken?appkey=ding%20key%261&appsecret=s%3Dcr%2Ft%2B%C3%BC"
        );
        assert_eq!(request.body, None);
        let mut io = account();
        io.region = Some("io".into());
        let url = super::request(&TokenInput {
            account: io,
            now_ms: 0,
        })
        .unwrap()
        .url;
        assert!(
            url.starts_with("https://oapi.dingtalk.io/gettoken?"),
            "{url}"
        );
    }

    #[test]
    fn token_request_names_a_missing_credential() {
        let mut account = account();
        account.credentials.remove("appsecret");
        let error = request(&TokenInput { account, now_ms: 0 }).unwrap_err();
        assert_eq!(error.message, "missing credentials.appsecret");
    }

    #[test]
    fn grant_carries_the_token_and_its_lifetime() {
        let body = r#"{"errcode":0,"errmsg":"ok","access_token":"abc","expires_in":7189}"#;
        assert_eq!(
            parse_answer(200, body),
            TokenReply::Granted {
                token: "abc".into(),
                expires_in_secs: 7189
            }
        );
        let no_lifetime = r#"{"errcode":0,"access_token":"abc"}"#;
        assert_eq!(
            parse_answer(200, no_lifetime),
            TokenReply::Granted {
                token: "abc".into(),
                expires_in_secs: 7200
            }
        );
        let string_lifetime = r#"{"access_token":"abc","expires_in":"60"}"#;
        assert_eq!(
            parse_answer(200, string_lifetime),
            TokenReply::Granted {
                token: "abc".into(),
                expires_in_secs: 60
            }
        );
    }

    #[test]
    fn errcodes_reject_the_grant_by_class() {
        let busy = rejected(parse_answer(200, r#"{"errcode":-1,"errmsg":"busy"}"#));
        assert_eq!(
            busy,
            Outcome::Retry {
                after_ms: None,
                code: "-1".into(),
                message: "busy".into()
            }
        );
        let bad_key = rejected(parse_answer(
            200,
            r#"{"errcode":40089,"errmsg":"invalid appkey or appsecret"}"#,
        ));
        assert!(
            matches!(
                bad_key,
                Outcome::Failed {
                    permanent: true,
                    ..
                }
            ),
            "{bad_key:?}"
        );
        let refresh = rejected(parse_answer(
            200,
            r#"{"errcode":40014,"errmsg":"invalid token"}"#,
        ));
        assert_eq!(
            refresh,
            Outcome::Failed {
                code: "40014".into(),
                message: "invalid token".into(),
                permanent: true
            }
        );
    }

    #[test]
    fn unreadable_grants_are_rejected_without_leaking_the_token() {
        assert!(matches!(
            rejected(parse_answer(503, "busy")),
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            rejected(parse_answer(200, r#"{"errcode":0}"#)),
            Outcome::Failed {
                permanent: true,
                ..
            }
        ));
        let odd = rejected(parse_answer(403, r#"{"access_token":"abcdef"}"#));
        let Outcome::Failed { message, .. } = odd else {
            panic!("expected a failure")
        };
        assert!(!message.contains("abcdef"), "{message}");
    }

    #[test]
    fn odd_grants_never_panic_or_leak() {
        for response in plugin_common::samples::odd_responses() {
            let status = response.status;
            let reply = parse(&TokenParseInput {
                account: account(),
                response,
                now_ms: 0,
            });
            if let TokenReply::Rejected { outcome } = &reply {
                plugin_common::samples::sane(status, outcome).unwrap();
            }
            assert!(!format!("{reply:?}").contains("s=cr/t+ü"));
        }
    }
}
