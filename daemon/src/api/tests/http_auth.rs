//! Authentication through HTTP: every failure is a 401 with its own code,
//! never a 2xx, and writes nothing.

use super::*;

fn track_body(id: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"messages": [{"account": "ding", "remote_id": id, "tags": ["x"]}]}))
        .unwrap()
}

async fn tracked(h: &Harness) -> usize {
    h.store.messages(None, None, 0, 1000).await.unwrap().len()
}

#[tokio::test]
async fn a_good_signature_is_accepted() {
    let h = harness();
    let (status, body) = send(
        &h,
        signed_at(
            "POST",
            "/v1/messages",
            &track_body("m1"),
            BOT,
            "msg_1",
            now_secs(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"inserted": 1, "existing": 0}));
}

#[tokio::test]
async fn tampered_body_and_wrong_secret_are_bad_signatures() {
    let h = harness();
    let body = track_body("m1");
    let tampered =
        signed_at("POST", "/v1/messages", &body, BOT, "msg_1", now_secs()).body(track_body("m2"));
    let (status, answer) = send(&h, tampered).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::UNAUTHORIZED, "bad_signature")
    );
    let stranger = "whsec_c3RyYW5nZXItc2VjcmV0";
    let (status, answer) = send(
        &h,
        signed_at("POST", "/v1/messages", &body, stranger, "msg_2", now_secs()),
    )
    .await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::UNAUTHORIZED, "bad_signature")
    );
    assert_eq!(tracked(&h).await, 0);
}

#[tokio::test]
async fn old_and_future_timestamps_are_stale() {
    let h = harness();
    for skew in [-301, 301, -86_400] {
        let request = signed_at(
            "POST",
            "/v1/messages",
            &track_body("m1"),
            BOT,
            &fresh_id(),
            now_secs() + skew,
        );
        let (status, answer) = send(&h, request).await;
        assert_eq!(
            (status, code(&answer)),
            (StatusCode::UNAUTHORIZED, "stale_timestamp"),
            "skew {skew}"
        );
    }
    assert_eq!(tracked(&h).await, 0);
}

#[tokio::test]
async fn missing_and_malformed_headers_are_named_without_echoing_values() {
    let h = harness();
    let body = track_body("m1");
    let bare = warp::test::request()
        .method("POST")
        .path("/v1/messages")
        .body(&body);
    let (status, answer) = send(&h, bare).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::UNAUTHORIZED, "missing_header")
    );
    assert!(message(&answer).contains("webhook-signature"), "{answer}");

    let no_id = warp::test::request()
        .method("POST")
        .path("/v1/messages")
        .body(&body)
        .header(WEBHOOK_TIMESTAMP, now_secs().to_string())
        .header(WEBHOOK_SIGNATURE, "v1,AAAA");
    let (status, answer) = send(&h, no_id).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::UNAUTHORIZED, "missing_header")
    );
    assert!(message(&answer).contains("webhook-id"), "{answer}");

    let garbage = signed_at("POST", "/v1/messages", &body, BOT, "msg_1", now_secs())
        .header(WEBHOOK_TIMESTAMP, "soon-ish");
    let (status, answer) = send(&h, garbage).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::UNAUTHORIZED, "malformed_header")
    );
    assert!(
        !answer.to_string().contains("soon-ish"),
        "values are not echoed: {answer}"
    );
    assert_eq!(tracked(&h).await, 0);
}

