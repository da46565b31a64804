//! Tag scopes beyond `POST /v1/recalls`: what a client with narrow tag
//! patterns may read (ledger, jobs), track, and fire through event rules.

use super::*;

async fn get(h: &Harness, path: &str, secret: &str) -> (StatusCode, Value) {
    send(h, signed("GET", path, &Value::Null, secret)).await
}

fn remote_ids(ledger: &Value) -> Vec<&str> {
    ledger["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["remote_id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_narrow_client_reads_the_ledger_only_by_a_tag_it_may_select() {
    let h = harness();
    track(
        &h,
        &[("ding", "1", &["incident-1"]), ("ding", "2", &["billing"])],
    )
    .await;
    for path in [
        "/v1/messages",
        "/v1/messages?tag=billing",
        "/v1/messages?account=ding",
    ] {
        let (status, answer) = get(&h, path, NARROW).await;
        assert_eq!(
            (status, code(&answer)),
            (StatusCode::FORBIDDEN, "forbidden_tags"),
            "{path}: {answer}"
        );
        assert!(message(&answer).contains("incident-*"), "{answer}");
    }
    let (status, answer) = get(&h, "/v1/messages?tag=incident-1", NARROW).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(remote_ids(&answer), ["1"]);
    // `bot` has the pattern `*`: the whole ledger.
    let (status, answer) = get(&h, "/v1/messages", BOT).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(remote_ids(&answer), ["1", "2"]);
}

#[tokio::test]
async fn a_job_is_shown_only_to_its_requester_or_a_client_that_may_select_its_tags() {
    let h = harness();
    track(
        &h,
        &[("ding", "1", &["incident-1"]), ("ding", "2", &["billing"])],
    )
    .await;
    let recall = |select: Value, secret: &'static str| {
        let body = json!({"select": select, "reason": "secret reason"});
        signed("POST", "/v1/recalls", &body, secret)
    };
    for (select, secret) in [
        (json!({"tags": ["billing"]}), BOT),
        (json!({"tags": ["incident-1"]}), BOT),
        (json!({"tags": ["incident-1"], "ids": ["1"]}), BOT),
        (json!({"tags": ["incident-1"], "meta": {"k": "v"}}), BOT),
        (json!({"tags": ["incident-1"], "sent_after": 0}), NARROW),
    ] {
        let (status, answer) = send(&h, recall(select, secret)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    }
    let (status, answer) = send(
        &h,
        signed(
            "POST",
            "/v1/updates",
            &json!({"account": "feishu", "remote_id": "x", "content": {}}),
            BOT,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    // Job 1 selects billing; 3 and 4 select by ids or meta as well.
    for hidden in [1, 3, 4] {
        let (status, answer) = get(&h, &format!("/v1/jobs/{hidden}"), NARROW).await;
        assert_eq!(
            (status, code(&answer)),
            (StatusCode::NOT_FOUND, "not_found"),
            "job {hidden}: {answer}"
        );
        assert!(!answer.to_string().contains("secret reason"), "{answer}");
    }
    let (status, answer) = get(&h, "/v1/jobs/2", NARROW).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = get(&h, "/v1/jobs/5", NARROW).await;
    assert_eq!(
        (status, answer["requested_by"].as_str()),
        (StatusCode::OK, Some("narrow"))
    );
    for job in 1..=5 {
        let (status, answer) = get(&h, &format!("/v1/jobs/{job}"), BOT).await;
        assert_eq!(status, StatusCode::OK, "job {job}: {answer}");
    }
}

#[tokio::test]
async fn a_narrow_client_tracks_only_tags_it_may_select() {
    let h = harness_with_rules(
        "rules:\n  - name: otp-expiry\n    on: {sent: {tags: [otp]}, after: 10m}\n    do: recall\n",
    );
    let body = json!({"messages": [
        {"account": "ding", "remote_id": "a", "tags": ["incident-1"]},
        {"account": "ding", "remote_id": "someone-elses", "tags": ["otp"]},
    ]});
    let (status, answer) = send(&h, signed("POST", "/v1/messages", &body, TRACKER)).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::FORBIDDEN, "forbidden_tags"),
        "{answer}"
    );
    assert!(message(&answer).contains("\"otp\""), "{answer}");
    // Nothing was tracked, so no age recall of the other message is planned.
    assert_eq!(h.store.next_age_due().await.unwrap(), None);
    let (_, ledger) = get(&h, "/v1/messages", BOT).await;
    assert_eq!(remote_ids(&ledger), Vec::<&str>::new());
    let body = json!({"messages": [{"account": "ding", "remote_id": "a", "tags": ["incident-1"]}]});
    let (status, answer) = send(&h, signed("POST", "/v1/messages", &body, TRACKER)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

const EVENT_RULES: &str = r#"
rules:
  - name: incident-cancel
    on: {event: incident.closed}
    select: {tags: ["incident-{{ event.id }}"]}
    do: cancel
  - name: incident-recall
    on: {event: incident.closed}
    select: {tags: ["incident-{{ event.id }}"]}
    do: recall
  - name: any-tag
    on: {event: incident.tagged}
    select: {tags: ["{{ event.tag }}"]}
    do: recall
"#;

#[tokio::test]
async fn an_event_fires_only_rules_whose_action_and_payload_tags_the_client_may_use() {
    let h = harness_with_rules(EVENT_RULES);
    track(
        &h,
        &[
            ("feishu", "1", &["incident-3"]),
            ("feishu", "2", &["billing"]),
        ],
    )
    .await;
    let event = |name: &str, payload: Value| {
        signed("POST", &format!("/v1/events/{name}"), &payload, NARROW)
    };
    // `narrow` may recall but not cancel: one rule fires, one is refused.
    let (status, answer) = send(&h, event("incident.closed", json!({"id": 3}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["jobs"][0]["rule"], json!("incident-recall"));
    assert_eq!(answer["refused"][0]["rule"], json!("incident-cancel"));
    let error = answer["refused"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("may not cancel") && error.contains("scopes.actions"),
        "{error}"
    );
    // The payload fills the tag slot: only tags `narrow` may select.
    let (status, answer) = send(&h, event("incident.tagged", json!({"tag": "billing"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let error = answer["refused"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("\"billing\"") && error.contains("incident-*"),
        "{error}"
    );
    assert_eq!(job_count(&h).await, 1);
    let (status, answer) = send(&h, event("incident.tagged", json!({"tag": "incident-3"}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    // `bot` may do everything the rules do.
    let (status, answer) = send(
        &h,
        signed(
            "POST",
            "/v1/events/incident.tagged",
            &json!({"tag": "billing"}),
            BOT,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
}
