mod limits;

use std::time::Duration;

use serde_json::{Value, json};

use crate::config::RepeatRecall;
use crate::testkit::{Answer, call, json_request, request, sandbox, sandbox_with};
use crate::{Sandbox, SeedRequest, Vendor};

const BASE: &str = "/topapi/message/corpconversation";

async fn token(sb: &Sandbox) -> String {
    let answer = call(
        sb,
        request("GET", "/gettoken?appkey=ding-sandbox&appsecret=ding-secret"),
    )
    .await;
    assert_eq!(answer.int("errcode"), 0, "{}", answer.text);
    answer.str("access_token")
}

async fn api(sb: &Sandbox, token: &str, op: &str, body: &Value) -> Answer {
    let path = format!("{BASE}/{op}?access_token={token}");
    call(sb, json_request("POST", &path, body)).await
}

async fn form(sb: &Sandbox, token: &str, op: &str, body: &str) -> Answer {
    let path = format!("{BASE}/{op}?access_token={token}");
    let req = request("POST", &path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    call(sb, req).await
}

fn send_body() -> Value {
    json!({
        "agent_id": 1000,
        "userid_list": "u1,u2",
        "msg": {"msgtype": "text", "text": {"content": "hello"}},
    })
}

fn assert_errcode(answer: &Answer, errcode: i64) {
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.int("errcode"), errcode, "{}", answer.text);
}

fn seed(sb: &Sandbox, count: usize, sent_ago_secs: u64) -> Vec<String> {
    sb.seed(&SeedRequest {
        count,
        vendors: vec![Vendor::DingTalk],
        sent_ago_secs,
    })
    .dingtalk
}

fn recall_body(task_id: &str) -> Value {
    json!({"agent_id": 1000, "msg_task_id": task_id.parse::<i64>().unwrap_or(-1)})
}

#[tokio::test]
async fn send_progress_result_recall() {
    let sb = sandbox();
    let token = token(&sb).await;
    let sent = api(&sb, &token, "asyncsend_v2", &send_body()).await;
    assert_errcode(&sent, 0);
    assert!(!sent.str("request_id").is_empty());
    let task_id = sent.int("task_id");
    let query = json!({"agent_id": 1000, "task_id": task_id});

    let progress = api(&sb, &token, "getsendprogress", &query).await;
    assert_errcode(&progress, 0);
    assert_eq!(
        progress.json["progress"],
        json!({"progress_in_percent": 100, "status": 2})
    );

    let result = api(&sb, &token, "getsendresult", &query).await;
    assert_errcode(&result, 0);
    assert_eq!(
        result.json["send_result"]["unread_user_id_list"],
        json!(["u1", "u2"])
    );

    let recall = api(
        &sb,
        &token,
        "recall",
        &json!({"agent_id": 1000, "msg_task_id": task_id}),
    )
    .await;
    assert_errcode(&recall, 0);
    assert_eq!(recall.str("errmsg"), "ok");
    let stats = sb.stats().dingtalk;
    assert_eq!((stats.recalled, stats.messages), (1, 1));
    assert_eq!(stats.requests["gettoken"], 1);
    assert_eq!(stats.requests["asyncsend_v2"], 1);
}

#[tokio::test]
async fn form_encoded_bodies_are_accepted() {
    let sb = sandbox();
    let token = token(&sb).await;
    let msg = "%7B%22msgtype%22%3A%22text%22%2C%22text%22%3A%7B%22content%22%3A%22hi%22%7D%7D";
    let sent = form(
        &sb,
        &token,
        "asyncsend_v2",
        &format!("agent_id=1000&userid_list=u1&msg={msg}"),
    )
    .await;
    assert_errcode(&sent, 0);
    let task_id = sent.int("task_id");
    let recall = form(
        &sb,
        &token,
        "recall",
        &format!("agent_id=1000&msg_task_id={task_id}"),
    )
    .await;
    assert_errcode(&recall, 0);
    assert_eq!(sb.stats().dingtalk.recalled, 1);
}