#[tokio::test]
async fn a_replayed_request_is_refused_and_writes_nothing() {
    let h = harness();
    track(&h, &[("ding", "m1", &["x"])]).await;
    let body = serde_json::to_vec(&json!({"select": {"tags": ["x"]}})).unwrap();
    let ts = now_secs();
    let (status, first) = send(
        &h,
        signed_at("POST", "/v1/recalls", &body, BOT, "msg_once", ts),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let (status, again) = send(
        &h,
        signed_at("POST", "/v1/recalls", &body, BOT, "msg_once", ts),
    )
    .await;
    assert_eq!((status, code(&again)), (StatusCode::UNAUTHORIZED, "replay"));
    assert_eq!(job_count(&h).await, 1, "the replay created no job");
    // A replayed read is refused too.
    let read = || signed_at("GET", "/v1/jobs/1", b"", BOT, "msg_read", ts);
    assert_eq!(send(&h, read()).await.0, StatusCode::OK);
    let (status, again) = send(&h, read()).await;
    assert_eq!((status, code(&again)), (StatusCode::UNAUTHORIZED, "replay"));
}

#[tokio::test]
async fn an_oversize_body_is_refused_before_any_signature_check() {
    let h = harness();
    let big = vec![b' '; MAX_BODY + 1];
    // No signature headers at all: a 413 (not a 401) shows the size check ran first.
    let unsigned = warp::test::request()
        .method("POST")
        .path("/v1/recalls")
        .body(&big);
    let (status, answer) = send(&h, unsigned).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
    );
    // A declared length over the limit is refused without reading the body.
    let declared = warp::test::request()
        .method("POST")
        .path("/v1/recalls")
        .body(b"{}")
        .header("content-length", "99999999");
    assert_eq!(send(&h, declared).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    // Exactly at the limit is fine (and then fails on its signature).
    let at_limit = warp::test::request()
        .method("POST")
        .path("/v1/recalls")
        .body(vec![b' '; MAX_BODY]);
    assert_eq!(send(&h, at_limit).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_body_without_content_length_is_capped_while_read() {
    use bytes::Bytes;
    let chunks = |n: usize| {
        futures_util::stream::iter(
            (0..n).map(|i| Ok::<_, warp::Error>(Bytes::from(vec![b'a' + i as u8; 1024]))),
        )
    };
    let read = super::super::auth::read_capped(chunks(4), 4096)
        .await
        .unwrap();
    let want: Vec<u8> = (0..4u8).flat_map(|i| [b'a' + i; 1024]).collect();
    assert_eq!(read, want, "every chunk, in order");
    let one = super::super::auth::read_capped(chunks(1), 4096)
        .await
        .unwrap();
    assert_eq!(one, vec![b'a'; 1024]);
    assert!(
        super::super::auth::read_capped(chunks(5), 4096)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_github_scheme_works_and_dedupes_on_the_signature_not_only_the_delivery_id() {
    let h = harness();
    let body = track_body("gh1");
    let (status, answer) = send(&h, github("POST", "/v1/messages", &body, HUB, "d-1")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // The delivery id is not signed: a replay under a fresh one is still
    // the same signature.
    for delivery in ["d-1", "d-fresh"] {
        let (status, answer) = send(&h, github("POST", "/v1/messages", &body, HUB, delivery)).await;
        assert_eq!(
            (status, code(&answer)),
            (StatusCode::UNAUTHORIZED, "replay"),
            "{delivery}: {answer}"
        );
    }
    let (status, answer) = send(
        &h,
        github("POST", "/v1/messages", &track_body("gh2"), HUB, "d-1"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a new body is a new request: {answer}"
    );
    let (status, answer) = send(
        &h,
        github("POST", "/v1/messages", &body, "not-the-secret", "d-2"),
    )
    .await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::UNAUTHORIZED, "bad_signature")
    );
}

#[tokio::test]
async fn unauthenticated_probes_answer_without_signatures() {
    let h = harness();
    let get = |path: &str| warp::test::request().method("GET").path(path);
    assert_eq!(send(&h, get("/healthz")).await.0, StatusCode::OK);
    assert_eq!(send(&h, get("/readyz")).await.0, StatusCode::OK);
    h.state.set_ready(false);
    let (status, answer) = send(&h, get("/readyz")).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    );
    let openapi = get("/v1/openapi.json")
        .reply(&routes(h.state.clone()))
        .await;
    assert_eq!(openapi.headers()["content-type"], "application/json");
    let (status, answer) = send(&h, get("/v1/jobs/1")).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::UNAUTHORIZED, "missing_header")
    );
}

/// Tracking runs bare in the store's transaction (no savepoint of its own):
/// replays queued together with fresh requests, and so committed in the
/// same transaction, must be refused alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_sent_together_with_fresh_requests_are_refused_alone() {
    let h = harness();
    let body = |n: usize| {
        serde_json::to_vec(&json!({"messages": [{"account": "ding", "remote_id": format!("r{n}"), "tags": ["batch"]}]}))
            .unwrap()
    };
    let used = fresh_id();
    let first = signed_at("POST", "/v1/messages", &body(0), BOT, &used, now_secs());
    assert_eq!(send(&h, first).await.0, StatusCode::OK);
    // Every third request replays `used` (with a new body: the signature is
    // valid, only the id was seen); all are in flight at once.
    let requests = (1..=90).map(|n| {
        let id = if n % 3 == 0 { used.clone() } else { fresh_id() };
        let request = signed_at("POST", "/v1/messages", &body(n), BOT, &id, now_secs());
        let h = &h;
        async move { (n, send(h, request).await) }
    });
    for (n, (status, answer)) in futures_util::future::join_all(requests).await {
        if n % 3 == 0 {
            assert_eq!(
                (status, code(&answer)),
                (StatusCode::UNAUTHORIZED, "replay"),
                "{n}"
            );
        } else {
            assert_eq!(status, StatusCode::OK, "{n}: {answer}");
            assert_eq!(answer, json!({"inserted": 1, "existing": 0}), "{n}");
        }
    }
    let stored = h
        .store
        .messages(Some("batch".into()), None, 0, 1000)
        .await
        .unwrap();
    let mut ids: Vec<String> = stored.into_iter().map(|m| m.remote_id).collect();
    ids.sort();
    let mut want: Vec<String> = (0..=90)
        .filter(|n| n % 3 != 0 || *n == 0)
        .map(|n| format!("r{n}"))
        .collect();
    want.sort();
    assert_eq!(ids, want, "the fresh requests' messages, and no replay's");
}
