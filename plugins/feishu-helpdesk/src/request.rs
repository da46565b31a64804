//! The requests: `cancel_send` for recall and cancel, `PATCH` for update.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use plugin_api::{Account, Header, HttpRequest, OperationKind, PluginError, PrepareInput};
use plugin_common::{base64_pair, remote_id};
use serde_json::json;

use crate::manifest::regions;
use crate::update;

/// Everything but RFC 3986's unreserved characters is escaped in a path segment.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

const NOTIFICATIONS: &str = "/open-apis/helpdesk/v1/notifications";

pub(crate) fn prepare(input: &PrepareInput) -> Result<HttpRequest, PluginError> {
    let operation = &input.operation;
    let id = remote_id(&operation.message)?;
    let notification = format!(
        "{}{NOTIFICATIONS}/{}",
        input.account.base_url(&regions())?,
        utf8_percent_encode(id, PATH_SEGMENT)
    );
    let (method, url, body) = match operation.kind {
        // `is_recall: true` also takes back what was already delivered;
        // `false` only stops what has not been sent yet.
        OperationKind::Recall | OperationKind::Cancel => {
            let is_recall = operation.kind == OperationKind::Recall;
            let body = json!({ "is_recall": is_recall });
            (
                "POST",
                format!("{notification}/cancel_send"),
                body.to_string(),
            )
        }
        OperationKind::Update => {
            let (user_id_type, body) = update::patch(&operation.params)?;
            (
                "PATCH",
                format!("{notification}?user_id_type={user_id_type}"),
                body.to_string(),
            )
        }
    };
    Ok(HttpRequest {
        method: method.to_owned(),
        url,
        headers: headers(&input.account)?,
        body: Some(body),
    })
}

/// The user token, the helpdesk credentials and the JSON content type.
fn headers(account: &Account) -> Result<Vec<Header>, PluginError> {
    let user_token = account.credential_str("user_access_token")?;
    let helpdesk_id = account.credential_str("helpdesk_id")?;
    let helpdesk_token = account.credential_str("helpdesk_token")?;
    Ok(vec![
        Header::new("Authorization", format!("Bearer {user_token}")),
        Header::new(
            "X-Lark-Helpdesk-Authorization",
            base64_pair(helpdesk_id, helpdesk_token),
        ),
        Header::new("Content-Type", "application/json; charset=utf-8"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::{Message, Operation};
    use serde_json::Value;

    fn account() -> Account {
        serde_json::from_value(json!({
            "name": "helpdesk",
            "credentials": {"user_access_token": "u-abc", "helpdesk_id": "Aladdin",
                            "helpdesk_token": "open sesame"}
        }))
        .unwrap()
    }

    fn prepare_with(
        account: Account,
        kind: OperationKind,
        remote_id: &str,
        params: Value,
    ) -> Result<HttpRequest, PluginError> {
        prepare(&PrepareInput {
            account,
            operation: Operation {
                kind,
                message: Message {
                    account: "helpdesk".into(),
                    remote_id: remote_id.into(),
                    sent_at_ms: 0,
                    tags: vec![],
                    meta: Value::Null,
                },
                params,
            },
            token: None,
            now_ms: 0,
        })
    }

    fn expected_headers() -> Vec<Header> {
        vec![
            Header::new("Authorization", "Bearer u-abc"),
            Header::new(
                "X-Lark-Helpdesk-Authorization",
                "QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
            ),
            Header::new("Content-Type", "application/json; charset=utf-8"),
        ]
    }

    #[test]
    fn recall_and_cancel_are_cancel_send() {
        for (kind, body) in [
            (OperationKind::Recall, r#"{"is_recall":true}"#),
            (OperationKind::Cancel, r#"{"is_recall":false}"#),
        ] {
            let request =
                prepare_with(account(), kind, "6981801914270744596", Value::Null).unwrap();
            assert_eq!(request.method, "POST");
            assert_eq!(
                request.url,
                "https://open.feishu.cn/open-apis/helpdesk/v1/notifications/6981801914270744596/cancel_send"
            );
            assert_eq!(request.headers, expected_headers());
            assert_eq!(request.body.as_deref(), Some(body));
        }
    }

    #[test]
    fn update_patches_the_draft_with_the_params() {
        let params = json!({"job_name": "maintenance", "push_content": "{\"text\":\"hi\"}",
                            "push_type": 0, "push_scope_type": 0});
        let mut lark = account();
        lark.region = Some("lark".into());
        let request = prepare_with(lark, OperationKind::Update, "42", params.clone()).unwrap();
        assert_eq!(request.method, "PATCH");
        assert_eq!(
            request.url,
            "https://open.larksuite.com/open-apis/helpdesk/v1/notifications/42?user_id_type=open_id"
        );
        assert_eq!(request.headers, expected_headers());
        let body: Value = serde_json::from_str(request.body.as_deref().unwrap()).unwrap();
        assert_eq!(body, params);
    }

    #[test]
    fn update_takes_user_id_type_from_the_params_into_the_query() {
        let notification = json!({"job_name": "maintenance", "push_content": "{\"text\":\"hi\"}",
                                  "push_type": 0, "push_scope_type": 2,
                                  "user_list": [{"user_id": "on_1"}]});
        for user_id_type in ["open_id", "union_id", "user_id"] {
            let mut params = notification.clone();
            params["user_id_type"] = json!(user_id_type);
            let request = prepare_with(account(), OperationKind::Update, "42", params).unwrap();
            assert_eq!(
                request.url,
                format!(
                    "https://open.feishu.cn/open-apis/helpdesk/v1/notifications/42?user_id_type={user_id_type}"
                )
            );
            let body: Value = serde_json::from_str(request.body.as_deref().unwrap()).unwrap();
            assert_eq!(body, notification, "user_id_type is not sent in the body");
        }
        for bad in [json!("email"), json!(1), json!("OPEN_ID")] {
            let mut params = notification.clone();
            params["user_id_type"] = bad.clone();
            let error = prepare_with(account(), OperationKind::Update, "42", params).unwrap_err();
            assert_eq!(error.code, "invalid_field", "{bad}");
            assert!(
                error.message.starts_with("params.user_id_type must be"),
                "{}",
                error.message
            );
        }
    }

    #[test]
    fn notification_id_is_encoded_as_one_path_segment() {
        let mut account = account();
        account.base_url = Some("http://127.0.0.1:8902/".into());
        let url = prepare_with(account, OperationKind::Recall, "a/b?c", Value::Null)
            .unwrap()
            .url;
        assert_eq!(
            url,
            "http://127.0.0.1:8902/open-apis/helpdesk/v1/notifications/a%2Fb%3Fc/cancel_send"
        );
    }

    #[test]
    fn bad_input_is_refused_naming_the_field() {
        assert_eq!(
            prepare_with(account(), OperationKind::Recall, "", Value::Null)
                .unwrap_err()
                .code,
            "invalid_remote_id"
        );
        for key in ["user_access_token", "helpdesk_id", "helpdesk_token"] {
            let mut account = account();
            account.credentials.remove(key);
            let error = prepare_with(account, OperationKind::Cancel, "1", Value::Null).unwrap_err();
            assert_eq!(error.message, format!("missing credentials.{key}"));
        }
        let error = prepare_with(
            account(),
            OperationKind::Update,
            "1",
            json!({"push_type": 0}),
        )
        .unwrap_err();
        assert_eq!(error.code, "invalid_field");
    }
}
