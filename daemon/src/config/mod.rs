//! `recalld.yaml`: parsed into raw structs (unknown keys refused), then into
//! typed values. Loading binds no port and loads no plugin; every error is
//! reported as `file:line:col: message`, and all of them at once.
//!
//! Relative paths (store, plugins, rules) are resolved against the config
//! file's directory, so the daemon behaves the same whatever its working
//! directory.

mod raw;
mod secret;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_saphyr::{Location, Spanned};

pub use secret::{Secret, expand as expand_secret};

use raw::{RawAccount, RawClient, RawConfig};

/// One problem in a config or rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl ConfigError {
    pub fn at(file: &Path, location: Location, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_owned(),
            line: location.line(),
            column: location.column(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// Every problem found in one load, in file order.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Parses a YAML document with serde-saphyr, turning its error into a
/// located [`ConfigError`]. Shared by the config and rule loaders.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(
    file: &Path,
    text: &str,
) -> Result<T, ConfigError> {
    serde_saphyr::from_str::<T>(text).map_err(|e| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        let message = e.to_string();
        // The crate renders a snippet after the first line; keep the message.
        let first = message.lines().next().unwrap_or("invalid YAML");
        // Drop the crate's own "error: line L column C: " prefix; we print ours.
        let message = match first.split_once(": ") {
            Some((_, rest)) if first.starts_with("error: line ") => {
                rest.split_once(": ").map_or(rest, |(_, m)| m).to_owned()
            }
            _ => first.to_owned(),
        };
        ConfigError {
            file: file.to_owned(),
            line,
            column,
            message,
        }
    })
}

/// Parses a duration such as `500ms`, `1s`, `10m`, `24h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?} is not a duration ({e}); write e.g. 500ms, 30s, 10m, 24h"))
}

#[derive(Debug, Clone)]
pub enum StoreUrl {
    /// `sqlite://PATH` (relative to the config file) or `sqlite::memory:`.
    Sqlite(PathBuf),
    SqliteMemory,
}

#[derive(Debug, Clone, Default)]
pub struct PluginSources {
    pub dir: Option<PathBuf>,
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitOverride {
    pub requests: u32,
    pub per: Duration,
}

/// One vendor account. Credentials may still hold `${...}` references until
/// [`Config::resolve_secrets`] runs.
#[derive(Debug, Clone)]
pub struct AccountConfig {
    pub name: String,
    pub plugin: String,
    pub base_url: Option<String>,
    pub region: Option<String>,
    pub credentials: serde_json::Map<String, serde_json::Value>,
    pub rate_limit: Option<RateLimitOverride>,
    pub concurrency: Option<u32>,
    /// Where the account is defined, for errors found later (unknown plugin,
    /// missing credentials).
    pub location: (u64, u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    StandardWebhooks,
    Github,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Recall,
    Cancel,
    Update,
    Track,
    Event,
    Read,
}

impl Action {
    pub fn parse(text: &str) -> Option<Action> {
        Some(match text {
            "recall" => Action::Recall,
            "cancel" => Action::Cancel,
            "update" => Action::Update,
            "track" => Action::Track,
            "event" => Action::Event,
            "read" => Action::Read,
            _ => return None,
        })
    }
}

/// What one client may do.
#[derive(Debug, Clone)]
pub struct Scopes {
    pub actions: Vec<Action>,
    /// Glob patterns (`*`, `?`) the selected tags must match.
    pub tags: Vec<glob::Pattern>,
    pub max_messages: u64,
    pub all: bool,
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub name: String,
    /// Raw secret strings (maybe `${...}` references until resolved). For
    /// Standard Webhooks these are `whsec_<base64>`.
    pub secrets: Vec<Secret>,
    pub scheme: Scheme,
    pub scopes: Scopes,
}

#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub max_body_bytes: u64,
    pub timestamp_tolerance: Duration,
}

#[derive(Debug, Clone)]
pub struct DispatchConfig {
    pub max_attempts: u32,
    pub request_timeout: Duration,
    pub concurrency: u32,
    pub shutdown_grace: Duration,
}

/// The typed config.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub listen: SocketAddr,
    pub store: StoreUrl,
    pub plugins: PluginSources,
    pub accounts: BTreeMap<String, AccountConfig>,
    pub clients: BTreeMap<String, ClientConfig>,
    /// Glob patterns of rule files, already made absolute.
    pub rules: Vec<String>,
    pub api: ApiConfig,
    pub dispatch: DispatchConfig,
}

pub const DEFAULT_MAX_BODY_BYTES: u64 = 1 << 20;
pub const DEFAULT_MAX_MESSAGES: u64 = 10_000;

