//! Tokens, credentials, scopes, rate limits and log ids.

use std::time::Duration;

use serde_json::json;

use super::{
    BASE, approved, assert_fail, assert_ok, auth, create, helpdesk_header, op, patch, send_at,
    status,
};
use crate::testkit::{call, json_request, request, sandbox, sandbox_with};
use crate::{ErrorShape, Sandbox, SeedRequest, Vendor};

#[tokio::test]
async fn tenant_and_app_tokens() {
    let sb = sandbox();
    let body = json!({"app_id": "cli_sandbox", "app_secret": "sandbox-secret"}).to_string();
    // The SDK sends this request without a Content-Type.
    let tenant = |sb: &Sandbox| {
        let req =
            request("POST", "/open-apis/auth/v3/tenant_access_token/internal").body(body.clone());
        let sb = sb.clone();
        async move { call(&sb, req).await }
    };
    let first = tenant(&sb).await;
    assert_eq!(first.int("code"), 0, "{}", first.text);
    assert_eq!(first.str("msg"), "ok");
    assert_eq!(first.int("expire"), 7200);
    let token = first.str("tenant_access_token");
    assert!(token.starts_with("t-"));

    sb.advance_clock(Duration::from_secs(5400));
    let same = tenant(&sb).await;
    assert_eq!(
        (same.str("tenant_access_token"), same.int("expire")),
        (token.clone(), 1800)
    );
    sb.advance_clock(Duration::from_secs(1));
    let renewed = tenant(&sb).await;
    assert_ne!(
        renewed.str("tenant_access_token"),
        token,
        "under 30 min left: a new token"
    );
    assert_eq!(renewed.int("expire"), 7200);

    let app = call(
        &sb,
        json_request(
            "POST",
            "/open-apis/auth/v3/app_access_token/internal",
            &json!({"app_id": "cli_sandbox", "app_secret": "sandbox-secret"}),
        ),
    )
    .await;
    assert_eq!(app.int("code"), 0);
    assert!(app.str("app_access_token").starts_with("t-"));
    assert!(app.header("x-tt-logid").is_some());
}

#[tokio::test]
async fn bad_app_credentials() {
    let sb = sandbox();
    let path = "/open-apis/auth/v3/tenant_access_token/internal";
    let wrong_secret = json!({"app_id": "cli_sandbox", "app_secret": "x"});
    assert_fail(
        &call(&sb, json_request("POST", path, &wrong_secret)).await,
        400,
        10014,
    );
    let wrong_app = json!({"app_id": "cli_other", "app_secret": "sandbox-secret"});
    assert_fail(
        &call(&sb, json_request("POST", path, &wrong_app)).await,
        400,
        99991543,
    );
    assert_fail(&call(&sb, request("POST", path)).await, 400, 99991543);
    assert_eq!(sb.stats().feishu.auth_failures, 3);
}

#[tokio::test]
async fn auth_is_checked_on_every_call() {
    let sb = sandbox();
    let id = create(&sb).await;
    let path = format!("{BASE}/{id}/cancel_send");
    let body = json!({"is_recall": true});
    let hd = helpdesk_header();
    let cases: [(Option<&str>, Option<&str>, u16, i64); 6] = [
        (None, Some(&hd), 401, 99991661),
        (Some("Bearer t-g1044abc"), Some(&hd), 401, 99991668),
        (Some("Bearer abc"), Some(&hd), 401, 99991671),
        (Some("Bearer u-stranger"), Some(&hd), 401, 154001),
        (Some("Bearer u-sandbox"), None, 401, 154001),
        (
            Some("Bearer u-sandbox"),
            Some("aGQtc2FuZGJveDp3cm9uZw=="),
            401,
            154001,
        ),
    ];
    for (authorization, helpdesk, http, code) in cases {
        let mut req = json_request("POST", &path, &body);
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        if let Some(h) = helpdesk {
            req = req.header("x-lark-helpdesk-authorization", h);
        }
        assert_fail(&call(&sb, req).await, http, code);
    }
    let stats = sb.stats().feishu;
    assert_eq!((stats.auth_failures, stats.recalled), (6, 0));
}

