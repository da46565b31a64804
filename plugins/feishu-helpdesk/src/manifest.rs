//! What the Feishu helpdesk plugin declares to the host.

use plugin_api::{CredentialSchema, CredentialType, Manifest, OperationKind, RateLimit, Region};

/// Credentials that are secrets, scrubbed from every message.
pub(crate) const SECRET_KEYS: &[&str] = &["user_access_token", "helpdesk_token", "app_secret"];

/// Feishu (China) first, then Lark (international).
pub(crate) fn regions() -> Vec<Region> {
    [
        ("feishu", "https://open.feishu.cn"),
        ("lark", "https://open.larksuite.com"),
    ]
    .into_iter()
    .map(|(name, base_url)| Region {
        name: name.to_owned(),
        base_url: base_url.to_owned(),
    })
    .collect()
}

pub(crate) fn manifest() -> Manifest {
    let per_minute = |scope: &str, requests| RateLimit {
        scope: scope.to_owned(),
        requests,
        per_ms: 60_000,
    };
    Manifest {
        name: "feishu-helpdesk".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        vendor: "Feishu / Lark".to_owned(),
        description: "Feishu/Lark helpdesk notifications: recall or cancel a push \
                      (cancel_send), update a draft (PATCH)"
            .to_owned(),
        operations: vec![
            OperationKind::Recall,
            OperationKind::Cancel,
            OperationKind::Update,
        ],
        recall_window_secs: None,
        // PATCH is limited to 20/min; execute_send (never called by recalld) to 10/min.
        rate_limits: vec![per_minute("update", 20), per_minute("execute_send", 10)],
        regions: regions(),
        credentials: CredentialSchema::new()
            .field(
                "user_access_token",
                CredentialType::String,
                true,
                true,
                "a user access token (u-...): the notification APIs accept no other; \
                 recalld does not run the OAuth flow, so rotate it in the config",
            )
            .field(
                "helpdesk_id",
                CredentialType::String,
                true,
                false,
                "the helpdesk ID, from the helpdesk admin settings",
            )
            .field(
                "helpdesk_token",
                CredentialType::String,
                true,
                true,
                "the helpdesk token, from the helpdesk admin settings",
            )
            .field(
                "app_id",
                CredentialType::String,
                false,
                false,
                "the app ID (unused for now)",
            )
            .field(
                "app_secret",
                CredentialType::String,
                false,
                true,
                "the app secret (unused for now)",
            ),
        uses_token: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn manifest_declares_operations_regions_and_limits() {
        let manifest = manifest();
        assert_eq!(manifest.name, "feishu-helpdesk");
        assert_eq!(manifest.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(
            manifest.operations,
            vec![
                OperationKind::Recall,
                OperationKind::Cancel,
                OperationKind::Update
            ]
        );
        assert_eq!(manifest.recall_window_secs, None);
        assert!(!manifest.uses_token);
        let limits: Vec<_> = manifest
            .rate_limits
            .iter()
            .map(|l| (l.scope.as_str(), l.requests, l.per_ms))
            .collect();
        assert_eq!(
            limits,
            [("update", 20, 60_000), ("execute_send", 10, 60_000)]
        );
        let hosts: Vec<_> = manifest
            .regions
            .iter()
            .map(|r| r.base_url.as_str())
            .collect();
        assert_eq!(
            hosts,
            ["https://open.feishu.cn", "https://open.larksuite.com"]
        );
    }

    #[test]
    fn credential_schema_names_missing_keys_and_secrets() {
        let schema = manifest().credentials;
        let creds = json!({"user_access_token": "u-1", "helpdesk_id": "1"});
        let problems = schema.problems(creds.as_object().unwrap());
        assert_eq!(
            problems,
            vec![("helpdesk_token".to_owned(), "missing".to_owned())]
        );
        let full = json!({"user_access_token": "u-1", "helpdesk_id": "1", "helpdesk_token": "t",
                          "app_id": "cli_1", "app_secret": "s"});
        assert!(schema.problems(full.as_object().unwrap()).is_empty());
        let mut secrets: Vec<_> = schema.secret_keys().collect();
        secrets.sort_unstable();
        let mut expected = SECRET_KEYS.to_vec();
        expected.sort_unstable();
        assert_eq!(secrets, expected);
    }

    #[test]
    fn manifest_survives_json() {
        let manifest = manifest();
        let json = serde_json::to_value(&manifest).unwrap();
        assert_eq!(serde_json::from_value::<Manifest>(json).unwrap(), manifest);
    }
}
