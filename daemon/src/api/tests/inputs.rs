//! Malformed input is a 400 or 422 naming the field; scope refusals are
//! 403s naming the scope. None of them writes anything.

use super::*;

/// Sends `body` to `path` as `bot`; asserts status and code; returns the message.
async fn refused(
    h: &Harness,
    path: &str,
    body: Value,
    status: StatusCode,
    want_code: &str,
) -> String {
    let (got, answer) = send(h, signed("POST", path, &body, BOT)).await;
    assert_eq!(
        (got, code(&answer)),
        (status, want_code),
        "{path} {body}: {answer}"
    );
    message(&answer).to_owned()
}

async fn refused_raw(
    h: &Harness,
    path: &str,
    body: &[u8],
    status: StatusCode,
    want_code: &str,
) -> String {
    let (got, answer) = send(
        h,
        signed_at("POST", path, body, BOT, &fresh_id(), now_secs()),
    )
    .await;
    assert_eq!((got, code(&answer)), (status, want_code), "{answer}");
    message(&answer).to_owned()
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let h = harness();
    for body in [&b""[..], b"{", b"not json", b"{\"messages\": []} trailing"] {
        refused_raw(
            &h,
            "/v1/messages",
            body,
            StatusCode::BAD_REQUEST,
            "malformed_json",
        )
        .await;
    }
}

#[tokio::test]
async fn wrong_types_unknown_and_missing_fields_name_the_field() {
    let h = harness();
    let bad = StatusCode::BAD_REQUEST;
    let cases = [
        (
            "/v1/messages",
            json!({"messages": [{"account": "ding", "remote_id": 5}]}),
            "messages[0].remote_id",
        ),
        (
            "/v1/messages",
            json!({"messages": [{"account": "ding", "remote_id": "a", "sent_at": "yesterday"}]}),
            "messages[0].sent_at",
        ),
        (
            "/v1/messages",
            json!({"messages": [{"account": "ding", "remote_id": "a", "colour": "red"}]}),
            "colour",
        ),
        (
            "/v1/messages",
            json!({"messages": [{"remote_id": "a"}]}),
            "account",
        ),
        (
            "/v1/messages",
            json!({"messages": [{"account": "ding", "remote_id": "a", "meta": [1]}]}),
            "messages[0].meta",
        ),
        ("/v1/messages", json!({"message": []}), "message"),
        (
            "/v1/recalls",
            json!({"select": {"tags": ["x"]}, "dry_run": "yes"}),
            "dry_run",
        ),
        (
            "/v1/recalls",
            json!({"select": {"tags": ["x"]}, "action": "delete"}),
            "action",
        ),
        ("/v1/recalls", json!({"select": {"tag": ["x"]}}), "tag"),
        (
            "/v1/recalls",
            json!({"select": {"tags": "x"}}),
            "select.tags",
        ),
        ("/v1/recalls", json!({"action": "recall"}), "select"),
        (
            "/v1/updates",
            json!({"account": "feishu", "remote_id": "a", "content": "text"}),
            "content",
        ),
    ];
    for (path, body, field) in cases {
        let message = refused(&h, path, body.clone(), bad, "invalid_field").await;
        assert!(
            message.contains(field),
            "{body}: {message:?} should name {field}"
        );
    }
    assert_eq!(job_count(&h).await, 0);
}

