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

#[test]
fn fault_settings_merge_over_null_and_default_the_rest() {
    let merged = Config::default()
        .merged(&json!({"faults": {"seed": 3, "jpush": {"timeout": {"fraction": 0.1}}}}))
        .expect("valid patch");
    let jpush = merged.faults.jpush.expect("jpush rules set");
    assert_eq!(jpush.timeout.fraction, 0.1);
    assert_eq!(jpush.timeout.hold_ms, 15_000);
    assert_eq!(jpush.rate_limited.burst, 1);
    assert_eq!(merged.faults.feishu, None);
    assert_eq!(merged.faults.seed, Some(3));
}

#[test]
fn bad_fault_settings_are_refused_with_their_key() {
    let cases = [
        (
            json!({"all": {"server_error": {"fraction": 1.5}}}),
            "faults.all.server_error.fraction",
        ),
        (
            json!({"feishu": {"server_error": {"fraction": 0.6}, "timeout": {"fraction": 0.6}}}),
            "faults.feishu.*.fraction (sum)",
        ),
        (
            json!({"all": {"timeout": {"hold_ms": 120_000}}}),
            "faults.all.timeout.hold_ms",
        ),
        (
            json!({"dingtalk": {"rate_limited": {"burst": 0}}}),
            "faults.dingtalk.rate_limited.burst",
        ),
        (
            json!({"jpush": {"endpoints": ["withdraw"]}}),
            "faults.jpush.endpoints",
        ),
        (
            json!({"all": {"endpoints": ["nothing"]}}),
            "faults.all.endpoints",
        ),
        (
            json!({"jpush": {"error": {"code": 21003}}}),
            "faults.jpush.error.code",
        ),
        (
            json!({"jpush": {"error": {"code": 1, "http": 700}}}),
            "faults.jpush.error.http",
        ),
        (
            json!({"all": {"error": {"code": 1000}}}),
            "faults.all.error",
        ),
    ];
    for (faults, key) in cases {
        let err = Config::default()
            .merged(&json!({"faults": faults}))
            .expect_err(key);
        assert!(err.to_string().contains(key), "{err} lacks {key}");
    }
    // A name any vendor has passes for all; an undocumented code with a status passes.
    let ok = json!({"faults": {"all": {"endpoints": ["withdraw", "delete"]},
                               "jpush": {"error": {"code": 1, "http": 503}}}});
    assert!(Config::default().merged(&ok).is_ok());
}

#[test]
fn new_fields_default_so_older_documents_still_load() {
    let config: Config = serde_json::from_value(json!({"latency_ms": 3})).expect("valid");
    assert_eq!(config.latency_jitter_ms, 0);
    assert_eq!(config.faults, FaultConfig::default());
    assert_eq!(config.rate_limits.dingtalk_per_min, Some(1500));
    assert_eq!(config.engagelab.unknown_app_key.code, 21008);
}
