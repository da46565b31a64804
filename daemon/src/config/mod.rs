//! `recalld.yaml`: parsed into raw structs (unknown keys refused), then into
//! typed values. Loading binds no port and loads no plugin; every error is
//! reported as `file:line:col: message`, and all of them at once.
//!
//! Relative paths (store, plugins, rules) are resolved against the config
//! file's directory, so the daemon behaves the same whatever its working
//! directory.

mod raw;
mod resolve;
mod secret;
mod typed;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_saphyr::Location;

pub use secret::{Redacted, Secret, expand as expand_secret};

use raw::RawConfig;

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
    /// Where `dir` and each of `paths` are written (line, column), for
    /// errors found when loading them.
    pub dir_location: (u64, u64),
    pub path_locations: Vec<(u64, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitOverride {
    pub requests: u32,
    pub per: Duration,
}

/// One vendor account. Credentials may still hold `${...}` references until
/// [`Config::resolve_secrets`] runs. `Debug` shows credential keys only.
#[derive(Clone)]
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

impl fmt::Debug for AccountConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountConfig")
            .field("name", &self.name)
            .field("plugin", &self.plugin)
            .field("base_url", &self.base_url)
            .field("region", &self.region)
            .field("credentials", &Redacted(&self.credentials))
            .field("rate_limit", &self.rate_limit)
            .field("concurrency", &self.concurrency)
            .field("location", &self.location)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    StandardWebhooks,
    Github,
}

impl Scheme {
    /// The HMAC key a resolved secret of this scheme stands for: the
    /// decoded part of a `whsec_<base64>` secret, or a GitHub secret's own
    /// bytes. Two secrets are the same key when these bytes are equal,
    /// however each is written.
    pub fn key(self, secret: &str) -> Result<Vec<u8>, String> {
        match self {
            Scheme::StandardWebhooks => crate::auth::decode_whsec(secret),
            Scheme::Github if secret.is_empty() => Err("the secret is empty".to_owned()),
            Scheme::Github => Ok(secret.as_bytes().to_vec()),
        }
    }
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

    /// The name used in config and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Recall => "recall",
            Action::Cancel => "cancel",
            Action::Update => "update",
            Action::Track => "track",
            Action::Event => "event",
            Action::Read => "read",
        }
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
    /// Event names (glob patterns) the client may send; empty: any.
    pub events: Vec<glob::Pattern>,
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub name: String,
    /// Raw secret strings (maybe `${...}` references until resolved). For
    /// Standard Webhooks these are `whsec_<base64>`.
    pub secrets: Vec<Secret>,
    /// Where each secret is written (line, column).
    pub secret_locations: Vec<(u64, u64)>,
    pub scheme: Scheme,
    pub scopes: Scopes,
}

/// Where the rule files are and how often to look for changes.
#[derive(Debug, Clone)]
pub struct RulesConfig {
    /// Glob patterns of rule files, already made absolute.
    pub files: Vec<String>,
    pub watch_interval: Duration,
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
    pub rules: RulesConfig,
    pub api: ApiConfig,
    pub dispatch: DispatchConfig,
}

pub const DEFAULT_MAX_BODY_BYTES: u64 = 1 << 20;
pub const DEFAULT_MAX_MESSAGES: u64 = 10_000;

impl Config {
    /// Reads and parses `path`. Binds nothing, loads no plugin.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let (config, errors) = Config::load_with_errors(path)?;
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// Parses config text; `path` names it in errors and anchors relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
        let (config, errors) = Config::parse_with_errors(path, text)?;
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// [`Config::load`] for `recalld check`: a config whose values have
    /// errors comes back with them (each broken value replaced by its
    /// default), so the rest can still be checked. `Err` only when the file
    /// cannot be read or its YAML does not have the config's shape.
    pub fn load_with_errors(path: &Path) -> Result<(Config, Vec<ConfigError>), ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: path.to_owned(),
                line: 0,
                column: 0,
                message: format!("cannot read config: {e}"),
            }])
        })?;
        Config::parse_with_errors(path, &text)
    }

    fn parse_with_errors(
        path: &Path,
        text: &str,
    ) -> Result<(Config, Vec<ConfigError>), ConfigErrors> {
        let raw: RawConfig = parse_yaml(path, text).map_err(|e| ConfigErrors(vec![e]))?;
        let mut errors = Vec::new();
        let base = path.parent().map(Path::to_owned).unwrap_or_default();
        let config = typed::typed(path, &base, raw, &mut errors);
        errors.sort_by_key(|e| (e.line, e.column));
        Ok((config, errors))
    }
}

/// For tests: `errors`, each rendered `file:line:col: message`, are exactly
/// `expected` in order, each at its place (`file:line:col:`) and with its
/// words.
#[cfg(test)]
pub(crate) fn assert_located(errors: &[String], expected: &[(&str, &str)]) {
    assert_eq!(errors.len(), expected.len(), "{errors:#?}");
    for ((at, words), error) in expected.iter().zip(errors) {
        assert!(
            error.starts_with(at) && error.contains(words),
            "expected {at} … {words}, got {error}"
        );
    }
}

#[cfg(test)]
mod tests;