#[tokio::test]
async fn repeat_gettoken_returns_the_same_token_and_extends_it() {
    let sb = sandbox();
    let first = call(
        &sb,
        request("GET", "/gettoken?appkey=ding-sandbox&appsecret=ding-secret"),
    )
    .await;
    assert_eq!(first.int("expires_in"), 7200);
    let first = first.str("access_token");
    sb.advance_clock(Duration::from_secs(7000));
    assert_eq!(token(&sb).await, first);
    sb.advance_clock(Duration::from_secs(7000));
    let ids = seed(&sb, 1, 0);
    assert_errcode(&api(&sb, &first, "recall", &recall_body(&ids[0])).await, 0);
}

#[tokio::test]
async fn expired_token_is_42001_and_unknown_is_40014() {
    let sb = sandbox();
    let old = token(&sb).await;
    let ids = seed(&sb, 1, 0);
    sb.advance_clock(Duration::from_secs(7200));
    assert_errcode(
        &api(&sb, &old, "recall", &recall_body(&ids[0])).await,
        42001,
    );
    let fresh = token(&sb).await;
    assert_ne!(fresh, old);
    assert_errcode(
        &api(&sb, "not-a-token", "recall", &recall_body(&ids[0])).await,
        40014,
    );
    let missing = call(
        &sb,
        json_request("POST", &format!("{BASE}/recall"), &recall_body(&ids[0])),
    )
    .await;
    assert_errcode(&missing, 40014);
    assert_eq!(sb.stats().dingtalk.auth_failures, 3);
    assert_errcode(&api(&sb, &fresh, "recall", &recall_body(&ids[0])).await, 0);
}

#[tokio::test]
async fn wrong_app_credentials_are_refused() {
    let sb = sandbox();
    for query in [
        "appkey=ding-sandbox&appsecret=nope",
        "appkey=other&appsecret=ding-secret",
        "",
    ] {
        let answer = call(&sb, request("GET", &format!("/gettoken?{query}"))).await;
        assert_errcode(&answer, 40089);
        assert!(answer.json.get("access_token").is_none());
    }
    assert_eq!(sb.stats().dingtalk.auth_failures, 3);
}

#[tokio::test]
async fn unknown_agent_or_task_is_400002() {
    let sb = sandbox();
    let token = token(&sb).await;
    let mut other_agent = send_body();
    other_agent["agent_id"] = json!(999);
    assert_errcode(
        &api(&sb, &token, "asyncsend_v2", &other_agent).await,
        400002,
    );
    let ids = seed(&sb, 1, 0);
    let task: i64 = ids[0].parse().unwrap_or_default();
    let cases = [
        ("recall", json!({"agent_id": 999, "msg_task_id": task})),
        ("recall", json!({"agent_id": 1000, "msg_task_id": 1})),
        ("recall", json!({"agent_id": 1000})),
        (
            "getsendprogress",
            json!({"agent_id": 1000, "task_id": task + 1}),
        ),
        ("getsendresult", json!({"agent_id": 1000, "task_id": 7})),
    ];
    for (op, body) in cases {
        let answer = api(&sb, &token, op, &body).await;
        assert_errcode(&answer, 400002);
        assert!(
            answer.str("errmsg").starts_with("invalid"),
            "{}",
            answer.text
        );
    }
    assert_eq!(sb.stats().dingtalk.recalled, 0);
}

#[tokio::test]
async fn recall_after_24_hours_is_refused() {
    let sb = sandbox();
    let ids = seed(&sb, 2, 0);
    sb.advance_clock(Duration::from_secs(86_400));
    let token = token(&sb).await;
    assert_errcode(&api(&sb, &token, "recall", &recall_body(&ids[0])).await, 0);
    sb.advance_clock(Duration::from_secs(1));
    let late = api(&sb, &token, "recall", &recall_body(&ids[1])).await;
    assert_errcode(&late, 400002);
    assert_eq!(
        late.str("errmsg"),
        "invalid taskId: recall window (24h) has passed"
    );
    let query = json!({"agent_id": 1000, "task_id": ids[1].parse::<i64>().unwrap_or_default()});
    assert_errcode(&api(&sb, &token, "getsendprogress", &query).await, 400002);
}

