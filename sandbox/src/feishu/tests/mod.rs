use std::time::Duration;

use serde_json::{Value, json};
use warp::test::RequestBuilder;

use crate::config::RepeatRecall;
use crate::testkit::{Answer, call, json_request, request, sandbox, sandbox_with};
use crate::wire::basic_credentials;
use crate::{Sandbox, SeedRequest, Vendor};

const BASE: &str = "/open-apis/helpdesk/v1/notifications";

fn helpdesk_header() -> String {
    // Same encoding as Basic credentials: base64("id:token").
    basic_credentials("hd-sandbox", "hd-token-sandbox")
}

fn auth(req: RequestBuilder) -> RequestBuilder {
    req.header("authorization", "Bearer u-sandbox")
        .header("x-lark-helpdesk-authorization", helpdesk_header())
}

fn notification() -> Value {
    json!({
        "job_name": "maintenance",
        "push_content": json!({"elements": []}).to_string(),
        "push_type": 0,
        "push_scope_type": 2,
        "user_list": [{"user_id": "ou_1"}],
    })
}

async fn create(sb: &Sandbox) -> String {
    let answer = call(sb, auth(json_request("POST", BASE, &notification()))).await;
    assert_eq!(answer.int("code"), 0, "{}", answer.text);
    assert_eq!(answer.json["data"]["status"], 0);
    answer.json["data"]["notification_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn op(sb: &Sandbox, id: &str, name: &str, body: &Value) -> Answer {
    call(
        sb,
        auth(json_request("POST", &format!("{BASE}/{id}/{name}"), body)),
    )
    .await
}

async fn patch(sb: &Sandbox, id: &str, body: &Value) -> Answer {
    call(
        sb,
        auth(json_request("PATCH", &format!("{BASE}/{id}"), body)),
    )
    .await
}

async fn status(sb: &Sandbox, id: &str) -> i64 {
    let answer = call(
        sb,
        auth(request("GET", &format!("{BASE}/{id}?user_id_type=open_id"))),
    )
    .await;
    assert_eq!(answer.int("code"), 0, "{}", answer.text);
    answer.json["data"]["notification"]["status"]
        .as_i64()
        .unwrap_or(-1)
}

fn assert_fail(answer: &Answer, http: u16, code: i64) {
    assert_eq!(answer.status, http, "{}", answer.text);
    assert_eq!(answer.int("code"), code, "{}", answer.text);
}

fn assert_ok(answer: &Answer) {
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json["code"], 0, "{}", answer.text);
    assert_eq!(answer.json["msg"], "success");
    assert!(answer.json["data"].is_object(), "{}", answer.text);
}

/// Creates a notification and takes it to approved.
async fn approved(sb: &Sandbox) -> String {
    let id = create(sb).await;
    assert_ok(&op(sb, &id, "submit_approve", &json!({"reason": "r"})).await);
    id
}

fn send_at(sb: &Sandbox, in_ms: i64) -> Value {
    json!({"send_at": (sb.now_ms() + in_ms).to_string()})
}

#[tokio::test]
async fn full_lifecycle_to_recall() {
    let sb = sandbox();
    let id = create(&sb).await;
    assert_ok(&patch(&sb, &id, &json!({"job_name": "renamed"})).await);
    assert_ok(&op(&sb, &id, "preview", &json!({})).await);
    let submitted = op(&sb, &id, "submit_approve", &json!({"reason": "ok"})).await;
    assert_ok(&submitted);
    assert_eq!(submitted.json["data"]["has_access"], true);
    assert_eq!(status(&sb, &id).await, 2);

    assert_ok(&op(&sb, &id, "execute_send", &send_at(&sb, 60_000)).await);
    assert_eq!(status(&sb, &id).await, 3, "scheduled");
    sb.advance_clock(Duration::from_secs(60));
    assert_eq!(status(&sb, &id).await, 4, "sending once send_at passes");
    sb.advance_clock(Duration::from_secs(5));
    assert_eq!(status(&sb, &id).await, 5, "sent");

    let got = call(&sb, auth(request("GET", &format!("{BASE}/{id}")))).await;
    let n = &got.json["data"]["notification"];
    assert_eq!(n["job_name"], "renamed");
    assert_eq!(n["id"], id.as_str());
    assert!(n["send_at"].is_string() && n["created_at"].is_string());
    assert_eq!(n["sent_user_count"], 1);
    assert!(got.json["data"]["approval_app_link"].is_string());

    assert_ok(&op(&sb, &id, "cancel_send", &json!({"is_recall": true})).await);
    assert_eq!(status(&sb, &id).await, 7, "recalled");
    let again = op(&sb, &id, "cancel_send", &json!({"is_recall": true})).await;
    assert_ok(&again);
    let stats = sb.stats().feishu;
    assert_eq!((stats.recalled, stats.duplicate_recalls), (1, 1));
    assert_eq!(stats.requests["cancel_send"], 2);
    assert_eq!(stats.requests["create"], 1);
}

