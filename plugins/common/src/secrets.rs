//! Keeping credentials out of every message a plugin produces.

use plugin_api::Account;

/// The secret values of one account, to be scrubbed from any text that ends up
/// in an [`Outcome`](plugin_api::Outcome) or a
/// [`PluginError`](plugin_api::PluginError).
///
/// Vendors do not normally echo credentials, but a message quoting a body is
/// built from text the plugin does not control, so it is scrubbed anyway.
#[derive(Debug, Default, Clone)]
pub struct Secrets {
    /// Longest first, so a secret that contains another is replaced whole.
    values: Vec<String>,
}

/// What a secret is replaced with.
const REDACTED: &str = "[redacted]";

/// Shorter values are not scrubbed: they are too common to replace without
/// destroying every message (a one-letter "secret" would match any word), and
/// no real vendor secret is that short.
const MIN_SECRET_LEN: usize = 4;

impl Secrets {
    /// The string values of the credentials named by `keys` (the manifest's
    /// secret keys). Missing or non-string values are skipped.
    pub fn of(account: &Account, keys: &[&str]) -> Self {
        let mut secrets = Secrets::default();
        for key in keys {
            if let Some(value) = account.credentials.get(*key).and_then(|v| v.as_str()) {
                secrets = secrets.with(value.to_owned());
            }
        }
        secrets
    }

    /// The secrets of an HTTP Basic account: the password credential and the
    /// base64 `user:password` pair that the `Authorization` header carries.
    pub fn basic(account: &Account, user_key: &str, password_key: &str) -> Self {
        let secrets = Secrets::of(account, &[password_key]);
        let credential = |key: &str| account.credentials.get(key).and_then(|v| v.as_str());
        match (credential(user_key), credential(password_key)) {
            (Some(user), Some(password)) => secrets.with(crate::base64_pair(user, password)),
            _ => secrets,
        }
    }

    /// Adds a derived secret, e.g. the base64 of `app_key:master_secret`.
    pub fn with(mut self, value: String) -> Self {
        if value.len() >= MIN_SECRET_LEN && !self.values.contains(&value) {
            self.values.push(value);
            self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
        self
    }

    /// `text` with every secret replaced by `[redacted]`.
    pub fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for value in &self.values {
            if text.contains(value.as_str()) {
                text = text.replace(value.as_str(), REDACTED);
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scrub_replaces_named_credentials_and_derived_values() {
        let account: Account = serde_json::from_value(json!({
            "name": "a",
            "credentials": {"app_key": "key1", "master_secret": "s3cret", "n": 5}
        }))
        .unwrap();
        let secrets =
            Secrets::of(&account, &["master_secret", "n", "absent"]).with("czNjcmV0".into());
        assert_eq!(
            secrets.scrub("bad s3cret, encoded czNjcmV0, key key1"),
            "bad [redacted], encoded [redacted], key key1"
        );
    }

    #[test]
    fn basic_secrets_cover_the_password_and_the_header_value() {
        let account: Account = serde_json::from_value(json!({
            "name": "a",
            "credentials": {"app_key": "Aladdin", "master_secret": "open sesame"}
        }))
        .unwrap();
        let secrets = Secrets::basic(&account, "app_key", "master_secret");
        assert_eq!(
            secrets.scrub("QWxhZGRpbjpvcGVuIHNlc2FtZQ== / open sesame / Aladdin"),
            "[redacted] / [redacted] / Aladdin"
        );
    }

    #[test]
    fn longer_secret_is_replaced_before_its_prefix() {
        let secrets = Secrets::default()
            .with("abcd".into())
            .with("abcdefgh".into());
        assert_eq!(secrets.scrub("x abcdefgh y"), "x [redacted] y");
    }

    #[test]
    fn too_short_secrets_are_ignored() {
        let secrets = Secrets::default()
            .with(String::new())
            .with("t".into())
            .with("abc".into());
        assert_eq!(secrets.scrub("the abc text"), "the abc text");
        assert_eq!(
            Secrets::default().with("abcd".into()).scrub("abcde"),
            "[redacted]e"
        );
    }
}
