//! The happy paths: tracking, recalls, dry runs, updates, progress, the ledger.

use super::*;

#[tokio::test]
async fn tracking_is_idempotent_and_accepts_rfc3339_times() {
    let h = harness();
    let body = json!({"messages": [
        {"account": "ding", "remote_id": "1", "tags": ["a"], "sent_at": "2026-11-21T10:00:00Z", "meta": {"kind": "otp"}},
        {"account": "feishu", "remote_id": "1"},
    ]});
    let (status, answer) = send(&h, signed("POST", "/v1/messages", &body, BOT)).await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, json!({"inserted": 2, "existing": 0}))
    );
    let (status, answer) = send(&h, signed("POST", "/v1/messages", &body, BOT)).await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, json!({"inserted": 0, "existing": 2}))
    );
    let (_, ledger) = send(&h, signed("GET", "/v1/messages?tag=a", &Value::Null, BOT)).await;
    assert_eq!(
        ledger["messages"][0]["sent_at_ms"],
        json!(1_795_255_200_000_i64)
    );
    assert_eq!(ledger["messages"][0]["meta"], json!({"kind": "otp"}));
}

#[tokio::test]
async fn a_recall_creates_a_job_and_wakes_its_accounts() {
    let h = harness();
    track(
        &h,
        &[
            ("ding", "1", &["incident-7"]),
            ("feishu", "2", &["incident-7"]),
            ("ding", "3", &["other"]),
        ],
    )
    .await;
    let body = json!({"select": {"tags": ["incident-7"]}, "reason": "wrong audience"});
    let (status, answer) = send(&h, signed("POST", "/v1/recalls", &body, BOT)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        answer,
        json!({"job_id": 1, "matched": 2, "per_account": {"ding": 1, "feishu": 1}})
    );
    assert_eq!(
        *h.woken.lock().unwrap(),
        vec!["ding".to_owned(), "feishu".to_owned()]
    );
    let (status, job) = send(&h, signed("GET", "/v1/jobs/1", &Value::Null, BOT)).await;
    assert_eq!(status, StatusCode::OK, "{job}");
    assert_eq!(
        (
            job["state"].as_str(),
            job["total"].as_u64(),
            job["pending"].as_u64()
        ),
        (Some("running"), Some(2), Some(2))
    );
    assert_eq!(
        (job["requested_by"].as_str(), job["reason"].as_str()),
        (Some("bot"), Some("wrong audience"))
    );
    assert_eq!(job["accounts"]["ding"]["pending"], json!(1));
}

#[tokio::test]
async fn a_dry_run_shows_the_matches_and_writes_no_job() {
    let h = harness();
    track(
        &h,
        &[
            ("ding", "1", &["x"]),
            ("ding", "2", &["x"]),
            ("feishu", "3", &["x"]),
        ],
    )
    .await;
    let body = json!({"select": {"tags": ["x"]}, "dry_run": true});
    let (status, answer) = send(&h, signed("POST", "/v1/recalls", &body, BOT)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        (answer["dry_run"].clone(), answer["matched"].clone()),
        (json!(true), json!(3))
    );
    assert_eq!(answer["per_account"], json!({"ding": 2, "feishu": 1}));
    assert_eq!(answer["sample"].as_array().map(Vec::len), Some(3));
    assert_eq!(job_count(&h).await, 0);
    assert!(h.woken.lock().unwrap().is_empty());
    let (status, answer) = send(&h, signed("GET", "/v1/jobs/1", &Value::Null, BOT)).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::NOT_FOUND, "not_found")
    );
}

#[tokio::test]
async fn a_dry_run_over_the_clients_cap_is_refused_like_the_real_job() {
    let h = harness();
    let list: Vec<(String, [&str; 1])> =
        (0..3).map(|i| (format!("m{i}"), ["incident-5"])).collect();
    let messages: Vec<(&str, &str, &[&str])> = list
        .iter()
        .map(|(id, tags)| ("ding", id.as_str(), &tags[..]))
        .collect();
    track(&h, &messages).await;
    // `narrow` may touch 2 messages at once.
    let body = json!({"select": {"tags": ["incident-5"]}, "dry_run": true});
    let (status, dry) = send(&h, signed("POST", "/v1/recalls", &body, NARROW)).await;
    let body = json!({"select": {"tags": ["incident-5"]}});
    let (real_status, real) = send(&h, signed("POST", "/v1/recalls", &body, NARROW)).await;
    assert_eq!(
        (status, code(&dry)),
        (real_status, code(&real)),
        "{dry} / {real}"
    );
    assert_eq!(status, StatusCode::FORBIDDEN, "{dry}");
    assert!(message(&dry).contains("3 messages"), "{dry}");
}

#[tokio::test]
async fn the_ledger_refuses_an_unknown_account() {
    let h = harness();
    let (status, answer) = send(
        &h,
        signed("GET", "/v1/messages?account=nope", &Value::Null, BOT),
    )
    .await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_account"),
        "{answer}"
    );
    assert!(message(&answer).contains("ding"), "{answer}");
}

#[tokio::test]
async fn an_update_is_a_job_with_the_content_as_params() {
    let h = harness();
    track(&h, &[("feishu", "f1", &["draft"])]).await;
    let body = json!({"account": "feishu", "remote_id": "f1", "content": {"title": "Fixed"}, "reason": "typo"});
    let (status, answer) = send(&h, signed("POST", "/v1/updates", &body, BOT)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        (answer["job_id"].clone(), answer["matched"].clone()),
        (json!(1), json!(1))
    );
    let job = h.store.claim("feishu".into(), i64::MAX, 10).await.unwrap();
    assert_eq!(
        (job[0].action, job[0].params.clone()),
        (OperationKind::Update, json!({"title": "Fixed"}))
    );
    let missing = json!({"account": "feishu", "remote_id": "never-tracked", "content": {}});
    let (status, answer) = send(&h, signed("POST", "/v1/updates", &missing, BOT)).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::NOT_FOUND, "not_found"),
        "{answer}"
    );
    assert_eq!(job_count(&h).await, 1);
}

#[tokio::test]
async fn the_ledger_pages_with_next_after() {
    let h = harness();
    let five: Vec<(String, [&str; 1])> = (0..5).map(|i| (format!("m{i}"), ["page"])).collect();
    let list: Vec<(&str, &str, &[&str])> = five
        .iter()
        .map(|(id, tags)| ("ding", id.as_str(), &tags[..]))
        .collect();
    track(&h, &list).await;
    track(&h, &[("feishu", "elsewhere", &["page"])]).await;
    let (status, first) = send(
        &h,
        signed(
            "GET",
            "/v1/messages?tag=page&account=ding&limit=3",
            &Value::Null,
            BOT,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["messages"].as_array().map(Vec::len), Some(3));
    let after = first["next_after"]
        .as_i64()
        .expect("a full page has a cursor");
    let path = format!("/v1/messages?tag=page&account=ding&limit=3&after={after}");
    let (_, second) = send(&h, signed("GET", &path, &Value::Null, BOT)).await;
    assert_eq!(second["messages"].as_array().map(Vec::len), Some(2));
    assert_eq!(second["next_after"], Value::Null);
    assert_eq!(second["messages"][1]["remote_id"], json!("m4"));
}

#[tokio::test]
async fn reads_need_the_read_scope() {
    let h = harness();
    let (status, answer) = send(&h, github("GET", "/v1/jobs/1", b"", HUB, "d-read")).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::FORBIDDEN, "forbidden_action"),
        "{answer}"
    );
}
