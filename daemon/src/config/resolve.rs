//! Secrets resolved: every `${env:..}`/`${file:..}` in account credentials
//! and client secrets replaced by its value, once, before the daemon starts
//! (or `recalld check` looks at them).

use std::path::Path;

use super::{Config, ConfigError, ConfigErrors, Secret, secret};

impl Config {
    /// Replaces every `${env:..}`/`${file:..}` in credentials and client
    /// secrets with its value; a relative `${file:PATH}` is read from the
    /// config file's folder. Errors name the account or client and the key,
    /// at the value's place in the config.
    pub fn resolve_secrets(&mut self) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        let file = self.path.clone();
        let base = file.parent().map(Path::to_owned).unwrap_or_default();
        let expand = |value: &str| secret::expand(&anchor_file_references(value, &base));
        for account in self.accounts.values_mut() {
            for (key, value) in account.credentials.iter_mut() {
                if let serde_json::Value::String(s) = value {
                    match expand(s) {
                        Ok(resolved) => *s = resolved,
                        Err(e) => errors.push(ConfigError {
                            file: file.clone(),
                            line: account.location.0,
                            column: account.location.1,
                            message: format!("account {}: credentials.{key}: {e}", account.name),
                        }),
                    }
                }
            }
        }
        for client in self.clients.values_mut() {
            let locations = client.secret_locations.iter().copied();
            for (secret, (line, column)) in client.secrets.iter_mut().zip(locations) {
                match expand(secret.expose()) {
                    Ok(resolved) => *secret = Secret::new(resolved),
                    Err(e) => errors.push(ConfigError {
                        file: file.clone(),
                        line,
                        column,
                        message: format!("client {}: secrets: {e}", client.name),
                    }),
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errors))
        }
    }
}

/// `value` with each relative `${file:PATH}` made relative to `base` (the
/// config's folder); `secret::expand` reads paths as given.
fn anchor_file_references(value: &str, base: &Path) -> String {
    const OPEN: &str = "${file:";
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find(OPEN) {
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find('}') else {
            break;
        };
        out.push_str(&rest[..start + OPEN.len()]);
        let path = &after[..end];
        if path.is_empty() || Path::new(path).is_absolute() {
            out.push_str(path);
        } else {
            out.push_str(&base.join(path).to_string_lossy());
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}
