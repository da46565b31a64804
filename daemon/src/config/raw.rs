//! The config file exactly as written: serde structs that refuse unknown keys.
//! Values that need checking after parsing keep their source location.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub listen: Spanned<String>,
    pub store: Spanned<String>,
    #[serde(default)]
    pub plugins: Option<RawPlugins>,
    #[serde(default)]
    pub accounts: BTreeMap<String, Spanned<RawAccount>>,
    #[serde(default)]
    pub clients: BTreeMap<String, Spanned<RawClient>>,
    #[serde(default)]
    pub rules: Option<RawRules>,
    #[serde(default)]
    pub api: Option<RawApi>,
    #[serde(default)]
    pub dispatch: Option<RawDispatch>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlugins {
    #[serde(default)]
    pub dir: Option<Spanned<String>>,
    #[serde(default)]
    pub paths: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccount {
    pub plugin: Spanned<String>,
    #[serde(default)]
    pub base_url: Option<Spanned<String>>,
    #[serde(default)]
    pub region: Option<Spanned<String>>,
    #[serde(default)]
    pub credentials: BTreeMap<String, Spanned<serde_json::Value>>,
    #[serde(default)]
    pub rate_limit: Option<Spanned<RawRateLimit>>,
    /// Vendor calls in flight at once for this account.
    #[serde(default)]
    pub concurrency: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    pub requests: u32,
    pub per: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    pub secrets: Vec<Spanned<String>>,
    #[serde(default)]
    pub scheme: Option<Spanned<String>>,
    pub scopes: RawScopes,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScopes {
    pub actions: Vec<Spanned<String>>,
    #[serde(default)]
    pub tags: Vec<Spanned<String>>,
    #[serde(default)]
    pub max_messages: Option<u64>,
    /// May this client select every message (`"all": true`)?
    #[serde(default)]
    pub all: bool,
    /// Event names (glob patterns) the client may send; empty: any.
    #[serde(default)]
    pub events: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRules {
    #[serde(default)]
    pub files: Vec<Spanned<String>>,
    /// How often to look at the rule files for changes (SIGHUP reloads at once).
    #[serde(default)]
    pub watch_interval: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    #[serde(default)]
    pub timestamp_tolerance: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDispatch {
    #[serde(default)]
    pub max_attempts: Option<u32>,
    #[serde(default)]
    pub request_timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub concurrency: Option<u32>,
    #[serde(default)]
    pub shutdown_grace: Option<Spanned<String>>,
}
