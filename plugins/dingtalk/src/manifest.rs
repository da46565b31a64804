//! What the DingTalk plugin declares to the host.

use plugin_api::{CredentialSchema, CredentialType, Manifest, OperationKind, RateLimit, Region};

/// How long after the send DingTalk accepts a recall: 24 h.
pub(crate) const RECALL_WINDOW_SECS: u64 = 86_400;

/// Credentials that are secrets, scrubbed from every message.
pub(crate) const SECRET_KEYS: &[&str] = &["appsecret"];

/// The oapi hosts (work notifications exist only on oapi): China first.
pub(crate) fn regions() -> Vec<Region> {
    [
        ("com", "https://oapi.dingtalk.com"),
        ("io", "https://oapi.dingtalk.io"),
    ]
    .into_iter()
    .map(|(name, base_url)| Region {
        name: name.to_owned(),
        base_url: base_url.to_owned(),
    })
    .collect()
}

pub(crate) fn manifest() -> Manifest {
    Manifest {
        name: "dingtalk".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        vendor: "DingTalk".to_owned(),
        description: "DingTalk work notifications: recall a message by task_id (within 24 h)"
            .to_owned(),
        operations: vec![OperationKind::Recall],
        recall_window_secs: Some(RECALL_WINDOW_SECS),
        // Per appkey and API: 40 calls a second (above it the vendor answers
        // 90018) and 1500 a minute (90006 / 90005). The host keeps to both.
        rate_limits: vec![
            RateLimit {
                scope: "*".to_owned(),
                requests: 40,
                per_ms: 1_000,
            },
            RateLimit {
                scope: "*".to_owned(),
                requests: 1_500,
                per_ms: 60_000,
            },
        ],
        regions: regions(),
        credentials: CredentialSchema::new()
            .field(
                "appkey",
                CredentialType::String,
                true,
                false,
                "the app's AppKey",
            )
            .field(
                "appsecret",
                CredentialType::String,
                true,
                true,
                "the app's AppSecret",
            )
            .field(
                "agent_id",
                CredentialType::Integer,
                true,
                false,
                "the app's AgentId, which sent the messages",
            ),
        uses_token: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn manifest_declares_window_token_and_regions() {
        let manifest = manifest();
        assert_eq!(manifest.name, "dingtalk");
        assert_eq!(manifest.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(manifest.operations, vec![OperationKind::Recall]);
        assert_eq!(manifest.recall_window_secs, Some(86_400));
        assert!(manifest.uses_token);
        let hosts: Vec<_> = manifest
            .regions
            .iter()
            .map(|r| r.base_url.as_str())
            .collect();
        assert_eq!(
            hosts,
            ["https://oapi.dingtalk.com", "https://oapi.dingtalk.io"]
        );
    }

    #[test]
    fn manifest_declares_the_per_minute_limit_beside_the_per_second_one() {
        // The sandbox, like DingTalk, answers 90006 past 1500 calls a minute
        // even when every second stays under 40.
        let per_second = RateLimit {
            scope: "*".into(),
            requests: 40,
            per_ms: 1_000,
        };
        let per_minute = RateLimit {
            scope: "*".into(),
            requests: 1_500,
            per_ms: 60_000,
        };
        assert_eq!(manifest().rate_limits, vec![per_second, per_minute]);
    }

    #[test]
    fn credential_schema_names_missing_keys_and_secrets() {
        let schema = manifest().credentials;
        let creds = json!({"appkey": "k", "agent_id": 1000});
        let problems = schema.problems(creds.as_object().unwrap());
        assert_eq!(
            problems,
            vec![("appsecret".to_owned(), "missing".to_owned())]
        );
        let creds = json!({"appkey": "k", "appsecret": "s", "agent_id": "12x"});
        let problems = schema.problems(creds.as_object().unwrap());
        assert_eq!(
            problems,
            vec![("agent_id".to_owned(), "must be an integer".to_owned())]
        );
        let ok = json!({"appkey": "k", "appsecret": "s", "agent_id": "1000"});
        assert!(schema.problems(ok.as_object().unwrap()).is_empty());
        assert_eq!(schema.secret_keys().collect::<Vec<_>>(), SECRET_KEYS);
    }

    #[test]
    fn manifest_survives_json() {
        let manifest = manifest();
        let json = serde_json::to_value(&manifest).unwrap();
        assert_eq!(serde_json::from_value::<Manifest>(json).unwrap(), manifest);
    }
}
