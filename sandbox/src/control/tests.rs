use std::time::{Duration, Instant};

use serde_json::json;

use crate::testkit::{call, json_request, request, sandbox};
use crate::{SeedResponse, Stats};

#[tokio::test]
async fn clock_moves_forward_over_http() {
    let sb = sandbox();
    let before = sb.now_ms();
    let answer = call(
        &sb,
        json_request("POST", "/_sandbox/clock", &json!({"advance_secs": 90_000})),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.int("now_ms"), before + 90_000_000);
    assert_eq!(answer.int("offset_ms"), 90_000_000);
    let read = call(&sb, request("GET", "/_sandbox/clock")).await;
    assert_eq!(read.int("now_ms"), sb.now_ms());
}

#[tokio::test]
async fn seed_100k_per_vendor_in_one_call() {
    let sb = sandbox();
    let started = Instant::now();
    let answer = call(
        &sb,
        json_request(
            "POST",
            "/_sandbox/seed",
            &json!({"count": 100_000, "vendors": ["feishu", "dingtalk", "engagelab", "jpush"], "sent_ago_secs": 0}),
        ),
    )
    .await;
    eprintln!("seeded 4 x 100k in {:?}", started.elapsed());
    assert_eq!(answer.status, 200);
    let ids: SeedResponse = serde_json::from_value(answer.json).expect("seed response shape");
    for list in [&ids.feishu, &ids.dingtalk, &ids.engagelab, &ids.jpush] {
        assert_eq!(list.len(), 100_000);
        let distinct: std::collections::HashSet<_> = list.iter().collect();
        assert_eq!(distinct.len(), 100_000);
    }
    let stats = sb.stats();
    assert_eq!(stats.feishu.messages, 100_000);
    assert_eq!(stats.jpush.messages, 100_000);
}

