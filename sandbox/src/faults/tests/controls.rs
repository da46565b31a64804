//! Fault settings as controls: global rules, `POST /_sandbox/config`,
//! re-arming, what never gets a fault, and latency jitter.

use std::time::{Duration, Instant};

use serde_json::json;

use super::probe;
use super::routes::{armed, faults};
use crate::Vendor;
use crate::config::{FaultConfig, FaultRules};
use crate::testkit::{call, json_request, request, sandbox, sandbox_with};

#[tokio::test]
async fn global_rules_apply_where_a_vendor_has_none() {
    let sb = sandbox();
    let set = sb.set_faults(FaultConfig {
        seed: Some(1),
        all: armed(1, 0, 0),
        jpush: Some(FaultRules::default()),
        ..FaultConfig::default()
    });
    assert!(set.is_ok(), "{set:?}");
    for vendor in Vendor::ALL {
        let first = call(&sb, probe(vendor)).await;
        let hit = vendor != Vendor::JPush;
        assert_eq!(
            first.status != 200 || first.json["errcode"] == -1,
            hit,
            "{vendor:?}: {}",
            first.text
        );
        assert_eq!(
            faults(&sb, vendor)["server_error"],
            u64::from(hit),
            "{vendor:?}"
        );
    }
}

#[tokio::test]
async fn faults_are_set_over_http_and_rearmed_only_when_they_change() {
    let sb = sandbox();
    let set = call(
        &sb,
        json_request(
            "POST",
            "/_sandbox/config",
            &json!({"faults": {"seed": 5, "jpush": {"server_error": {"next": 1}}}}),
        ),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(set.json["faults"]["jpush"]["server_error"]["next"], 1);
    assert_eq!(set.json["faults"]["feishu"], serde_json::Value::Null);
    assert_eq!(call(&sb, probe(Vendor::JPush)).await.status, 500);
    // Another key changes nothing about the faults: still used up.
    let latency = json_request("POST", "/_sandbox/config", &json!({"latency_ms": 0}));
    assert_eq!(call(&sb, latency).await.status, 200);
    assert_eq!(call(&sb, probe(Vendor::JPush)).await.status, 200);
    // Changing them arms them again.
    let rearm = json_request(
        "POST",
        "/_sandbox/config",
        &json!({"faults": {"jpush": {"server_error": {"next": 2}}}}),
    );
    assert_eq!(call(&sb, rearm).await.status, 200);
    assert_eq!(call(&sb, probe(Vendor::JPush)).await.status, 500);
    let stats = call(&sb, request("GET", "/_sandbox/stats")).await;
    assert_eq!(stats.json["jpush"]["faults_injected"]["server_error"], 2);
    assert_eq!(stats.json["jpush"]["faults_injected"]["timeout"], 0);
    assert_eq!(stats.json["feishu"]["faults_injected"]["error"], 0);
}

#[tokio::test]
async fn controls_and_unknown_paths_never_get_faults() {
    let sb = sandbox_with(|c| c.faults.all.server_error.fraction = 1.0);
    assert_eq!(
        call(&sb, request("GET", "/_sandbox/stats")).await.status,
        200
    );
    let unknown = call(&sb, request("GET", "/v5/nothing")).await;
    assert_eq!(
        (unknown.status, unknown.text.as_str()),
        (404, "404 page not found")
    );
    assert_eq!(call(&sb, probe(Vendor::JPush)).await.status, 500);
}

#[tokio::test]
async fn latency_with_jitter_delays_each_request() {
    let sb = sandbox_with(|c| {
        c.latency_ms = 20;
        c.faults.seed = Some(1);
    });
    sb.set_latency_jitter(Duration::from_millis(30));
    assert_eq!(sb.config().latency_jitter_ms, 30);
    let started = Instant::now();
    assert_eq!(call(&sb, probe(Vendor::DingTalk)).await.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(20),
        "{:?}",
        started.elapsed()
    );
    // Controls are never delayed.
    let started = Instant::now();
    call(&sb, request("GET", "/_sandbox/clock")).await;
    assert!(
        started.elapsed() < Duration::from_millis(20),
        "{:?}",
        started.elapsed()
    );
}
