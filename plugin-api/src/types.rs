//! The JSON payloads that cross the ABI, as serde types.
//!
//! Times are Unix epoch milliseconds (`*_ms`) or whole seconds (`*_secs`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What the daemon can ask a plugin to do to a sent message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// Take the message back from its recipients.
    Recall,
    /// Stop a message that is scheduled but not yet (fully) sent.
    Cancel,
    /// Correct the message's content where the vendor allows it.
    Update,
}

impl OperationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::Recall => "recall",
            OperationKind::Cancel => "cancel",
            OperationKind::Update => "update",
        }
    }
}

impl fmt::Display for OperationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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

/// A JSON Schema (subset) of the `credentials` object an account needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CredentialSchema {
    #[serde(rename = "type", default = "object_type")]
    pub schema_type: String,
    #[serde(default)]
    pub properties: BTreeMap<String, CredentialProperty>,
    #[serde(default)]
    pub required: Vec<String>,
}

fn object_type() -> String {
    "object".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialProperty {
    #[serde(rename = "type")]
    pub value_type: CredentialType,
    #[serde(default)]
    pub description: String,
    /// JSON Schema's `writeOnly`: a secret, never echoed back or logged.
    #[serde(rename = "writeOnly", default)]
    pub secret: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialType {
    String,
    Integer,
}

impl CredentialSchema {
    pub fn new() -> Self {
        CredentialSchema {
            schema_type: object_type(),
            ..Default::default()
        }
    }

    /// Builder: add a property. `required` lists it in `required`.
    pub fn field(
        mut self,
        name: &str,
        value_type: CredentialType,
        required: bool,
        secret: bool,
        description: &str,
    ) -> Self {
        self.properties.insert(
            name.to_owned(),
            CredentialProperty {
                value_type,
                description: description.to_owned(),
                secret,
            },
        );
        if required {
            self.required.push(name.to_owned());
        }
        self
    }

    /// Every problem with `credentials`, as `(key, problem)` pairs: missing
    /// required keys, values of the wrong type, and keys the schema does not
    /// know. An integer field also accepts a string of digits, because
    /// `${env:...}` substitutions are strings.
    pub fn problems(&self, credentials: &Map<String, Value>) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        for key in &self.required {
            if !credentials.contains_key(key) {
                problems.push((key.clone(), "missing".to_owned()));
            }
        }
        for (key, value) in credentials {
            let Some(property) = self.properties.get(key) else {
                problems.push((key.clone(), "unknown key".to_owned()));
                continue;
            };
            let ok = match property.value_type {
                CredentialType::String => value.is_string(),
                CredentialType::Integer => {
                    value.is_i64() || value.as_str().is_some_and(|s| s.parse::<i64>().is_ok())
                }
            };
            if !ok {
                let expected = match property.value_type {
                    CredentialType::String => "a string",
                    CredentialType::Integer => "an integer",
                };
                problems.push((key.clone(), format!("must be {expected}")));
            }
        }
        problems
    }

    /// Names of the secret properties, which hosts redact everywhere.
    pub fn secret_keys(&self) -> impl Iterator<Item = &str> {
        self.properties
            .iter()
            .filter(|(_, p)| p.secret)
            .map(|(k, _)| k.as_str())
    }
}

/// One account of a vendor, as configured, with secrets already resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// The account's name in the config, e.g. `dingtalk-main`.
    pub name: String,
    /// Overrides the manifest's regions; the host then allows this host too.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Picks one of the manifest's regions by name.
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub credentials: Map<String, Value>,
}

impl Account {
    /// The configured `base_url`, else the named region's, else the first
    /// region's, without a trailing slash.
    pub fn base_url(&self, regions: &[Region]) -> Result<String, PluginError> {
        let url = if let Some(url) = &self.base_url {
            url.as_str()
        } else if let Some(name) = &self.region {
            let region = regions.iter().find(|r| &r.name == name).ok_or_else(|| {
                let known: Vec<&str> = regions.iter().map(|r| r.name.as_str()).collect();
                PluginError::new(
                    "unknown_region",
                    format!("region {name:?} is not one of {known:?}"),
                )
            })?;
            region.base_url.as_str()
        } else {
            let region = regions
                .first()
                .ok_or_else(|| PluginError::new("no_region", "the plugin declares no region"))?;
            region.base_url.as_str()
        };
        Ok(url.trim_end_matches('/').to_owned())
    }

