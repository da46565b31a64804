//! The limits DingTalk documents besides the per-second one: 1500 calls a
//! minute per API, the per-user daily cap, the same content once a day,
//! 5000 recipients a minute, and banned content.

use std::time::Duration;

use serde_json::{Value, json};

use super::{api, assert_errcode, recall_body, seed, send_body, token};
use crate::Sandbox;
use crate::config::OverLimit;
use crate::testkit::{sandbox, sandbox_with};

/// Sends `content` to `users`; returns the task_id.
async fn send(sb: &Sandbox, token: &str, users: &str, content: &str) -> i64 {
    let mut body = send_body();
    body["userid_list"] = json!(users);
    body["msg"]["text"]["content"] = json!(content);
    let sent = api(sb, token, "asyncsend_v2", &body).await;
    assert_errcode(&sent, 0);
    sent.int("task_id")
}

async fn result(sb: &Sandbox, token: &str, task_id: i64) -> Value {
    let body = json!({"agent_id": 1000, "task_id": task_id});
    let answer = api(sb, token, "getsendresult", &body).await;
    assert_errcode(&answer, 0);
    answer.json["send_result"].clone()
}

#[tokio::test]
async fn over_the_per_minute_limit_is_90006_until_the_minute_ends() {
    let sb = sandbox_with(|c| {
        c.rate_limits.dingtalk_per_sec = None;
        c.rate_limits.dingtalk_per_min = Some(3);
    });
    let token = token(&sb).await;
    let ids = seed(&sb, 4, 0);
    for id in &ids[..3] {
        assert_errcode(&api(&sb, &token, "recall", &recall_body(id)).await, 0);
    }
    let limited = api(&sb, &token, "recall", &recall_body(&ids[3])).await;
    assert_errcode(&limited, 90006);
    assert_eq!(sb.stats().dingtalk.rate_limited, 1);
    assert_eq!(
        sb.stats().dingtalk.recalled,
        3,
        "the refused call recalled nothing"
    );
    sb.advance_clock(Duration::from_secs(59));
    assert_errcode(
        &api(&sb, &token, "recall", &recall_body(&ids[3])).await,
        90006,
    );
    sb.advance_clock(Duration::from_secs(1));
    assert_errcode(&api(&sb, &token, "recall", &recall_body(&ids[3])).await, 0);
}

#[tokio::test]
async fn the_per_minute_code_can_be_90005_and_1500_is_the_default() {
    let sb = sandbox_with(|c| {
        c.rate_limits.dingtalk_per_min = Some(1);
        c.dingtalk.per_min_limited_errcode = 90005;
    });
    let token = token(&sb).await;
    let progress = json!({"agent_id": 1000, "task_id": 1});
    assert_errcode(
        &api(&sb, &token, "getsendprogress", &progress).await,
        400002,
    );
    assert_errcode(&api(&sb, &token, "getsendprogress", &progress).await, 90005);
    assert_eq!(sandbox().config().rate_limits.dingtalk_per_min, Some(1500));
}

#[tokio::test]
async fn the_same_content_twice_a_day_is_dropped_as_143106() {
    let sb = sandbox();
    let token = token(&sb).await;
    let first = send(&sb, &token, "u1,u2", "hello").await;
    let second = send(&sb, &token, "u1,u2,u3", "hello").await;
    let other = send(&sb, &token, "u1", "something else").await;

    assert_eq!(
        result(&sb, &token, first).await["unread_user_id_list"],
        json!(["u1", "u2"])
    );
    let dropped = result(&sb, &token, second).await;
    assert_eq!(dropped["unread_user_id_list"], json!(["u3"]));
    assert_eq!(dropped["forbidden_user_id_list"], json!(["u1", "u2"]));
    assert_eq!(
        dropped["forbidden_list"],
        json!([
            {"code": "143106", "count": 1, "userid": "u1"},
            {"code": "143106", "count": 1, "userid": "u2"},
        ])
    );
    assert_eq!(
        result(&sb, &token, other).await["unread_user_id_list"],
        json!(["u1"])
    );

    // The next day (China time) it goes through again.
    sb.advance_clock(Duration::from_secs(86_400));
    let token = super::token(&sb).await;
    let next_day = send(&sb, &token, "u1", "hello").await;
    assert_eq!(
        result(&sb, &token, next_day).await["unread_user_id_list"],
        json!(["u1"])
    );
}