#[tokio::test]
async fn unknown_accounts_and_empty_selectors_are_422_naming_the_field() {
    let h = harness();
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let msg = refused(&h, "/v1/messages", json!({"messages": [{"account": "ding", "remote_id": "a"}, {"account": "nope", "remote_id": "b"}]}), unprocessable, "unknown_account").await;
    assert!(
        msg.contains("messages[1].account") && msg.contains("\"nope\""),
        "{msg}"
    );
    let msg = refused(
        &h,
        "/v1/messages",
        json!({"messages": [{"account": "ding", "remote_id": ""}]}),
        unprocessable,
        "invalid_message",
    )
    .await;
    assert!(msg.contains("messages[0].remote_id"), "{msg}");
    let msg = refused(
        &h,
        "/v1/recalls",
        json!({"select": {"accounts": ["ding"]}}),
        unprocessable,
        "invalid_selector",
    )
    .await;
    assert!(
        msg.contains("select.tags") && msg.contains("positive matcher"),
        "{msg}"
    );
    let msg = refused(
        &h,
        "/v1/recalls",
        json!({"select": {"tags": ["x"], "accounts": ["nope"]}}),
        unprocessable,
        "invalid_selector",
    )
    .await;
    assert!(msg.contains("select.accounts"), "{msg}");
    let msg = refused(
        &h,
        "/v1/recalls",
        json!({"select": {}}),
        unprocessable,
        "invalid_selector",
    )
    .await;
    assert!(msg.contains("select.tags"), "{msg}");
    let msg = refused(
        &h,
        "/v1/updates",
        json!({"account": "nope", "remote_id": "a", "content": {}}),
        unprocessable,
        "unknown_account",
    )
    .await;
    assert!(msg.starts_with("account:"), "{msg}");
    assert_eq!(
        h.store.messages(None, None, 0, 10).await.unwrap().len(),
        0,
        "nothing was tracked"
    );
}

#[tokio::test]
async fn actions_the_plugin_cannot_do_are_422() {
    let h = harness();
    track(&h, &[("ding", "d1", &["x"]), ("feishu", "f1", &["x"])]).await;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    // `ding` (plugin recaller) only recalls.
    let msg = refused(
        &h,
        "/v1/recalls",
        json!({"select": {"tags": ["x"], "accounts": ["ding"]}, "action": "cancel"}),
        unprocessable,
        "unsupported_action",
    )
    .await;
    assert!(msg.contains("ding (plugin recaller)"), "{msg}");
    let msg = refused(
        &h,
        "/v1/recalls",
        json!({"select": {"tags": ["x"]}, "action": "cancel"}),
        unprocessable,
        "unsupported_action",
    )
    .await;
    assert!(
        msg.contains("select.accounts"),
        "the hint says how to narrow: {msg}"
    );
    refused(
        &h,
        "/v1/recalls",
        json!({"select": {"tags": ["x"]}, "action": "cancel", "dry_run": true}),
        unprocessable,
        "unsupported_action",
    )
    .await;
    refused(
        &h,
        "/v1/updates",
        json!({"account": "ding", "remote_id": "d1", "content": {"text": "fixed"}}),
        unprocessable,
        "unsupported_action",
    )
    .await;
    // Narrowed to the account that can: accepted.
    let (status, answer) = send(
        &h,
        signed(
            "POST",
            "/v1/recalls",
            &json!({"select": {"tags": ["x"], "accounts": ["feishu"]}, "action": "cancel"}),
            BOT,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(job_count(&h).await, 1);
}

#[tokio::test]
async fn scope_refusals_are_403_naming_the_scope() {
    let h = harness();
    track(
        &h,
        &[
            ("ding", "1", &["incident-1"]),
            ("ding", "2", &["incident-1"]),
            ("ding", "3", &["incident-1", "billing"]),
        ],
    )
    .await;
    let cases = [
        (
            json!({"select": {"tags": ["incident-1"]}, "action": "cancel"}),
            "forbidden_action",
            "may not cancel",
        ),
        (
            json!({"select": {"tags": ["billing"]}}),
            "forbidden_tags",
            "\"billing\"",
        ),
        (
            json!({"select": {"any_tags": ["incident-1", "billing"]}, "dry_run": true}),
            "forbidden_tags",
            "\"billing\"",
        ),
        (json!({"select": {"ids": ["1"]}}), "forbidden_tags", "\"*\""),
        (
            json!({"select": {"meta": {"kind": "otp"}}}),
            "forbidden_tags",
            "\"*\"",
        ),
        (
            json!({"select": {"all": true}}),
            "forbidden_all",
            "scopes.all",
        ),
        (
            json!({"select": {"tags": ["incident-1"]}}),
            "too_many_messages",
            "matches 3 messages, more than the 2",
        ),
    ];
    for (body, want_code, needle) in cases {
        let (status, answer) = send(&h, signed("POST", "/v1/recalls", &body, NARROW)).await;
        assert_eq!(
            (status, code(&answer)),
            (StatusCode::FORBIDDEN, want_code),
            "{body}: {answer}"
        );
        assert!(message(&answer).contains(needle), "{body}: {answer}");
    }
    let (status, answer) = send(
        &h,
        signed("POST", "/v1/messages", &json!({"messages": []}), NARROW),
    )
    .await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::FORBIDDEN, "forbidden_action"),
        "{answer}"
    );
    // `hub` lacks the event action altogether.
    let (status, answer) = send(
        &h,
        github("POST", "/v1/events/deploy", b"{}", HUB, "d-events"),
    )
    .await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::FORBIDDEN, "forbidden_action"),
        "{answer}"
    );
    assert_eq!(job_count(&h).await, 0);
    // Within its tag scope, but over its cap of 2: a dry run says so too.
    let body = json!({"select": {"tags": ["incident-1"], "sent_after": 0}, "dry_run": true});
    let (status, answer) = send(&h, signed("POST", "/v1/recalls", &body, NARROW)).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::FORBIDDEN, "too_many_messages"),
        "{answer}"
    );
    let body = json!({"select": {"tags": ["incident-1", "billing"]}});
    let (status, answer) = send(&h, signed("POST", "/v1/recalls", &body, NARROW)).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "billing is outside the scope even combined: {answer}"
    );
}

