//! `POST /v1/events/{name}` and age rules at track time.

use super::*;

const RULES: &str = r#"
rules:
  - name: incident-cleanup
    on: {event: incident.closed}
    select: {tags: ["incident-{{ event.id }}"]}
    do: recall
  - name: incident-small
    on: {event: incident.closed}
    select: {any_tags: ["incident-{{ event.id }}"]}
    do: recall
    limit: 1
  - name: otp-expiry
    on:
      sent: {tags: [otp]}
      after: 10m
    do: recall
"#;

fn rule_names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn an_event_fires_its_rules_each_job_or_refusal_listed() {
    let h = harness_with_rules(RULES);
    track(
        &h,
        &[
            ("ding", "1", &["incident-7"]),
            ("feishu", "2", &["incident-7"]),
            ("ding", "3", &["incident-8"]),
        ],
    )
    .await;
    let (status, answer) = send(
        &h,
        signed("POST", "/v1/events/incident.closed", &json!({"id": 7}), BOT),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(rule_names(&answer["jobs"]), ["incident-cleanup"]);
    assert_eq!(answer["jobs"][0]["matched"], 2);
    assert_eq!(
        answer["jobs"][0]["per_account"],
        json!({"ding": 1, "feishu": 1})
    );
    // The rule with limit 1 is refused on its own; it wrote nothing.
    assert_eq!(rule_names(&answer["refused"]), ["incident-small"]);
    let refusal = answer["refused"][0]["error"].as_str().unwrap();
    assert!(
        refusal.contains("matches 2 messages") && refusal.contains("limit 1"),
        "{refusal}"
    );
    assert_eq!(job_count(&h).await, 1);
    let job = h.store.job(1).await.unwrap().unwrap();
    assert_eq!(job.requested_by, "bot");
    assert_eq!(job.selector, json!({"tags": ["incident-7"]}));
    assert!(job.reason.contains("incident-cleanup"), "{}", job.reason);
    let woken = h.woken.lock().unwrap().clone();
    assert!(woken.contains(&"ding".to_owned()) && woken.contains(&"feishu".to_owned()));
    assert!(
        h.metrics
            .render()
            .contains(r#"recalld_rule_jobs_total{kind="event"} 1"#)
    );
}

#[tokio::test]
async fn a_payload_missing_a_templated_field_fires_nothing() {
    let h = harness_with_rules(RULES);
    track(&h, &[("ding", "1", &["incident-7"])]).await;
    let (status, answer) = send(
        &h,
        signed(
            "POST",
            "/v1/events/incident.closed",
            &json!({"incident": 7}),
            BOT,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(
        rule_names(&answer["refused"]),
        ["incident-cleanup", "incident-small"]
    );
    let error = answer["refused"][0]["error"].as_str().unwrap();
    assert!(error.contains("event.id is missing"), "{error}");
    assert_eq!(job_count(&h).await, 0);
    let (status, answer) = send(
        &h,
        signed("POST", "/v1/events/incident.closed", &json!([7]), BOT),
    )
    .await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::BAD_REQUEST, "invalid_field")
    );
}

#[tokio::test]
async fn an_event_no_rule_listens_to_is_ok_and_its_delivery_id_is_spent() {
    let h = harness_with_rules(RULES);
    let body = serde_json::to_vec(&json!({"id": 1})).unwrap();
    let request = || {
        signed_at(
            "POST",
            "/v1/events/deploy",
            &body,
            BOT,
            "msg_event_once",
            now_secs(),
        )
    };
    let (status, answer) = send(&h, request()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer,
        json!({"event": "deploy", "jobs": [], "refused": []})
    );
    let (status, answer) = send(&h, request()).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::UNAUTHORIZED, "replay")
    );
}

