//! `openapi.json` and the routes agree both ways; `/metrics` counts requests.

use std::collections::BTreeSet;

use super::*;
use crate::api::{OPENAPI, ROUTES};

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn documented() -> BTreeSet<(String, String)> {
    let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "an OpenAPI 3 document"
    );
    let paths = doc["paths"].as_object().expect("paths");
    let mut routes = BTreeSet::new();
    for (path, item) in paths {
        for method in item.as_object().expect("path item").keys() {
            routes.insert((method.to_uppercase(), path.clone()));
        }
    }
    routes
}

fn concrete(template: &str) -> String {
    template.replace("{id}", "1").replace("{name}", "deploy")
}

#[test]
fn every_served_route_is_documented_and_every_documented_route_is_served() {
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented(), served);
}

#[tokio::test]
async fn every_documented_route_is_routed_and_no_other_method_is() {
    let h = harness();
    let documented = documented();
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for path in paths {
        for method in METHODS {
            let request = warp::test::request()
                .method(method)
                .path(&concrete(path))
                .body("{}");
            let (status, answer) = send(&h, request).await;
            let routed =
                status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED;
            let listed = documented.contains(&(method.to_owned(), path.clone()));
            assert_eq!(routed, listed, "{method} {path}: {status} {answer}");
        }
    }
    let (status, answer) = send(&h, warp::test::request().path("/v2/anything")).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::NOT_FOUND, "not_found")
    );
}

#[test]
fn every_error_code_the_api_answers_is_a_documented_status() {
    let doc: Value = serde_json::from_str(OPENAPI).unwrap();
    let text = doc.to_string();
    for code in [
        "missing_header",
        "malformed_header",
        "bad_signature",
        "stale_timestamp",
        "replay",
        "body_too_large",
    ] {
        assert!(text.contains(code), "{code} is documented");
    }
    for code in [
        "forbidden_action",
        "forbidden_tags",
        "forbidden_all",
        "too_many_messages",
        "unsupported_action",
        "invalid_selector",
    ] {
        assert!(text.contains(code), "{code} is documented");
    }
}

#[tokio::test]
async fn metrics_count_requests_and_auth_failures() {
    let h = harness();
    track(&h, &[("ding", "1", &["x"])]).await;
    let bare = warp::test::request()
        .method("POST")
        .path("/v1/recalls")
        .body("{}");
    send(&h, bare).await;
    send(
        &h,
        signed(
            "POST",
            "/v1/recalls",
            &json!({"select": {"tags": ["x"]}}),
            BOT,
        ),
    )
    .await;
    send(&h, warp::test::request().path("/nope")).await;
    let response = warp::test::request()
        .path("/metrics")
        .reply(&routes(h.state.clone()))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = String::from_utf8_lossy(response.body());
    for expected in [
        r#"recalld_http_requests_total{route="POST /v1/messages",status="200"} 1"#,
        r#"recalld_http_requests_total{route="POST /v1/recalls",status="401"} 1"#,
        r#"recalld_http_requests_total{route="POST /v1/recalls",status="202"} 1"#,
        r#"recalld_http_requests_total{route="other",status="404"} 1"#,
        r#"recalld_auth_failures_total{reason="missing_header"} 1"#,
        r#"recalld_jobs_created_total{action="recall"} 1"#,
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert!(Arc::ptr_eq(&h.metrics, h.state.metrics()));
}
