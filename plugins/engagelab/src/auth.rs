//! HTTP Basic credentials: the AppKey's, or the group's for group pushes.
//!
//! EngageLab authenticates with `Authorization: Basic
//! base64(<user>:<password>)`: the user is the AppKey and the password its
//! Master Secret, except for group pushes, where the user is
//! `group-<GroupKey>` and the password the Group Master Secret
//! (`vendors.md` §3). An account that sets both `group_key` and
//! `group_master_secret` recalls with the group's credentials.

use plugin_api::{Account, PluginError};
use plugin_common::{Secrets, base64_pair};

/// The Basic user of a group: `group-` and the GroupKey.
const GROUP_USER_PREFIX: &str = "group-";

/// The Basic `(user, password)` of `account`.
pub(crate) fn basic(account: &Account) -> Result<(String, &str), PluginError> {
    let group_key = account.credentials.get("group_key");
    let group_secret = account.credentials.get("group_master_secret");
    match (group_key, group_secret) {
        (None, None) => {
            let app_key = account.credential_str("app_key")?;
            let master_secret = account.credential_str("master_secret")?;
            Ok((app_key.to_owned(), master_secret))
        }
        (Some(_), Some(_)) => {
            let group_key = account.credential_str("group_key")?;
            let group_secret = account.credential_str("group_master_secret")?;
            Ok((format!("{GROUP_USER_PREFIX}{group_key}"), group_secret))
        }
        (Some(_), None) | (None, Some(_)) => Err(PluginError::new(
            "bad_credentials",
            "credentials.group_key and credentials.group_master_secret go together: \
             set both for group pushes, or neither",
        )),
    }
}

/// Every secret of `account`: both Master Secrets and the header values
/// they make.
pub(crate) fn secrets(account: &Account) -> Secrets {
    let secrets = Secrets::basic(account, "app_key", "master_secret");
    let credential = |key: &str| account.credentials.get(key).and_then(|v| v.as_str());
    match (credential("group_key"), credential("group_master_secret")) {
        (Some(key), Some(secret)) => secrets
            .with(secret.to_owned())
            .with(base64_pair(&format!("{GROUP_USER_PREFIX}{key}"), secret)),
        (None, Some(secret)) => secrets.with(secret.to_owned()),
        _ => secrets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn account(credentials: Value) -> Account {
        serde_json::from_value(json!({"name": "engagelab-main", "credentials": credentials}))
            .unwrap()
    }

    #[test]
    fn the_app_key_is_the_user_without_group_credentials() {
        let app = account(json!({"app_key": "k", "master_secret": "s"}));
        assert_eq!(basic(&app).unwrap(), ("k".to_owned(), "s"));
    }

    #[test]
    fn group_credentials_make_the_user_group_key() {
        let group = account(json!({"app_key": "k", "master_secret": "s",
                                   "group_key": "g1", "group_master_secret": "gs"}));
        assert_eq!(basic(&group).unwrap(), ("group-g1".to_owned(), "gs"));
    }

    #[test]
    fn half_of_the_group_credentials_is_refused() {
        for half in [
            json!({"app_key": "k", "master_secret": "s", "group_key": "g1"}),
            json!({"app_key": "k", "master_secret": "s", "group_master_secret": "gs"}),
        ] {
            let error = basic(&account(half.clone())).unwrap_err();
            assert_eq!(error.code, "bad_credentials", "{half}");
        }
        let not_a_string = account(json!({"group_key": 7, "group_master_secret": "gs"}));
        assert_eq!(
            basic(&not_a_string).unwrap_err().message,
            "credentials.group_key must be a string"
        );
    }

    #[test]
    fn group_secrets_are_scrubbed_too() {
        let group = account(json!({"app_key": "Aladdin", "master_secret": "open sesame",
                                   "group_key": "g1", "group_master_secret": "group sesame"}));
        let header = base64_pair("group-g1", "group sesame");
        let text = format!("{header} / group sesame / open sesame / g1");
        assert_eq!(
            secrets(&group).scrub(&text),
            "[redacted] / [redacted] / [redacted] / g1"
        );
    }
}
