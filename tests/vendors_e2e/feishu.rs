//! Feishu helpdesk: sent notifications are recalled, scheduled ones are
//! cancelled before they go out.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use recalld_tests::api::{count, http};
use recalld_tests::config::Account;
use sandbox::Vendor;
use serde_json::{Value, json};

use crate::setup::Setup;

const NOTIFICATIONS: &str = "/open-apis/helpdesk/v1/notifications";

/// Creates a helpdesk notification through the vendor API and schedules it an
/// hour ahead (state scheduled: approved, not sent yet); its id.
async fn scheduled_notification(client: &reqwest::Client, vendor: &str, now_ms: i64) -> String {
    let helpdesk = B64.encode("hd-sandbox:hd-token-sandbox");
    let call = |path: String, body: Value| {
        client
            .post(format!("http://{vendor}{NOTIFICATIONS}{path}"))
            .bearer_auth("u-sandbox")
            .header("x-lark-helpdesk-authorization", &helpdesk)
            .json(&body)
            .send()
    };
    let created = call(
        String::new(),
        json!({"job_name": "maintenance", "push_content": json!({"elements": []}).to_string(), "push_type": 0,
               "push_scope_type": 2, "user_list": [{"user_id": "ou_1"}]}),
    )
    .await
    .expect("create");
    let created: Value = created.json().await.expect("a JSON answer");
    let id = created["data"]["notification_id"]
        .as_str()
        .unwrap_or_else(|| panic!("create answered {created}"))
        .to_owned();
    for (op, body) in [
        ("submit_approve", json!({"reason": "e2e"})),
        (
            "execute_send",
            json!({"send_at": (now_ms + 3_600_000).to_string()}),
        ),
    ] {
        let answer: Value = call(format!("/{id}/{op}"), body)
            .await
            .expect(op)
            .json()
            .await
            .expect("JSON");
        assert_eq!(answer["code"], 0, "{op}: {answer}");
    }
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn feishu_helpdesk_recall_and_cancel_work_against_the_sandbox() {
    let setup = Setup::start(sandbox::Config::default(), |vendor| {
        vec![Account::sandbox("fs", "feishu-helpdesk", vendor)]
    })
    .await;

    // Sent notifications are recalled.
    let sent = setup.seed(Vendor::Feishu, 5, 0);
    setup.track("fs", &sent, "fs-recall", None).await;
    let job = setup.run_job("recall", "fs-recall").await;
    let stats = setup.vendors.stats().feishu;
    assert_eq!(
        (count(&job, "recalled"), count(&job, "failed")),
        (5, 0),
        "job: {job}\nvendor: {stats:?}"
    );
    assert_eq!(
        (stats.recalled, stats.duplicate_recalls),
        (5, 0),
        "{stats:?}"
    );

    // Scheduled ones are cancelled before they go out.
    let client = http();
    let mut scheduled = Vec::new();
    for _ in 0..3 {
        scheduled.push(
            scheduled_notification(&client, &setup.vendor_addr, setup.vendors.now_ms()).await,
        );
    }
    setup.track("fs", &scheduled, "fs-cancel", None).await;
    let job = setup.run_job("cancel", "fs-cancel").await;
    let stats = setup.vendors.stats().feishu;
    let context = format!("job: {job}\nvendor: {stats:?}");
    assert_eq!(
        (count(&job, "recalled"), count(&job, "failed")),
        (3, 0),
        "{context}"
    );
    assert_eq!(stats.cancelled, 3, "{context}");
    assert_eq!(stats.recalled, 5, "a cancel must not recall: {context}");
    for row in setup.api.ledger("fs-cancel").await {
        assert_eq!(row["state"], "cancelled", "{row}");
    }
    let helpdesk = B64.encode("hd-sandbox:hd-token-sandbox");
    for id in &scheduled {
        let answer: Value = client
            .get(format!("http://{}{NOTIFICATIONS}/{id}", setup.vendor_addr))
            .bearer_auth("u-sandbox")
            .header("x-lark-helpdesk-authorization", &helpdesk)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("JSON");
        assert_eq!(
            answer["data"]["notification"]["status"], 6,
            "{id} is not cancelled: {answer}"
        );
    }
    setup.stop().await;
}