#[tokio::test]
async fn repeat_recall_can_be_rejected() {
    let sb = sandbox_with(|c| c.feishu.repeat_recall = RepeatRecall::Reject);
    let ids = sb.seed(&SeedRequest {
        count: 1,
        vendors: vec![Vendor::Feishu],
        sent_ago_secs: 0,
    });
    let id = &ids.feishu[0];
    assert_ok(&op(&sb, id, "cancel_send", &json!({"is_recall": true})).await);
    let again = op(&sb, id, "cancel_send", &json!({"is_recall": true})).await;
    assert_fail(&again, 405, 154005);
    assert_eq!(
        again.str("msg"),
        "Method Forbidden: notification is recalled"
    );
    assert_eq!(sb.stats().feishu.duplicate_recalls, 1);
}

#[tokio::test]
async fn seeded_notifications_are_sent_and_recallable() {
    let sb = sandbox();
    let ids = sb.seed(&SeedRequest {
        count: 3,
        vendors: vec![Vendor::Feishu],
        sent_ago_secs: 3600,
    });
    assert_eq!(status(&sb, &ids.feishu[2]).await, 5);
    for id in &ids.feishu {
        assert_ok(&op(&sb, id, "cancel_send", &json!({"is_recall": true})).await);
    }
    assert_eq!(sb.stats().feishu.recalled, 3);
}

#[tokio::test]
async fn wrong_state_is_405_154005() {
    let sb = sandbox();
    let draft = create(&sb).await;
    let early = op(&sb, &draft, "execute_send", &send_at(&sb, 0)).await;
    assert_fail(&early, 405, 154005);
    assert_eq!(early.str("msg"), "Method Forbidden: notification is draft");
    assert_fail(
        &op(&sb, &draft, "cancel_send", &json!({"is_recall": true})).await,
        405,
        154005,
    );
    assert_fail(
        &op(&sb, &draft, "cancel_approve", &json!({})).await,
        405,
        154005,
    );

    let approved = approved(&sb).await;
    let late_patch = patch(&sb, &approved, &json!({"job_name": "x"})).await;
    assert_fail(&late_patch, 405, 154005);
    assert_eq!(
        late_patch.str("msg"),
        "Method Forbidden: notification is approved"
    );
    assert_fail(
        &op(
            &sb,
            &approved,
            "submit_approve",
            &json!({"reason": "again"}),
        )
        .await,
        405,
        154005,
    );

    let ids = sb.seed(&SeedRequest {
        count: 1,
        vendors: vec![Vendor::Feishu],
        sent_ago_secs: 0,
    });
    let sent = op(
        &sb,
        &ids.feishu[0],
        "cancel_send",
        &json!({"is_recall": false}),
    )
    .await;
    assert_fail(&sent, 405, 154005);
    assert_eq!(sent.str("msg"), "Method Forbidden: notification is sent");
}

#[tokio::test]
async fn wrong_state_answer_is_configurable() {
    let sb = sandbox_with(|c| {
        c.feishu.wrong_state = crate::ErrorShape {
            http: 400,
            code: 154000,
        }
    });
    let draft = create(&sb).await;
    assert_fail(
        &op(&sb, &draft, "execute_send", &send_at(&sb, 0)).await,
        400,
        154000,
    );
}