#[tokio::test]
async fn seed_defaults_to_all_vendors() {
    let sb = sandbox();
    let answer = call(
        &sb,
        json_request("POST", "/_sandbox/seed", &json!({"count": 2})),
    )
    .await;
    let ids: SeedResponse = serde_json::from_value(answer.json).expect("seed response shape");
    assert_eq!(ids.dingtalk.len(), 2);
    assert_eq!(ids.engagelab.len(), 2);
    let only = call(
        &sb,
        json_request(
            "POST",
            "/_sandbox/seed",
            &json!({"count": 1, "vendors": ["jpush"]}),
        ),
    )
    .await;
    assert_eq!(only.json["feishu"], json!([]));
    assert_eq!(only.json["jpush"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn stats_shape() {
    let sb = sandbox();
    call(&sb, request("GET", "/gettoken?appkey=x&appsecret=y")).await;
    let answer = call(&sb, request("GET", "/_sandbox/stats")).await;
    assert_eq!(answer.status, 200);
    let dingtalk = &answer.json["dingtalk"];
    assert_eq!(dingtalk["requests"]["gettoken"], 1);
    assert_eq!(dingtalk["requests"]["recall"], 0);
    assert_eq!(dingtalk["auth_failures"], 1);
    for key in [
        "messages",
        "recalled",
        "duplicate_recalls",
        "cancelled",
        "rate_limited",
    ] {
        assert_eq!(dingtalk[key], 0, "{key}");
    }
    let parsed: Stats = serde_json::from_value(answer.json).expect("stats shape");
    assert_eq!(parsed, sb.stats());
}

#[tokio::test]
async fn config_can_be_read_and_patched() {
    let sb = sandbox();
    let read = call(&sb, request("GET", "/_sandbox/config")).await;
    assert_eq!(read.json["feishu"]["app_id"], "cli_sandbox");
    assert_eq!(read.json["rate_limits"]["engagelab_per_sec"], 500);
    let patched = call(
        &sb,
        json_request(
            "POST",
            "/_sandbox/config",
            &json!({"latency_ms": 3, "rate_limits": {"enabled": false}}),
        ),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.json["latency_ms"], 3);
    assert!(!sb.config().rate_limits.enabled);
    assert_eq!(sb.config().feishu.app_id, "cli_sandbox");

    let bad = call(
        &sb,
        json_request("POST", "/_sandbox/config", &json!({"latency": 3})),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json["error"]["code"], "invalid_config");
    assert_eq!(sb.config().latency_ms, 3, "a refused patch changes nothing");
}

#[tokio::test]
async fn latency_delays_vendor_calls_not_controls() {
    let sb = sandbox();
    sb.set_latency(Duration::from_millis(60));
    assert_eq!(sb.config().latency_ms, 60);
    let started = Instant::now();
    call(&sb, request("GET", "/gettoken")).await;
    assert!(started.elapsed() >= Duration::from_millis(60));
    let started = Instant::now();
    call(&sb, request("GET", "/_sandbox/stats")).await;
    assert!(started.elapsed() < Duration::from_millis(60));
    // Only the vendor call waited, and it is counted with what it was held.
    let held = sb.stats().latency;
    assert_eq!((held.calls, held.asked_us), (1, 60_000));
    assert!(held.held_us >= 60_000, "held {} us", held.held_us);
    assert_eq!(held.most_late_us, held.held_us - 60_000);
}

#[tokio::test]
async fn reset_forgets_messages_and_counters() {
    let sb = sandbox();
    let ids = sb.seed(&crate::SeedRequest::new(2));
    sb.set_latency(Duration::from_millis(1));
    call(&sb, request("GET", "/gettoken")).await;
    assert_eq!(sb.stats().dingtalk.requests["gettoken"], 1);
    assert_eq!(sb.stats().latency.calls, 1);
    let answer = call(&sb, request("POST", "/_sandbox/reset")).await;
    assert_eq!(answer.status, 200);
    let stats = sb.stats();
    assert_eq!(stats.latency, crate::LatencyStats::default());
    for vendor in [
        &stats.feishu,
        &stats.dingtalk,
        &stats.engagelab,
        &stats.jpush,
    ] {
        assert_eq!(vendor.messages, 0);
        assert!(vendor.requests.values().all(|n| *n == 0));
    }
    let fresh = sb.seed(&crate::SeedRequest::new(1));
    assert!(
        !ids.engagelab.contains(&fresh.engagelab[0]),
        "ids are never reused"
    );
}

#[tokio::test]
async fn control_errors_use_the_house_shape() {
    let sb = sandbox();
    let cases = [
        (
            json_request("POST", "/_sandbox/seed", &json!({"count": 2_000_000})),
            400,
            "too_many",
        ),
        (
            json_request(
                "POST",
                "/_sandbox/seed",
                &json!({"count": 1, "vendors": ["slack"]}),
            ),
            400,
            "bad_request",
        ),
        (
            request("POST", "/_sandbox/clock").body("{"),
            400,
            "bad_request",
        ),
        (request("GET", "/_sandbox/nothing"), 404, "not_found"),
        (
            request("DELETE", "/_sandbox/stats"),
            405,
            "method_not_allowed",
        ),
        (
            request("POST", "/_sandbox/feishu/notifications/1/approve"),
            404,
            "not_found",
        ),
    ];
    for (req, status, code) in cases {
        let answer = call(&sb, req).await;
        assert_eq!(answer.status, status, "{}", answer.text);
        assert_eq!(answer.json["error"]["code"], code, "{}", answer.text);
        assert!(answer.json["error"]["message"].is_string());
    }
}

#[tokio::test]
async fn unknown_paths_are_404_and_big_bodies_413() {
    let sb = sandbox();
    assert_eq!(call(&sb, request("GET", "/")).await.status, 404);
    assert_eq!(call(&sb, request("GET", "/v5/push")).await.status, 404);
    let big = request("POST", "/v4/push").body(vec![b'x'; 1024 * 1024 + 1]);
    assert_eq!(call(&sb, big).await.status, 413);
}
