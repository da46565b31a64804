use super::*;
use serde_json::json;

#[test]
fn merge_changes_only_the_given_keys() {
    let base = Config::default();
    let merged = base
        .merged(&json!({"latency_ms": 5, "rate_limits": {"jpush_per_min": null}}))
        .expect("valid patch");
    assert_eq!(merged.latency_ms, 5);
    assert_eq!(merged.rate_limits.jpush_per_min, None);
    assert_eq!(merged.rate_limits.engagelab_per_sec, Some(500));
    assert_eq!(merged.feishu, base.feishu);
}

#[test]
fn unknown_keys_are_refused() {
    let err = Config::default().merged(&json!({"latncy_ms": 5}));
    assert!(matches!(err, Err(ConfigError::Shape(_))));
}

#[test]
fn bad_status_is_refused_with_its_key() {
    let err = Config::default()
        .merged(&json!({"dingtalk": {"error_http_status": 42}}))
        .expect_err("42 is not a status");
    assert!(err.to_string().contains("dingtalk.error_http_status"));
}

#[test]
fn a_partial_document_deserializes_over_defaults() {
    let config: Config =
        serde_json::from_value(json!({"feishu": {"app_id": "cli_x"}})).expect("valid");
    assert_eq!(config.feishu.app_id, "cli_x");
    assert_eq!(config.feishu.app_secret, "sandbox-secret");
}
