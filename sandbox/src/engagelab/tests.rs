use std::time::Duration;

use serde_json::{Value, json};
use warp::test::RequestBuilder;

use crate::config::RepeatRecall;
use crate::testkit::{Answer, call, json_request, request, sandbox, sandbox_with};
use crate::wire::basic_credentials;
use crate::{Sandbox, SeedRequest, Vendor};

fn auth(req: RequestBuilder) -> RequestBuilder {
    req.header(
        "authorization",
        format!("Basic {}", basic_credentials("el-sandbox", "el-secret")),
    )
}

fn push_body() -> Value {
    json!({
        "from": "push",
        "to": {"registration_id": ["rid-1"]},
        "body": {"platform": "all", "notification": {"alert": "hello"}},
        "request_id": "req-1",
    })
}

async fn push(sb: &Sandbox, body: &Value) -> Answer {
    call(sb, auth(json_request("POST", "/v4/push", body))).await
}

async fn withdraw(sb: &Sandbox, msg_id: &str) -> Answer {
    call(
        sb,
        auth(request("DELETE", &format!("/v4/push/withdraw/{msg_id}"))),
    )
    .await
}

fn assert_error(answer: &Answer, status: u16, code: i64, message_part: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(answer.json["error"]["code"], code, "{}", answer.text);
    let message = answer.json["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(message_part),
        "{message:?} lacks {message_part:?}"
    );
}

#[tokio::test]
async fn push_then_withdraw() {
    let sb = sandbox();
    let sent = push(&sb, &push_body()).await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    assert_eq!(sent.str("request_id"), "req-1");
    let msg_id = sent.str("msg_id");
    assert!(msg_id.bytes().all(|b| b.is_ascii_digit()), "{msg_id}");

    let done = withdraw(&sb, &msg_id).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.json, json!({"request_id": "", "msg_id": msg_id}));

    let stats = sb.stats().engagelab;
    assert_eq!(stats.recalled, 1);
    assert_eq!(stats.messages, 1);
    assert_eq!(stats.requests["push"], 1);
    assert_eq!(stats.requests["withdraw"], 1);
}

#[tokio::test]
async fn unknown_msg_id_is_21003_not_exist() {
    let sb = sandbox();
    for id in ["1", "nope", "99999999999999"] {
        let answer = withdraw(&sb, id).await;
        assert_error(
            &answer,
            400,
            21003,
            "Parameter value is invalid,msg_id not exist",
        );
    }
}

#[tokio::test]
async fn second_withdraw_is_refused_and_counted() {
    let sb = sandbox();
    let ids = sb.seed(&SeedRequest {
        count: 1,
        vendors: vec![Vendor::EngageLab],
        sent_ago_secs: 0,
    });
    let id = &ids.engagelab[0];
    assert_eq!(withdraw(&sb, id).await.status, 200);
    let again = withdraw(&sb, id).await;
    assert_error(&again, 400, 21003, "withdrawn");
    assert_eq!(
        again.json["error"]["message"],
        "Parameter value is invalid,msg_id has been withdrawn"
    );
    let stats = sb.stats().engagelab;
    assert_eq!((stats.recalled, stats.duplicate_recalls), (1, 1));
}

#[tokio::test]
async fn repeat_withdraw_can_be_switched_to_idempotent() {
    let sb = sandbox_with(|c| c.engagelab.repeat_withdraw = RepeatRecall::Idempotent);
    let id = push(&sb, &push_body()).await.str("msg_id");
    assert_eq!(withdraw(&sb, &id).await.status, 200);
    assert_eq!(withdraw(&sb, &id).await.status, 200);
    assert_eq!(sb.stats().engagelab.duplicate_recalls, 1);
}

#[tokio::test]
async fn withdraw_after_one_day_is_expired() {
    let sb = sandbox();
    let first = push(&sb, &push_body()).await.str("msg_id");
    let second = push(&sb, &push_body()).await.str("msg_id");
    sb.advance_clock(Duration::from_secs(86_400));
    assert_eq!(
        withdraw(&sb, &first).await.status,
        200,
        "exactly one day is inside"
    );
    sb.advance_clock(Duration::from_millis(1));
    let late = withdraw(&sb, &second).await;
    assert_error(&late, 400, 21003, "expired");
    assert_eq!(
        late.json["error"]["message"],
        "Parameter value is invalid,msg_id has expired"
    );
    assert_eq!(sb.stats().engagelab.recalled, 1);
}

#[tokio::test]
async fn seeded_long_ago_is_expired() {
    let sb = sandbox();
    let ids = sb.seed(&SeedRequest {
        count: 2,
        vendors: vec![Vendor::EngageLab],
        sent_ago_secs: 90_000,
    });
    assert_error(
        &withdraw(&sb, &ids.engagelab[1]).await,
        400,
        21003,
        "expired",
    );
}

#[tokio::test]
async fn bad_credentials_are_21004_another_app_key_21008() {
    let sb = sandbox();
    let missing = call(&sb, request("DELETE", "/v4/push/withdraw/1")).await;
    assert_error(&missing, 401, 21004, "");
    let wrong = request("DELETE", "/v4/push/withdraw/1").header(
        "authorization",
        format!("Basic {}", basic_credentials("el-sandbox", "wrong")),
    );
    assert_error(&call(&sb, wrong).await, 401, 21004, "");
    let garbage = request("POST", "/v4/push").header("authorization", "Basic ???");
    assert_error(&call(&sb, garbage).await, 401, 21004, "");
    let other_key = request("DELETE", "/v4/push/withdraw/1").header(
        "authorization",
        format!("Basic {}", basic_credentials("jp-sandbox", "el-secret")),
    );
    assert_error(&call(&sb, other_key).await, 400, 21008, "app_key");
    assert_eq!(sb.stats().engagelab.auth_failures, 4);
}

