//! What the JPush plugin declares to the host.

use plugin_api::{CredentialSchema, CredentialType, Manifest, OperationKind, RateLimit, Region};

/// The push API hosts: the default zone first, then the Beijing zone.
pub(crate) fn regions() -> Vec<Region> {
    [
        ("cn", "https://api.jpush.cn"),
        ("bj", "https://bjapi.push.jiguang.cn"),
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
        name: "jpush".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        vendor: "JPush".to_owned(),
        description: "JPush v3: delete (recall) a push by msg_id".to_owned(),
        operations: vec![OperationKind::Recall],
        // JPush documents no window; the vendor's own answer says `expired`.
        recall_window_secs: None,
        // Free tier: 600 calls a minute per AppKey; above it the vendor answers 2002.
        rate_limits: vec![RateLimit {
            scope: "*".to_owned(),
            requests: 600,
            per_ms: 60_000,
        }],
        regions: regions(),
        credentials: CredentialSchema::new()
            .field("app_key", CredentialType::String, true, false, "the AppKey")
            .field(
                "master_secret",
                CredentialType::String,
                true,
                true,
                "the AppKey's Master Secret",
            ),
        uses_token: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn manifest_declares_no_window_regions_and_limits() {
        let manifest = manifest();
        assert_eq!(manifest.name, "jpush");
        assert_eq!(manifest.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(manifest.operations, vec![OperationKind::Recall]);
        assert_eq!(manifest.recall_window_secs, None);
        assert!(!manifest.uses_token);
        let limit = RateLimit {
            scope: "*".into(),
            requests: 600,
            per_ms: 60_000,
        };
        assert_eq!(manifest.rate_limits, vec![limit]);
        let hosts: Vec<_> = manifest
            .regions
            .iter()
            .map(|r| r.base_url.as_str())
            .collect();
        assert_eq!(
            hosts,
            ["https://api.jpush.cn", "https://bjapi.push.jiguang.cn"]
        );
    }

    #[test]
    fn credential_schema_names_missing_keys_and_secrets() {
        let schema = manifest().credentials;
        let problems = schema.problems(json!({"master_secret": 7}).as_object().unwrap());
        assert_eq!(
            problems,
            vec![
                ("app_key".to_owned(), "missing".to_owned()),
                ("master_secret".to_owned(), "must be a string".to_owned()),
            ]
        );
        let ok = json!({"app_key": "k", "master_secret": "s"});
        assert!(schema.problems(ok.as_object().unwrap()).is_empty());
        assert_eq!(schema.secret_keys().collect::<Vec<_>>(), ["master_secret"]);
    }

    #[test]
    fn manifest_survives_json() {
        let manifest = manifest();
        let json = serde_json::to_value(&manifest).unwrap();
        assert_eq!(serde_json::from_value::<Manifest>(json).unwrap(), manifest);
    }
}