#[tokio::test]
async fn event_scopes_and_the_clients_cap_apply() {
    let h = harness_with_rules(RULES);
    track(
        &h,
        &[
            ("ding", "1", &["incident-9"]),
            ("ding", "2", &["incident-9"]),
            ("ding", "3", &["incident-9"]),
        ],
    )
    .await;
    let (status, answer) = send(&h, signed("POST", "/v1/events/deploy", &json!({}), NARROW)).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::FORBIDDEN, "forbidden_event")
    );
    assert!(message(&answer).contains("incident.*"), "{answer}");
    // `narrow` may touch 2 messages at once; the rule matches 3.
    let (status, answer) = send(
        &h,
        signed(
            "POST",
            "/v1/events/incident.closed",
            &json!({"id": 9}),
            NARROW,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let error = answer["refused"][0]["error"].as_str().unwrap();
    assert!(error.contains("more than the 2"), "{error}");
    assert_eq!(job_count(&h).await, 0);
    let (status, _) = send(
        &h,
        signed(
            "POST",
            "/v1/events/incident.closed",
            &json!({"id": 9}),
            HUB_AS_STANDARD,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Not a configured secret: a signature nobody accepts.
const HUB_AS_STANDARD: &str = "whsec_bm90LWEtY2xpZW50LXNlY3JldC1hdC1hbGw=";

#[tokio::test]
async fn tracking_schedules_age_recalls_for_matching_new_messages_only() {
    let h = harness_with_rules(RULES);
    assert_eq!(h.store.next_age_due().await.unwrap(), None);
    track(&h, &[("ding", "1", &["news"])]).await;
    assert_eq!(h.store.next_age_due().await.unwrap(), None);
    track(&h, &[("ding", "2", &["otp", "login"])]).await;
    // `track` sends sent_at 1000; the rule waits 10 minutes.
    assert_eq!(h.store.next_age_due().await.unwrap(), Some(1_000 + 600_000));
}

#[tokio::test]
async fn readyz_shows_the_rules_in_force() {
    let h = harness_with_rules(RULES);
    let (status, answer) = send(&h, warp::test::request().method("GET").path("/readyz")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["rules"]["loaded"], 3);
    assert_eq!(answer["rules"]["valid"], true);
}

#[tokio::test]
async fn a_broken_change_is_refused_and_shown_a_good_one_applies() {
    let h = harness_with_rules(RULES);
    let file = h.rules_dir.as_ref().unwrap().path().join("rules.yaml");
    std::fs::write(&file, RULES.replace("do: recall", "do: recal")).unwrap();
    let errors = h.state.rules().reload(false).unwrap_err();
    assert_eq!(errors.len(), 3, "{errors:?}");
    let (_, answer) = send(&h, warp::test::request().method("GET").path("/readyz")).await;
    assert_eq!(answer["rules"]["valid"], false);
    assert!(
        answer["rules"]["errors"][0]
            .as_str()
            .unwrap()
            .contains("rules.yaml:"),
        "{answer}"
    );
    assert!(h.metrics.render().contains("recalld_rules_valid 0"));
    // The old rules still answer events.
    track(&h, &[("ding", "1", &["incident-3"])]).await;
    let (status, _) = send(
        &h,
        signed("POST", "/v1/events/incident.closed", &json!({"id": 3}), BOT),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // Unchanged files are not reloaded again.
    assert!(!h.state.rules().reload(false).unwrap());
    let renamed = RULES.replace("event: incident.closed", "event: incident.resolved");
    std::fs::write(&file, renamed).unwrap();
    assert!(h.state.rules().reload(false).unwrap());
    let (_, answer) = send(&h, warp::test::request().method("GET").path("/readyz")).await;
    assert_eq!(
        (
            answer["rules"]["valid"].clone(),
            answer["rules"]["generation"].clone()
        ),
        (json!(true), json!(1))
    );
    let (status, _) = send(
        &h,
        signed("POST", "/v1/events/incident.closed", &json!({"id": 3}), BOT),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(
        &h,
        signed(
            "POST",
            "/v1/events/incident.resolved",
            &json!({"id": 3}),
            BOT,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_rule_reaching_an_account_that_cannot_do_its_action_is_refused() {
    let rules = r#"
rules:
  - name: cancel-stale
    on: {event: cleanup}
    select: {tags: [stale]}
    do: cancel
"#;
    let h = harness_with_rules(rules);
    // `feishu` (plugin editor) can cancel; `ding` (plugin recaller) cannot.
    track(&h, &[("feishu", "1", &["stale"])]).await;
    let (status, answer) = send(&h, signed("POST", "/v1/events/cleanup", &json!({}), BOT)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    track(&h, &[("ding", "2", &["stale"])]).await;
    let (status, answer) = send(&h, signed("POST", "/v1/events/cleanup", &json!({}), BOT)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let error = answer["refused"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("not supported by account(s) ding"),
        "{error}"
    );
    assert_eq!(job_count(&h).await, 1);
}