#[tokio::test]
async fn patch_is_limited_to_20_a_minute() {
    let sb = sandbox();
    let id = create(&sb).await;
    for i in 0..20 {
        assert_ok(&patch(&sb, &id, &json!({"job_name": format!("n{i}")})).await);
    }
    sb.advance_clock(Duration::from_secs(15));
    let limited = patch(&sb, &id, &json!({"job_name": "late"})).await;
    assert_fail(&limited, 429, 99991400);
    assert_eq!(limited.str("msg"), "request trigger frequency limit");
    assert_eq!(limited.header("x-ogw-ratelimit-limit"), Some("20"));
    assert_eq!(limited.header("x-ogw-ratelimit-reset"), Some("45"));
    assert_eq!(sb.stats().feishu.rate_limited, 1);
    sb.advance_clock(Duration::from_secs(45));
    assert_ok(&patch(&sb, &id, &json!({"job_name": "later"})).await);
}

#[tokio::test]
async fn execute_send_is_limited_to_10_a_minute() {
    let sb = sandbox();
    let mut ids = Vec::new();
    for _ in 0..11 {
        ids.push(approved(&sb).await);
    }
    for id in &ids[..10] {
        assert_ok(&op(&sb, id, "execute_send", &send_at(&sb, 1000)).await);
    }
    assert_fail(
        &op(&sb, &ids[10], "execute_send", &send_at(&sb, 1000)).await,
        429,
        99991400,
    );
    sb.advance_clock(Duration::from_secs(60));
    assert_ok(&op(&sb, &ids[10], "execute_send", &send_at(&sb, 1000)).await);
}

#[tokio::test]
async fn get_is_limited_to_100_a_minute_unless_switched_off() {
    let sb = sandbox();
    let id = create(&sb).await;
    for _ in 0..100 {
        status(&sb, &id).await;
    }
    let limited = call(&sb, auth(request("GET", &format!("{BASE}/{id}")))).await;
    assert_fail(&limited, 429, 99991400);
    sb.update_config(&json!({"rate_limits": {"feishu_get_per_min": null}}))
        .expect("valid patch");
    assert_eq!(status(&sb, &id).await, 0);
}

#[tokio::test]
async fn every_answer_has_a_log_id() {
    let sb = sandbox();
    for req in [
        request("GET", "/open-apis/unknown"),
        request("GET", &format!("{BASE}/1")),
        auth(request("GET", &format!("{BASE}/1"))),
    ] {
        let answer = call(&sb, req).await;
        assert!(
            answer.header("x-tt-logid").is_some_and(|v| !v.is_empty()),
            "{}",
            answer.text
        );
    }
}

#[tokio::test]
async fn a_missing_scope_is_403_154003_and_changes_nothing() {
    let read_only =
        sandbox_with(|c| c.feishu.granted_scopes = vec!["helpdesk:all:readonly".into()]);
    let ids = read_only.seed(&SeedRequest {
        count: 1,
        vendors: vec![Vendor::Feishu],
        sent_ago_secs: 0,
    });
    let id = &ids.feishu[0];
    let sent = status(&read_only, id).await;
    let recall = op(&read_only, id, "cancel_send", &json!({"is_recall": true})).await;
    assert_fail(&recall, 403, 154003);
    assert!(
        recall.json["msg"]
            .as_str()
            .is_some_and(|m| m.contains("helpdesk:all")),
        "{}",
        recall.text
    );
    assert_eq!(
        status(&read_only, id).await,
        sent,
        "GET needs only the read scope"
    );
    let stats = read_only.stats().feishu;
    assert_eq!((stats.recalled, stats.auth_failures), (0, 1));

    let none = sandbox_with(|c| c.feishu.granted_scopes = Vec::new());
    let get = call(&none, auth(request("GET", &format!("{BASE}/{id}")))).await;
    assert_fail(&get, 403, 154003);
    // Tokens need no scope.
    let token = json_request(
        "POST",
        "/open-apis/auth/v3/tenant_access_token/internal",
        &json!({"app_id": "cli_sandbox", "app_secret": "sandbox-secret"}),
    );
    assert_eq!(call(&none, token).await.int("code"), 0);
}

#[tokio::test]
async fn the_missing_scope_answer_can_be_a_generic_code() {
    let sb = sandbox_with(|c| {
        c.feishu.granted_scopes = Vec::new();
        c.feishu.missing_scope = ErrorShape {
            http: 403,
            code: 99991672,
        };
    });
    let create = call(&sb, auth(json_request("POST", BASE, &json!({})))).await;
    assert_fail(&create, 403, 99991672);
}