    /// A required string credential.
    pub fn credential_str(&self, key: &str) -> Result<&str, PluginError> {
        match self.credentials.get(key) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(PluginError::new(
                "bad_credentials",
                format!("credentials.{key} must be a string"),
            )),
            None => Err(PluginError::missing_credential(key)),
        }
    }

    /// A required integer credential (a JSON number or a string of digits).
    pub fn credential_i64(&self, key: &str) -> Result<i64, PluginError> {
        let bad = || {
            PluginError::new(
                "bad_credentials",
                format!("credentials.{key} must be an integer"),
            )
        };
        match self.credentials.get(key) {
            Some(Value::Number(n)) => n.as_i64().ok_or_else(bad),
            Some(Value::String(s)) => s.trim().parse().map_err(|_| bad()),
            Some(_) => Err(bad()),
            None => Err(PluginError::missing_credential(key)),
        }
    }
}

/// A sent message, as recorded in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub account: String,
    /// The vendor's id for the message (`notification_id`, `task_id`, `msg_id`).
    pub remote_id: String,
    pub sent_at_ms: i64,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub meta: Value,
}

/// One operation on one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    pub kind: OperationKind,
    pub message: Message,
    /// Operation-specific parameters, e.g. the new content for `update`.
    #[serde(default)]
    pub params: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrepareInput {
    pub account: Account,
    pub operation: Operation,
    /// The cached access token when the manifest says `uses_token`.
    #[serde(default)]
    pub token: Option<String>,
    pub now_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterpretInput {
    pub account: Account,
    pub operation: Operation,
    pub response: HttpResponse,
    pub now_ms: i64,
    /// Which attempt at this operation `response` answers, counting from 1,
    /// for vendors that cap their own retries (DingTalk: at most three tries
    /// when busy). `None` when the host does not say: hosts before ABI 1.1
    /// never do. Since ABI 1.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenInput {
    pub account: Account,
    pub now_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenParseInput {
    pub account: Account,
    pub response: HttpResponse,
    pub now_ms: i64,
}

/// The answer to a token request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum TokenReply {
    /// A token, valid for `expires_in_secs` from `now`.
    Granted { token: String, expires_in_secs: u64 },
    /// No token; the outcome says whether to retry or give up.
    Rejected { outcome: Outcome },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub name: String,
    pub value: String,
}

impl Header {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// An HTTP request for the daemon to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// `GET`, `POST`, `PATCH`, `DELETE`, ...
    pub method: String,
    /// Absolute URL, `scheme://host[:port]/path?query`.
    pub url: String,
    #[serde(default)]
    pub headers: Vec<Header>,
    #[serde(default)]
    pub body: Option<String>,
}

/// The vendor's answer, as the daemon received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponse {
    pub status: u16,
    #[serde(default)]
    pub headers: Vec<Header>,
    /// The body, decoded as UTF-8 (lossily).
    #[serde(default)]
    pub body: String,
}

impl HttpResponse {
    /// The first header of that name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// What became of one operation, as the plugin reads the vendor's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The vendor did it.
    Done,
    /// The vendor says it was already done (e.g. recalled before): counts as done.
    AlreadyDone,
    /// The vendor says the message is past its recall window.
    Expired {
        #[serde(default)]
        message: String,
    },
    /// Try again, no sooner than `after_ms` from now if given.
    Retry {
        #[serde(default)]
        after_ms: Option<u64>,
        code: String,
        message: String,
    },
    /// The token was refused: obtain a new one, then retry.
    RefreshToken { code: String, message: String },
    /// It did not work. `permanent` failures are not retried.
    Failed {
        code: String,
        message: String,
        permanent: bool,
    },
}

/// A plugin's refusal, carried across the ABI as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginError {
    /// Machine-readable, e.g. `missing_credential`, `invalid_field`.
    pub code: String,
    /// For people: names the field or value at fault.
    pub message: String,
}

impl PluginError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        PluginError {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn missing_credential(key: &str) -> Self {
        PluginError::new("missing_credential", format!("missing credentials.{key}"))
    }

    pub fn unsupported(kind: OperationKind) -> Self {
        PluginError::new(
            "unsupported_operation",
            format!("this plugin cannot {kind}"),
        )
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for PluginError {}

#[cfg(test)]
mod tests;