#[tokio::test]
async fn over_the_daily_cap_a_user_is_dropped_as_143105() {
    let sb = sandbox_with(|c| c.dingtalk.user_limits.messages_per_user_per_day = Some(2));
    let token = token(&sb).await;
    send(&sb, &token, "u1", "one").await;
    send(&sb, &token, "u1,u2", "two").await;
    let third = send(&sb, &token, "u1,u2", "three").await;
    let got = result(&sb, &token, third).await;
    assert_eq!(got["unread_user_id_list"], json!(["u2"]));
    assert_eq!(
        got["forbidden_list"],
        json!([{"code": "143105", "count": 2, "userid": "u1"}])
    );
    assert_eq!(
        sandbox()
            .config()
            .dingtalk
            .user_limits
            .messages_per_user_per_day,
        Some(500)
    );
}

#[tokio::test]
async fn past_5000_recipients_a_minute_users_are_dropped_into_forbidden() {
    let sb = sandbox_with(|c| c.dingtalk.recipients_per_minute = Some(3));
    let token = token(&sb).await;
    let first = send(&sb, &token, "u1,u2", "one").await;
    // One more fits this minute; u4 and u5 are dropped, yet the send succeeds.
    let second = send(&sb, &token, "u3,u4,u5", "two").await;
    let got = result(&sb, &token, second).await;
    assert_eq!(got["unread_user_id_list"], json!(["u3"]));
    assert_eq!(got["forbidden_user_id_list"], json!(["u4", "u5"]));
    assert_eq!(got["forbidden_list"], json!([]));
    assert_eq!(
        result(&sb, &token, first).await["unread_user_id_list"],
        json!(["u1", "u2"])
    );
    // A dropped user did not receive it: the same content may reach them
    // once the minute is over.
    sb.advance_clock(Duration::from_secs(60));
    let later = send(&sb, &token, "u4,u5", "two").await;
    assert_eq!(
        result(&sb, &token, later).await["unread_user_id_list"],
        json!(["u4", "u5"])
    );
    assert_eq!(
        sandbox().config().dingtalk.recipients_per_minute,
        Some(5000)
    );
}

#[tokio::test]
async fn over_a_limit_the_send_can_be_rejected_instead() {
    let sb = sandbox_with(|c| {
        c.dingtalk.user_limits.answer = OverLimit::Reject;
        c.dingtalk.user_limits.messages_per_user_per_day = Some(1);
    });
    let token = token(&sb).await;
    send(&sb, &token, "u1", "hello").await;
    let mut again = send_body();
    again["userid_list"] = json!("u2,u1");
    again["msg"]["text"]["content"] = json!("hello");
    let duplicate = api(&sb, &token, "asyncsend_v2", &again).await;
    assert_errcode(&duplicate, 143106);
    assert!(duplicate.str("errmsg").contains("u1"), "{}", duplicate.text);
    again["msg"]["text"]["content"] = json!("other");
    assert_errcode(&api(&sb, &token, "asyncsend_v2", &again).await, 143105);
    assert_eq!(
        sb.stats().dingtalk.messages,
        1,
        "a rejected send creates no task"
    );
    // Nothing was recorded for u2: it still gets its first message today.
    send(&sb, &token, "u2", "hello").await;
}

#[tokio::test]
async fn banned_content_is_1430002() {
    let sb = sandbox_with(|c| c.dingtalk.banned_words = vec!["forbidden-word".into()]);
    let token = token(&sb).await;
    let mut body = send_body();
    body["msg"]["text"]["content"] = json!("this has a forbidden-word in it");
    assert_errcode(&api(&sb, &token, "asyncsend_v2", &body).await, 1430002);
    assert_eq!(sb.stats().dingtalk.messages, 0);
    send(&sb, &token, "u1", "harmless").await;
}
