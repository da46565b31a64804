use std::time::Duration;

use serde_json::{Value, json};
use warp::test::RequestBuilder;

use crate::config::{ErrorShape, RepeatRecall};
use crate::testkit::{Answer, call, json_request, request, sandbox, sandbox_with};
use crate::wire::basic_credentials;
use crate::{Sandbox, SeedRequest, Vendor};

fn auth(req: RequestBuilder) -> RequestBuilder {
    req.header(
        "authorization",
        format!("Basic {}", basic_credentials("jp-sandbox", "jp-secret")),
    )
}

fn push_body() -> Value {
    json!({
        "platform": "all",
        "audience": {"registration_id": ["rid-1"]},
        "notification": {"alert": "hello"},
        "options": {"sendno": 18},
    })
}

async fn push(sb: &Sandbox, body: &Value) -> Answer {
    call(sb, auth(json_request("POST", "/v3/push", body))).await
}

async fn delete(sb: &Sandbox, msg_id: &str) -> Answer {
    call(sb, auth(request("DELETE", &format!("/v3/push/{msg_id}")))).await
}

fn assert_error(answer: &Answer, status: u16, code: i64, message: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(answer.json["error"]["code"], code, "{}", answer.text);
    let got = answer.json["error"]["message"].as_str().unwrap_or_default();
    assert!(got.contains(message), "{got:?} lacks {message:?}");
}

fn seed(sb: &Sandbox, count: usize, sent_ago_secs: u64) -> Vec<String> {
    sb.seed(&SeedRequest {
        count,
        vendors: vec![Vendor::JPush],
        sent_ago_secs,
    })
    .jpush
}

#[tokio::test]
async fn push_then_delete() {
    let sb = sandbox();
    let sent = push(&sb, &push_body()).await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    assert_eq!(sent.str("sendno"), "18");
    let msg_id = sent.str("msg_id");
    let done = delete(&sb, &msg_id).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.json, json!({"msg_id": msg_id}));
    let stats = sb.stats().jpush;
    assert_eq!((stats.recalled, stats.messages), (1, 1));
    assert_eq!(stats.requests["delete"], 1);
}

#[tokio::test]
async fn answers_carry_rate_limit_headers() {
    let sb = sandbox();
    let sent = push(&sb, &push_body()).await;
    assert_eq!(sent.header("x-rate-limit-quota"), Some("600"));
    assert_eq!(sent.header("x-rate-limit-remaining"), Some("599"));
    assert_eq!(sent.header("x-rate-limit-reset"), Some("60"));
}

#[tokio::test]
async fn unknown_msg_id_is_1003_not_exist() {
    let sb = sandbox();
    assert_error(&delete(&sb, "12345").await, 400, 1003, "msg_id not exist");
    assert_error(&delete(&sb, "abc").await, 400, 1003, "msg_id not exist");
}

#[tokio::test]
async fn repeat_delete_is_refused_and_counted() {
    let sb = sandbox();
    let ids = seed(&sb, 1, 0);
    assert_eq!(delete(&sb, &ids[0]).await.status, 200);
    let again = delete(&sb, &ids[0]).await;
    assert_error(&again, 400, 1003, "msg_id has been withdrawn");
    let stats = sb.stats().jpush;
    assert_eq!((stats.recalled, stats.duplicate_recalls), (1, 1));
}

#[tokio::test]
async fn repeat_delete_can_be_idempotent() {
    let sb = sandbox_with(|c| c.jpush.repeat_delete = RepeatRecall::Idempotent);
    let ids = seed(&sb, 1, 0);
    assert_eq!(delete(&sb, &ids[0]).await.status, 200);
    assert_eq!(delete(&sb, &ids[0]).await.status, 200);
    assert_eq!(sb.stats().jpush.duplicate_recalls, 1);
}

#[tokio::test]
async fn no_window_by_default_one_when_configured() {
    let sb = sandbox();
    let ids = seed(&sb, 2, 30 * 86_400);
    assert_eq!(
        delete(&sb, &ids[0]).await.status,
        200,
        "no window by default"
    );
    sb.update_config(&json!({"jpush": {"delete_window_secs": 86_400}}))
        .expect("valid patch");
    assert_error(&delete(&sb, &ids[1]).await, 400, 1003, "msg_id has expired");
    let fresh = push(&sb, &push_body()).await.str("msg_id");
    sb.advance_clock(Duration::from_secs(86_401));
    assert_error(&delete(&sb, &fresh).await, 400, 1003, "msg_id has expired");
}