/// A withdraw with the Basic credentials `user:secret`.
fn withdraw_as(msg_id: &str, user: &str, secret: &str) -> RequestBuilder {
    request("DELETE", &format!("/v4/push/withdraw/{msg_id}")).header(
        "authorization",
        format!("Basic {}", basic_credentials(user, secret)),
    )
}

#[tokio::test]
async fn group_credentials_are_group_key_and_the_group_master_secret() {
    let sb = sandbox();
    let msg_id = push(&sb, &push_body()).await.str("msg_id");
    let wrong = withdraw_as(&msg_id, "group-el-group", "el-secret");
    assert_error(&call(&sb, wrong).await, 401, 21004, "");
    // The bare GroupKey is not a user: the group's is `group-<GroupKey>`.
    let bare = withdraw_as(&msg_id, "el-group", "el-group-secret");
    assert_error(&call(&sb, bare).await, 400, 21008, "app_key");
    let group = withdraw_as(&msg_id, "group-el-group", "el-group-secret");
    let done = call(&sb, group).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(sb.stats().engagelab.recalled, 1);

    let no_group = sandbox_with(|c| c.engagelab.group_key = String::new());
    let refused = withdraw_as(&msg_id, "group-", "el-group-secret");
    assert_error(&call(&no_group, refused).await, 400, 21008, "app_key");
}

#[tokio::test]
async fn over_the_qps_limit_is_23008() {
    let sb = sandbox_with(|c| c.rate_limits.engagelab_per_sec = Some(3));
    for _ in 0..3 {
        assert_eq!(withdraw(&sb, "1").await.status, 400, "allowed, unknown id");
    }
    let limited = withdraw(&sb, "1").await;
    assert_error(&limited, 400, 23008, "rate");
    assert_eq!(sb.stats().engagelab.rate_limited, 1);
    sb.advance_clock(Duration::from_secs(1));
    assert_error(&withdraw(&sb, "1").await, 400, 21003, "not exist");
}

#[tokio::test]
async fn default_limit_is_500_per_second_and_can_be_switched_off() {
    let sb = sandbox();
    let ids = sb.seed(&SeedRequest {
        count: 501,
        vendors: vec![Vendor::EngageLab],
        sent_ago_secs: 0,
    });
    for id in &ids.engagelab[..500] {
        assert_eq!(withdraw(&sb, id).await.status, 200);
    }
    assert_error(&withdraw(&sb, &ids.engagelab[500]).await, 400, 23008, "");
    sb.update_config(&json!({"rate_limits": {"enabled": false}}))
        .expect("valid patch");
    assert_eq!(withdraw(&sb, &ids.engagelab[500]).await.status, 200);
    assert_eq!(sb.stats().engagelab.recalled, 501);
}

#[tokio::test]
async fn wrong_method_is_21001() {
    let sb = sandbox();
    assert_error(
        &call(&sb, auth(request("GET", "/v4/push"))).await,
        405,
        21001,
        "",
    );
    assert_error(
        &call(&sb, auth(request("POST", "/v4/push/withdraw/1"))).await,
        405,
        21001,
        "",
    );
    assert_eq!(
        call(&sb, auth(request("GET", "/v4/elsewhere")))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn push_body_is_validated() {
    let sb = sandbox();
    let mut no_to = push_body();
    no_to.as_object_mut().map(|o| o.remove("to"));
    assert_error(&push(&sb, &no_to).await, 400, 21002, "to");

    let mut empty_to = push_body();
    empty_to["to"] = json!({"registration_id": []});
    assert_error(&push(&sb, &empty_to).await, 400, 21011, "");

    let mut no_body = push_body();
    no_body.as_object_mut().map(|o| o.remove("body"));
    assert_error(&push(&sb, &no_body).await, 400, 21002, "body");

    let mut no_platform = push_body();
    no_platform["body"] = json!({"notification": {"alert": "x"}});
    assert_error(&push(&sb, &no_platform).await, 400, 21002, "platform");

    let mut no_content = push_body();
    no_content["body"] = json!({"platform": "all"});
    assert_error(&push(&sb, &no_content).await, 400, 21002, "notification");

    let mut too_long = push_body();
    too_long["body"]["notification"]["alert"] = json!("x".repeat(4001));
    assert_error(&push(&sb, &too_long).await, 400, 21005, "");

    let not_json = auth(request("POST", "/v4/push").body("to=all"));
    assert_error(&call(&sb, not_json).await, 400, 21003, "");

    assert_eq!(sb.stats().engagelab.messages, 0);
    let mut to_all = push_body();
    to_all["to"] = json!("all");
    assert_eq!(push(&sb, &to_all).await.status, 200);
}

#[tokio::test]
async fn validate_checks_without_sending() {
    let sb = sandbox();
    let answer = call(
        &sb,
        auth(json_request("POST", "/v4/push/validate", &push_body())),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.str("msg_id"), "0");
    assert_eq!(sb.stats().engagelab.messages, 0);
}