#[tokio::test]
async fn repeat_recall_is_idempotent_and_counted() {
    let sb = sandbox();
    let token = token(&sb).await;
    let ids = seed(&sb, 1, 0);
    assert_errcode(&api(&sb, &token, "recall", &recall_body(&ids[0])).await, 0);
    let again = api(&sb, &token, "recall", &recall_body(&ids[0])).await;
    assert_errcode(&again, 0);
    assert_eq!(again.str("errmsg"), "ok");
    let stats = sb.stats().dingtalk;
    assert_eq!((stats.recalled, stats.duplicate_recalls), (1, 1));
}

#[tokio::test]
async fn repeat_recall_can_be_rejected() {
    let sb = sandbox_with(|c| c.dingtalk.repeat_recall = RepeatRecall::Reject);
    let token = token(&sb).await;
    let ids = seed(&sb, 1, 0);
    assert_errcode(&api(&sb, &token, "recall", &recall_body(&ids[0])).await, 0);
    assert_errcode(
        &api(&sb, &token, "recall", &recall_body(&ids[0])).await,
        400002,
    );
}

#[tokio::test]
async fn over_40_a_second_per_api_is_90018() {
    let sb = sandbox();
    let token = token(&sb).await;
    let ids = seed(&sb, 41, 0);
    for id in &ids[..40] {
        assert_errcode(&api(&sb, &token, "recall", &recall_body(id)).await, 0);
    }
    let limited = api(&sb, &token, "recall", &recall_body(&ids[40])).await;
    assert_errcode(&limited, 90018);
    assert_eq!(sb.stats().dingtalk.rate_limited, 1);
    let progress = json!({"agent_id": 1000, "task_id": ids[0].parse::<i64>().unwrap_or_default()});
    assert_errcode(&api(&sb, &token, "getsendprogress", &progress).await, 0);
    sb.advance_clock(Duration::from_secs(1));
    assert_errcode(&api(&sb, &token, "recall", &recall_body(&ids[40])).await, 0);
}

#[tokio::test]
async fn send_needs_recipients_and_a_msg() {
    let sb = sandbox();
    let token = token(&sb).await;
    let mut nobody = send_body();
    nobody["userid_list"] = json!("");
    assert_errcode(&api(&sb, &token, "asyncsend_v2", &nobody).await, 1430000);
    let mut everyone = nobody.clone();
    everyone["to_all_user"] = json!(true);
    assert_errcode(&api(&sb, &token, "asyncsend_v2", &everyone).await, 0);
    let mut no_msg = send_body();
    no_msg["msg"] = json!({"text": {"content": "x"}});
    assert_errcode(&api(&sb, &token, "asyncsend_v2", &no_msg).await, 40035);
    let garbage =
        request("POST", &format!("{BASE}/asyncsend_v2?access_token={token}")).body("{oops");
    assert_errcode(&call(&sb, garbage).await, 40035);
}

#[tokio::test]
async fn recipients_over_the_cap_are_dropped_not_refused() {
    let sb = sandbox_with(|c| c.dingtalk.max_recipients = 2);
    let token = token(&sb).await;
    let mut body = send_body();
    body["userid_list"] = json!("u1,u2,u3");
    let sent = api(&sb, &token, "asyncsend_v2", &body).await;
    assert_errcode(&sent, 0);
    let query = json!({"agent_id": 1000, "task_id": sent.int("task_id")});
    let result = api(&sb, &token, "getsendresult", &query).await;
    assert_eq!(
        result.json["send_result"]["forbidden_user_id_list"],
        json!(["u3"])
    );
}

#[tokio::test]
async fn error_status_is_configurable() {
    let sb = sandbox_with(|c| c.dingtalk.error_http_status = 400);
    let answer = api(&sb, "nope", "recall", &json!({})).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.int("errcode"), 40014);
}

#[tokio::test]
async fn wrong_method_and_unknown_path() {
    let sb = sandbox();
    assert_eq!(call(&sb, request("POST", "/gettoken")).await.status, 405);
    assert_eq!(
        call(&sb, request("GET", &format!("{BASE}/recall")))
            .await
            .status,
        405
    );
    assert_eq!(
        call(&sb, request("POST", "/topapi/nothing")).await.status,
        404
    );
}
