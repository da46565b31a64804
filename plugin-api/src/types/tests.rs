//! The wire format: what each payload accepts and how it reads.

use super::*;
use serde_json::{Map, json};

#[test]
fn outcome_json_is_tagged_snake_case() {
    let v = serde_json::to_value(Outcome::Retry {
        after_ms: Some(1500),
        code: "23008".into(),
        message: "rate limited".into(),
    })
    .unwrap();
    assert_eq!(
        v,
        json!({"outcome": "retry", "after_ms": 1500, "code": "23008", "message": "rate limited"})
    );
    let done: Outcome = serde_json::from_value(json!({"outcome": "already_done"})).unwrap();
    assert_eq!(done, Outcome::AlreadyDone);
}

#[test]
fn a_newer_minor_manifest_with_unknown_fields_still_parses() {
    // A plugin built against ABI 1.1 may append optional fields anywhere
    // in its manifest; a 1.0 host must accept and ignore them.
    let manifest: Manifest = serde_json::from_value(json!({
        "name": "future",
        "version": "2.0.0",
        "vendor": "Future",
        "operations": ["recall"],
        "rate_limits": [{"scope": "*", "requests": 5, "per_ms": 1000, "burst": 2}],
        "regions": [{"name": "eu", "base_url": "https://eu.example", "latency_ms": 3}],
        "credentials": {"type": "object", "properties": {}, "required": []},
        "future_field": {"anything": [1, 2]}
    }))
    .unwrap();
    assert_eq!(manifest.name, "future");
    assert_eq!(
        manifest.rate_limits,
        vec![RateLimit {
            scope: "*".into(),
            requests: 5,
            per_ms: 1000
        }]
    );
    assert_eq!(manifest.regions[0].base_url, "https://eu.example");
}

#[test]
fn interpret_input_attempt_is_optional_since_abi_1_1() {
    let input = json!({
        "account": {"name": "a"},
        "operation": {"kind": "recall",
                      "message": {"account": "a", "remote_id": "1", "sent_at_ms": 0}},
        "response": {"status": 200},
        "now_ms": 5
    });
    // A 1.0 host sends no attempt.
    let old: InterpretInput = serde_json::from_value(input.clone()).unwrap();
    assert_eq!(old.attempt, None);
    assert!(serde_json::to_value(&old).unwrap().get("attempt").is_none());
    let mut newer = input;
    newer["attempt"] = json!(3);
    let new: InterpretInput = serde_json::from_value(newer).unwrap();
    assert_eq!(new.attempt, Some(3));
    assert_eq!(serde_json::to_value(&new).unwrap()["attempt"], 3);
}

#[test]
fn credential_problems_name_each_key() {
    let schema = CredentialSchema::new()
        .field("appkey", CredentialType::String, true, false, "")
        .field("appsecret", CredentialType::String, true, true, "")
        .field("agent_id", CredentialType::Integer, true, false, "");
    let creds = json!({"appkey": "k", "agent_id": "12x", "colour": 1});
    let mut problems = schema.problems(creds.as_object().unwrap());
    problems.sort();
    assert_eq!(
        problems,
        vec![
            ("agent_id".into(), "must be an integer".into()),
            ("appsecret".into(), "missing".into()),
            ("colour".into(), "unknown key".into()),
        ]
    );
    let ok = json!({"appkey": "k", "appsecret": "s", "agent_id": "1000"});
    assert!(schema.problems(ok.as_object().unwrap()).is_empty());
    assert_eq!(schema.secret_keys().collect::<Vec<_>>(), vec!["appsecret"]);
}

#[test]
fn base_url_prefers_account_then_region_then_default() {
    let regions = vec![
        Region {
            name: "feishu".into(),
            base_url: "https://open.feishu.cn".into(),
        },
        Region {
            name: "lark".into(),
            base_url: "https://open.larksuite.com/".into(),
        },
    ];
    let mut account = Account {
        name: "a".into(),
        base_url: None,
        region: None,
        credentials: Map::new(),
    };
    assert_eq!(
        account.base_url(&regions).unwrap(),
        "https://open.feishu.cn"
    );
    account.region = Some("lark".into());
    assert_eq!(
        account.base_url(&regions).unwrap(),
        "https://open.larksuite.com"
    );
    account.region = Some("mars".into());
    assert_eq!(
        account.base_url(&regions).unwrap_err().code,
        "unknown_region"
    );
    account.base_url = Some("http://127.0.0.1:8900/".into());
    assert_eq!(account.base_url(&regions).unwrap(), "http://127.0.0.1:8900");
}

#[test]
fn response_header_lookup_ignores_case() {
    let response = HttpResponse {
        status: 429,
        headers: vec![Header::new("X-Ogw-Ratelimit-Reset", "7")],
        body: String::new(),
    };
    assert_eq!(response.header("x-ogw-ratelimit-reset"), Some("7"));
    assert_eq!(response.header("retry-after"), None);
}
