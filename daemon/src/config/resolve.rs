//! Secrets resolved: every `${env:..}`/`${file:..}` in account credentials
//! and client secrets replaced by its value, once, before the daemon starts
//! (or `recalld check` looks at them); then the clients' keys compared, since
//! only resolved secrets show which clients share one.

use std::path::Path;

use super::{Config, ConfigError, ConfigErrors, Scheme, Secret, secret};

impl Config {
    /// Replaces every `${env:..}`/`${file:..}` in credentials and client
    /// secrets with its value; a relative `${file:PATH}` is read from the
    /// config file's folder. Errors name the account or client and the key,
    /// at the value's place in the config.
    ///
    /// Two clients of one scheme whose secrets resolve to the same key are
    /// an error too (see `shared_keys`), however each secret is written.
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
        let mut keys = Vec::new();
        for client in self.clients.values_mut() {
            let locations = client.secret_locations.iter().copied();
            let secrets = client.secrets.iter_mut().zip(locations).enumerate();
            for (index, (secret, (line, column))) in secrets {
                match expand(secret.expose()) {
                    Ok(resolved) => {
                        // A secret that is no key is refused on its own
                        // (`whsec_` format, or empty).
                        if let Ok(key) = client.scheme.key(&resolved) {
                            keys.push(ClientKey {
                                client: client.name.clone(),
                                index,
                                at: (line, column),
                                scheme: client.scheme,
                                key,
                            });
                        }
                        *secret = Secret::new(resolved);
                    }
                    Err(e) => errors.push(ConfigError {
                        file: file.clone(),
                        line,
                        column,
                        message: format!("client {}: secrets: {e}", client.name),
                    }),
                }
            }
        }
        errors.extend(shared_keys(&file, keys));
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errors))
        }
    }
}

/// One client secret, resolved, as the key its signatures are checked with.
struct ClientKey {
    client: String,
    /// Its index in the client's `secrets`.
    index: usize,
    /// Where it is written (line, column).
    at: (u64, u64),
    scheme: Scheme,
    key: Vec<u8>,
}

/// An error for each key that a client shares with another client of the
/// same scheme written earlier in the file, at the later secret's place,
/// naming both clients and never the secret. A request signed with a shared
/// key verifies for both clients, and the API credits it to whichever it
/// tries first: the other client's requests would run under that client's
/// name and scopes. A key repeated within one client is harmless.
fn shared_keys(file: &Path, mut keys: Vec<ClientKey>) -> Vec<ConfigError> {
    keys.sort_by_key(|k| k.at);
    let mut errors = Vec::new();
    for (n, later) in keys.iter().enumerate() {
        let earlier = keys[..n]
            .iter()
            .find(|k| k.scheme == later.scheme && k.client != later.client && k.key == later.key);
        if let Some(earlier) = earlier {
            errors.push(ConfigError {
                file: file.to_owned(),
                line: later.at.0,
                column: later.at.1,
                message: format!(
                    "client {}: secrets[{}] is the same key as client {}'s secrets[{}] (line {}): a signature would not tell the two clients apart, so one could act with the other's name and scopes; give each client its own secret",
                    later.client, later.index, earlier.client, earlier.index, earlier.at.0
                ),
            });
        }
    }
    errors
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
