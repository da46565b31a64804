//! A plugin's description of itself (`describe`): its operations, recall
//! window, rate limits, vendor hosts and the credentials it needs.

use serde::{Deserialize, Serialize};

use super::{CredentialSchema, OperationKind};

/// What a plugin is and what it can do, returned by `describe`.
///
/// Like every payload a plugin sends, it is read leniently: a field this
/// version does not know is ignored, because a plugin built against a newer
/// minor ABI may add optional fields (see the crate docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Unique plugin name, referenced by `accounts.*.plugin` in the config.
    pub name: String,
    /// The plugin's own version (semver).
    pub version: String,
    /// Human name of the vendor, e.g. "DingTalk".
    pub vendor: String,
    #[serde(default)]
    pub description: String,
    /// Operations this plugin can prepare.
    pub operations: Vec<OperationKind>,
    /// How long after sending the vendor still accepts a recall; `None` when
    /// the vendor documents no window. Past it the host reports `expired`
    /// without a vendor call.
    #[serde(default)]
    pub recall_window_secs: Option<u64>,
    /// The vendor's documented limits; the config may override them.
    #[serde(default)]
    pub rate_limits: Vec<RateLimit>,
    /// The vendor hosts this plugin may talk to; the first is the default.
    /// Requests to any other host are refused unless the account configures it
    /// as its `base_url`.
    pub regions: Vec<Region>,
    /// The credentials an account of this plugin needs.
    pub credentials: CredentialSchema,
    /// Whether operations need a token obtained through `token_request`.
    #[serde(default)]
    pub uses_token: bool,
}

/// A rate limit: at most `requests` calls every `per_ms` milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// `"*"` for every call of an account, an operation name (`"recall"`,
    /// `"update"`, ...) for that operation, or a vendor endpoint name that the
    /// daemon never calls (documented for completeness).
    pub scope: String,
    pub requests: u32,
    pub per_ms: u64,
}

impl RateLimit {
    pub fn applies_to(&self, kind: OperationKind) -> bool {
        self.scope == "*" || self.scope == kind.as_str()
    }
}

/// A named vendor endpoint, e.g. `{"name": "lark", "base_url": "https://open.larksuite.com"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    pub name: String,
    pub base_url: String,
}