fn with_credentials(key: &str, secret: &str) -> RequestBuilder {
    request("DELETE", "/v3/push/1").header(
        "authorization",
        format!("Basic {}", basic_credentials(key, secret)),
    )
}

#[tokio::test]
async fn bad_credentials_are_1004_another_app_key_1008() {
    let sb = sandbox();
    assert_error(
        &call(&sb, request("DELETE", "/v3/push/1")).await,
        401,
        1004,
        "",
    );
    let wrong_secret = with_credentials("jp-sandbox", "el-secret");
    assert_error(&call(&sb, wrong_secret).await, 401, 1004, "");
    let other_key = with_credentials("el-sandbox", "el-secret");
    assert_error(&call(&sb, other_key).await, 400, 1008, "app_key");
    assert_eq!(sb.stats().jpush.auth_failures, 3);
}

#[tokio::test]
async fn another_app_key_can_be_answered_as_1004() {
    let sb = sandbox_with(|c| {
        c.jpush.unknown_app_key = ErrorShape {
            http: 401,
            code: 1004,
        }
    });
    let other_key = with_credentials("el-sandbox", "jp-secret");
    assert_error(&call(&sb, other_key).await, 401, 1004, "");
}

#[tokio::test]
async fn over_600_a_minute_is_2002_with_headers() {
    let sb = sandbox();
    for _ in 0..600 {
        assert_eq!(delete(&sb, "1").await.status, 400, "allowed, unknown id");
    }
    sb.advance_clock(Duration::from_secs(20));
    let limited = delete(&sb, "1").await;
    assert_error(&limited, 429, 2002, "rate limit exceeded");
    assert_eq!(limited.header("x-rate-limit-quota"), Some("600"));
    assert_eq!(limited.header("x-rate-limit-remaining"), Some("0"));
    assert_eq!(limited.header("x-rate-limit-reset"), Some("40"));
    assert_eq!(sb.stats().jpush.rate_limited, 1);
    sb.advance_clock(Duration::from_secs(40));
    assert_error(&delete(&sb, "1").await, 400, 1003, "not exist");
}

#[tokio::test]
async fn switched_off_limits_send_no_headers() {
    let sb = sandbox_with(|c| c.rate_limits.enabled = false);
    let sent = push(&sb, &push_body()).await;
    assert_eq!(sent.status, 200);
    assert_eq!(sent.header("x-rate-limit-quota"), None);
}

#[tokio::test]
async fn wrong_method_is_1001() {
    let sb = sandbox();
    assert_error(
        &call(&sb, auth(request("GET", "/v3/push"))).await,
        405,
        1001,
        "",
    );
    assert_error(
        &call(&sb, auth(request("GET", "/v3/push/123"))).await,
        405,
        1001,
        "",
    );
    assert_eq!(
        call(&sb, auth(request("GET", "/v3/report"))).await.status,
        404
    );
}

#[tokio::test]
async fn push_body_is_validated() {
    let sb = sandbox();
    let cases: [(&str, Value, i64); 6] = [
        ("platform", json!(null), 1002),
        ("audience", json!(null), 1002),
        ("audience", json!({"alias": []}), 1011),
        ("platform", json!(42), 1003),
        ("notification", json!(null), 1002),
        ("notification", json!({"alert": "x".repeat(4001)}), 1005),
    ];
    for (key, value, code) in cases {
        let mut body = push_body();
        match value {
            Value::Null => {
                body.as_object_mut().map(|o| o.remove(key));
            }
            v => body[key] = v,
        }
        let answer = push(&sb, &body).await;
        assert_eq!(answer.json["error"]["code"], code, "{key}: {}", answer.text);
        assert_eq!(answer.status, 400);
    }
    let not_json = auth(request("POST", "/v3/push").body("platform=all"));
    assert_error(&call(&sb, not_json).await, 400, 1003, "");
    assert_eq!(sb.stats().jpush.messages, 0);

    let mut message_only = push_body();
    message_only
        .as_object_mut()
        .map(|o| o.remove("notification"));
    message_only["message"] = json!({"msg_content": "hi"});
    message_only["options"] = json!({});
    let sent = push(&sb, &message_only).await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    assert_eq!(sent.str("sendno"), "0");
}

#[tokio::test]
async fn validate_checks_without_sending() {
    let sb = sandbox();
    let answer = call(
        &sb,
        auth(json_request("POST", "/v3/push/validate", &push_body())),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.str("msg_id"), "0");
    assert_eq!(sb.stats().jpush.messages, 0);
}