#[tokio::test]
async fn the_ledger_query_names_bad_parameters() {
    let h = harness();
    for (query, field) in [
        ("limit=1001", "limit"),
        ("after=first", "after"),
        ("tags=x", "tags"),
    ] {
        let (status, answer) = send(
            &h,
            signed("GET", &format!("/v1/messages?{query}"), &Value::Null, BOT),
        )
        .await;
        assert_eq!(
            (status, code(&answer)),
            (StatusCode::BAD_REQUEST, "invalid_field"),
            "{query}: {answer}"
        );
        assert!(message(&answer).starts_with(field), "{query}: {answer}");
    }
}

/// `parse_json` parses with plain serde_json first and only re-parses with
/// the path tracked when that fails: the error must still name the field
/// exactly as before, and a good body must parse to the same value.
#[test]
fn the_fast_json_parse_still_names_the_field_on_error() {
    use crate::api::ApiError;
    use crate::api::handlers::parse_json;
    use crate::api::models::TrackRequest;
    let field_of = |body: &str| match parse_json::<TrackRequest>(body.as_bytes()) {
        Err(ApiError::InvalidField { field, message }) => format!("{field}: {message}"),
        other => panic!("{body}: {other:?}"),
    };
    let cases = [
        (
            r#"{"messages": [{"account": "ding", "remote_id": "a"}, {"account": "ding", "remote_id": 5}]}"#,
            "messages[1].remote_id: invalid type: integer `5`, expected a string",
        ),
        (
            r#"{"messages": [{"account": "ding", "remote_id": "a", "sent_at": "yesterday"}]}"#,
            "messages[0].sent_at: ",
        ),
        (
            r#"{"messages": [{"account": "ding", "remote_id": "a", "colour": "red"}]}"#,
            "messages[0].colour: unknown field `colour`",
        ),
        (
            r#"{"messages": [{"remote_id": "a"}]}"#,
            "messages[0]: missing field `account`",
        ),
        (r#"{"message": []}"#, "message: unknown field `message`"),
        ("[]", "body: invalid length 0, expected struct TrackRequest"),
    ];
    for (body, want) in cases {
        let got = field_of(body);
        assert!(
            got.starts_with(want),
            "{body}: {got:?} should start with {want:?}"
        );
    }
    for body in ["", "{", "{\"messages\": []} trailing"] {
        assert!(
            matches!(
                parse_json::<TrackRequest>(body.as_bytes()),
                Err(ApiError::MalformedJson(_))
            ),
            "{body:?}"
        );
    }
    let good = br#"{"messages": [{"account": "ding", "remote_id": "a", "tags": ["x"], "sent_at": 5, "meta": {"k": 1}}]}"#;
    let parsed = parse_json::<TrackRequest>(good).unwrap();
    assert_eq!(
        serde_json::to_value(&parsed).unwrap(),
        json!({"messages": [{"account": "ding", "remote_id": "a", "tags": ["x"], "sent_at": 5, "meta": {"k": 1}}]})
    );
}
