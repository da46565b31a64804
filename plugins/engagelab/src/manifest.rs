//! What the EngageLab plugin declares to the host.

use plugin_api::{CredentialSchema, CredentialType, Manifest, OperationKind, RateLimit, Region};

/// The documented push API hosts; `sgp` is the SDK default.
pub(crate) fn regions() -> Vec<Region> {
    ["sgp", "hk", "usva", "defra"]
        .into_iter()
        .map(|name| Region {
            name: name.to_owned(),
            base_url: format!("https://pushapi-{name}.engagelab.com"),
        })
        .collect()
}

pub(crate) fn manifest() -> Manifest {
    Manifest {
        name: "engagelab".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        vendor: "EngageLab".to_owned(),
        description: "EngageLab AppPush v4: withdraw a push by msg_id (within 1 day, once)"
            .to_owned(),
        operations: vec![OperationKind::Recall],
        recall_window_secs: Some(86_400),
        // 500 QPS per AppKey; above it the vendor answers 23008.
        rate_limits: vec![RateLimit {
            scope: "*".to_owned(),
            requests: 500,
            per_ms: 1_000,
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
            )
            .field(
                "group_key",
                CredentialType::String,
                false,
                false,
                "for group pushes: the GroupKey (with group_master_secret, \
                 recalls authenticate as group-<GroupKey>)",
            )
            .field(
                "group_master_secret",
                CredentialType::String,
                false,
                true,
                "for group pushes: the Group Master Secret",
            ),
        uses_token: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn manifest_declares_recall_window_regions_and_limits() {
        let manifest = manifest();
        assert_eq!(manifest.name, "engagelab");
        assert_eq!(manifest.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(manifest.operations, vec![OperationKind::Recall]);
        assert_eq!(manifest.recall_window_secs, Some(86_400));
        assert!(!manifest.uses_token);
        assert_eq!(
            manifest.rate_limits,
            vec![RateLimit {
                scope: "*".into(),
                requests: 500,
                per_ms: 1_000
            }]
        );
        let hosts: Vec<_> = manifest
            .regions
            .iter()
            .map(|r| r.base_url.as_str())
            .collect();
        assert_eq!(
            hosts,
            [
                "https://pushapi-sgp.engagelab.com",
                "https://pushapi-hk.engagelab.com",
                "https://pushapi-usva.engagelab.com",
                "https://pushapi-defra.engagelab.com",
            ]
        );
    }

    #[test]
    fn credential_schema_names_missing_keys_and_secrets() {
        let schema = manifest().credentials;
        let problems = schema.problems(json!({"app_key": "k"}).as_object().unwrap());
        assert_eq!(
            problems,
            vec![("master_secret".to_owned(), "missing".to_owned())]
        );
        let ok = json!({"app_key": "k", "master_secret": "s"});
        assert!(schema.problems(ok.as_object().unwrap()).is_empty());
        let group = json!({"app_key": "k", "master_secret": "s",
                           "group_key": "g", "group_master_secret": "gs"});
        assert!(schema.problems(group.as_object().unwrap()).is_empty());
        assert_eq!(
            schema.secret_keys().collect::<Vec<_>>(),
            ["group_master_secret", "master_secret"]
        );
    }

    #[test]
    fn manifest_survives_json() {
        let manifest = manifest();
        let back: Manifest =
            serde_json::from_value(serde_json::to_value(&manifest).unwrap()).unwrap();
        assert_eq!(back, manifest);
    }
}