#[tokio::test]
async fn cancel_without_recall_stops_a_scheduled_send() {
    let sb = sandbox();
    let id = approved(&sb).await;
    assert_ok(&op(&sb, &id, "execute_send", &send_at(&sb, 3_600_000)).await);
    assert_ok(&op(&sb, &id, "cancel_send", &json!({"is_recall": false})).await);
    assert_eq!(status(&sb, &id).await, 6, "cancelled");
    sb.advance_clock(Duration::from_secs(7200));
    assert_eq!(status(&sb, &id).await, 6, "the scheduler leaves it alone");
    assert_ok(&op(&sb, &id, "cancel_send", &json!({"is_recall": false})).await);
    assert_ok(&op(&sb, &id, "cancel_send", &json!({"is_recall": true})).await);
    assert_eq!(status(&sb, &id).await, 7);
    let stats = sb.stats().feishu;
    assert_eq!(
        (stats.cancelled, stats.recalled, stats.duplicate_recalls),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn recall_while_sending() {
    let sb = sandbox();
    let id = approved(&sb).await;
    assert_ok(&op(&sb, &id, "execute_send", &send_at(&sb, 0)).await);
    assert_eq!(status(&sb, &id).await, 4, "send_at now: sending at once");
    assert_ok(&op(&sb, &id, "cancel_send", &json!({"is_recall": true})).await);
    sb.advance_clock(Duration::from_secs(10));
    assert_eq!(status(&sb, &id).await, 7);
}

#[tokio::test]
async fn unknown_id_is_404_154004() {
    let sb = sandbox();
    for id in ["1", "abc", "6981801914270744596"] {
        assert_fail(
            &op(&sb, id, "cancel_send", &json!({"is_recall": true})).await,
            404,
            154004,
        );
        assert_fail(
            &call(&sb, auth(request("GET", &format!("{BASE}/{id}")))).await,
            404,
            154004,
        );
    }
}

#[tokio::test]
async fn bodies_violating_constraints_are_400_154000() {
    let sb = sandbox();
    let cases = [
        json!({"push_type": 0, "push_scope_type": 3}),
        json!({"push_type": 1, "push_scope_type": 2}),
        json!({"push_scope_type": 0}),
        json!({"push_scope_type": 1}),
        json!({"user_list": [], "department_list": []}),
        json!({"push_content": "not json"}),
        json!({"job_name": null}),
    ];
    for change in &cases {
        let mut body = notification();
        for (k, v) in change.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        let answer = call(&sb, auth(json_request("POST", BASE, &body))).await;
        assert_fail(&answer, 400, 154000);
    }
    let id = create(&sb).await;
    assert_fail(
        &patch(&sb, &id, &json!({"push_scope_type": 0})).await,
        400,
        154000,
    );
    assert_fail(
        &op(&sb, &id, "submit_approve", &json!({})).await,
        400,
        154000,
    );
    let approved = approved(&sb).await;
    assert_fail(
        &op(&sb, &approved, "execute_send", &json!({"send_at": 123})).await,
        400,
        154000,
    );
    assert_fail(
        &op(&sb, &approved, "cancel_send", &json!({})).await,
        400,
        154000,
    );
    let bad_kind = call(
        &sb,
        auth(json_request(
            "POST",
            &format!("{BASE}?user_id_type=email"),
            &notification(),
        )),
    )
    .await;
    assert_fail(&bad_kind, 400, 154000);
    assert_eq!(sb.stats().feishu.messages, 2);
}

#[tokio::test]
async fn review_when_the_creator_is_not_the_owner() {
    let sb = sandbox_with(|c| c.feishu.creator_is_owner = false);
    let id = create(&sb).await;
    let submitted = op(&sb, &id, "submit_approve", &json!({"reason": "r"})).await;
    assert_eq!(submitted.json["data"]["has_access"], false);
    assert_eq!(status(&sb, &id).await, 1, "in review");
    assert_fail(
        &op(&sb, &id, "execute_send", &send_at(&sb, 0)).await,
        405,
        154005,
    );
    assert_ok(&op(&sb, &id, "cancel_approve", &json!({})).await);
    assert_eq!(status(&sb, &id).await, 0);
    assert_ok(&op(&sb, &id, "submit_approve", &json!({"reason": "r"})).await);
    let approve = call(
        &sb,
        request(
            "POST",
            &format!("/_sandbox/feishu/notifications/{id}/approve"),
        ),
    )
    .await;
    assert_eq!(approve.status, 200, "{}", approve.text);
    assert_eq!(status(&sb, &id).await, 2);
    assert!(!sb.approve_feishu(&id), "no longer in review");
}

#[tokio::test]
async fn status_codes_are_configurable() {
    let sb = sandbox_with(|c| c.feishu.status_codes.draft = 10);
    let answer = call(&sb, auth(json_request("POST", BASE, &notification()))).await;
    assert_eq!(answer.json["data"]["status"], 10);
}

mod access;