impl Config {
    /// Reads and parses `path`. Binds nothing, loads no plugin.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: path.to_owned(),
                line: 0,
                column: 0,
                message: format!("cannot read config: {e}"),
            }])
        })?;
        Config::parse(path, &text)
    }

    /// Parses config text; `path` names it in errors and anchors relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
        let raw: RawConfig = parse_yaml(path, text).map_err(|e| ConfigErrors(vec![e]))?;
        let mut errors = Vec::new();
        let base = path.parent().map(Path::to_owned).unwrap_or_default();
        let config = typed(path, &base, raw, &mut errors);
        if errors.is_empty() {
            Ok(config)
        } else {
            errors.sort_by_key(|e| (e.line, e.column));
            Err(ConfigErrors(errors))
        }
    }

    /// Replaces every `${env:..}`/`${file:..}` in credentials and client
    /// secrets with its value. Errors name the account or client and the key.
    pub fn resolve_secrets(&mut self) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        let file = self.path.clone();
        for account in self.accounts.values_mut() {
            for (key, value) in account.credentials.iter_mut() {
                if let serde_json::Value::String(s) = value {
                    match secret::expand(s) {
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
            for secret in client.secrets.iter_mut() {
                match secret::expand(secret.expose()) {
                    Ok(resolved) => *secret = Secret::new(resolved),
                    Err(e) => errors.push(ConfigError {
                        file: file.clone(),
                        line: 0,
                        column: 0,
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

fn resolve_path(base: &Path, text: &str) -> PathBuf {
    let path = Path::new(text);
    if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    }
}

fn duration_at(
    file: &Path,
    value: &Option<Spanned<String>>,
    default: Duration,
    key: &str,
    errors: &mut Vec<ConfigError>,
) -> Duration {
    match value {
        None => default,
        Some(spanned) => parse_duration(&spanned.value).unwrap_or_else(|e| {
            errors.push(ConfigError::at(
                file,
                spanned.referenced,
                format!("{key}: {e}"),
            ));
            default
        }),
    }
}

fn typed(file: &Path, base: &Path, raw: RawConfig, errors: &mut Vec<ConfigError>) -> Config {
    let listen = raw.listen.value.parse().unwrap_or_else(|_| {
        errors.push(ConfigError::at(
            file,
            raw.listen.referenced,
            format!(
                "listen: {:?} is not an address; write e.g. 127.0.0.1:8787",
                raw.listen.value
            ),
        ));
        SocketAddr::from(([127, 0, 0, 1], 8787))
    });
    let store = match raw.store.value.as_str() {
        "sqlite::memory:" => StoreUrl::SqliteMemory,
        s => match s.strip_prefix("sqlite://") {
            Some(p) if !p.is_empty() => StoreUrl::Sqlite(resolve_path(base, p)),
            _ => {
                errors.push(ConfigError::at(
                    file,
                    raw.store.referenced,
                    format!("store: {s:?} is not supported; write sqlite://PATH or sqlite::memory: (postgres:// is planned)"),
                ));
                StoreUrl::SqliteMemory
            }
        },
    };
    let plugins = raw
        .plugins
        .map_or_else(PluginSources::default, |p| PluginSources {
            dir: p.dir.map(|d| resolve_path(base, &d.value)),
            paths: p
                .paths
                .iter()
                .map(|s| resolve_path(base, &s.value))
                .collect(),
        });
    let accounts = raw
        .accounts
        .into_iter()
        .map(|(name, spanned)| {
            let account = account(file, &name, spanned, errors);
            (name, account)
        })
        .collect();
    let clients = raw
        .clients
        .into_iter()
        .map(|(name, spanned)| {
            let client = client(file, &name, spanned, errors);
            (name, client)
        })
        .collect();
    let rules = raw
        .rules
        .map(|r| {
            r.files
                .iter()
                .map(|f| resolve_path(base, &f.value).to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let api = raw.api.map_or(
        ApiConfig {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            timestamp_tolerance: Duration::from_secs(300),
        },
        |api| ApiConfig {
            max_body_bytes: api.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            timestamp_tolerance: duration_at(
                file,
                &api.timestamp_tolerance,
                Duration::from_secs(300),
                "api.timestamp_tolerance",
                errors,
            ),
        },
    );
    let dispatch = match raw.dispatch {
        None => DispatchConfig::default(),
        Some(d) => DispatchConfig {
            max_attempts: d.max_attempts.unwrap_or(8).max(1),
            request_timeout: duration_at(
                file,
                &d.request_timeout,
                Duration::from_secs(10),
                "dispatch.request_timeout",
                errors,
            ),
            concurrency: d.concurrency.unwrap_or(64).max(1),
            shutdown_grace: duration_at(
                file,
                &d.shutdown_grace,
                Duration::from_secs(10),
                "dispatch.shutdown_grace",
                errors,
            ),
        },
    };
    Config {
        path: file.to_owned(),
        listen,
        store,
        plugins,
        accounts,
        clients,
        rules,
        api,
        dispatch,
    }
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            max_attempts: 8,
            request_timeout: Duration::from_secs(10),
            concurrency: 64,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

fn account(
    file: &Path,
    name: &str,
    spanned: Spanned<RawAccount>,
    errors: &mut Vec<ConfigError>,
) -> AccountConfig {
    let location = (spanned.referenced.line(), spanned.referenced.column());
    let raw = spanned.value;
    if let Some(url) = &raw.base_url
        && let Err(e) = crate::host::UrlParts::parse(&url.value)
    {
        errors.push(ConfigError::at(
            file,
            url.referenced,
            format!("account {name}: base_url: {e}"),
        ));
    }
    let rate_limit = raw.rate_limit.map(|r| {
        let per = parse_duration(&r.value.per.value).unwrap_or_else(|e| {
            errors.push(ConfigError::at(
                file,
                r.value.per.referenced,
                format!("account {name}: rate_limit.per: {e}"),
            ));
            Duration::from_secs(1)
        });
        if r.value.requests == 0 || per.is_zero() {
            errors.push(ConfigError::at(
                file,
                r.referenced,
                format!(
                    "account {name}: rate_limit must allow at least 1 request per non-zero period"
                ),
            ));
        }
        RateLimitOverride {
            requests: r.value.requests.max(1),
            per: per.max(Duration::from_millis(1)),
        }
    });
    let concurrency = raw.concurrency.map(|c| {
        if c.value == 0 {
            errors.push(ConfigError::at(
                file,
                c.referenced,
                format!("account {name}: concurrency must be at least 1"),
            ));
        }
        c.value.max(1)
    });
    AccountConfig {
        name: name.to_owned(),
        plugin: raw.plugin.value,
        base_url: raw.base_url.map(|u| u.value),
        region: raw.region.map(|r| r.value),
        credentials: raw
            .credentials
            .into_iter()
            .map(|(k, v)| (k, v.value))
            .collect(),
        rate_limit,
        concurrency,
        location,
    }
}

fn client(
    file: &Path,
    name: &str,
    spanned: Spanned<RawClient>,
    errors: &mut Vec<ConfigError>,
) -> ClientConfig {
    let raw: RawClient = spanned.value;
    let scheme = match raw.scheme.as_ref().map(|s| s.value.as_str()) {
        None | Some("standard-webhooks") => Scheme::StandardWebhooks,
        Some("github") => Scheme::Github,
        Some(other) => {
            let at = raw
                .scheme
                .as_ref()
                .map_or(spanned.referenced, |s| s.referenced);
            errors.push(ConfigError::at(
                file,
                at,
                format!(
                    "client {name}: scheme {other:?} is unknown; write standard-webhooks or github"
                ),
            ));
            Scheme::StandardWebhooks
        }
    };
    if raw.secrets.is_empty() {
        errors.push(ConfigError::at(
            file,
            spanned.referenced,
            format!("client {name}: needs at least one secret"),
        ));
    }
    for secret in &raw.secrets {
        let literal = !secret.value.contains("${");
        if scheme == Scheme::StandardWebhooks
            && literal
            && crate::auth::decode_whsec(&secret.value).is_err()
        {
            errors.push(ConfigError::at(
                file,
                secret.referenced,
                format!("client {name}: a standard-webhooks secret must be whsec_<base64>"),
            ));
        }
    }
    let actions = raw
        .scopes
        .actions
        .iter()
        .filter_map(|a| {
            let action = Action::parse(&a.value);
            if action.is_none() {
                errors.push(ConfigError::at(file, a.referenced, format!("client {name}: unknown action {:?}; one of recall, cancel, update, track, event, read", a.value)));
            }
            action
        })
        .collect();
    let tags = raw
        .scopes
        .tags
        .iter()
        .filter_map(|t| {
            glob::Pattern::new(&t.value)
                .map_err(|e| {
                    errors.push(ConfigError::at(
                        file,
                        t.referenced,
                        format!("client {name}: tag pattern {:?}: {e}", t.value),
                    ))
                })
                .ok()
        })
        .collect();
    ClientConfig {
        name: name.to_owned(),
        secrets: raw
            .secrets
            .into_iter()
            .map(|s| Secret::new(s.value))
            .collect(),
        scheme,
        scopes: Scopes {
            actions,
            tags,
            max_messages: raw.scopes.max_messages.unwrap_or(DEFAULT_MAX_MESSAGES),
            all: raw.scopes.all,
        },
    }
}

#[cfg(test)]
mod tests;
