//! Rule files exactly as written: serde structs that refuse unknown keys,
//! every value that is checked later keeping its source location.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

/// A whole file: `rules:` and a list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRuleFile {
    #[serde(default)]
    pub rules: Vec<Spanned<RawRule>>,
}

/// The same file read only for where each rule starts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRuleOutline {
    #[serde(default)]
    pub rules: Vec<Spanned<IgnoredAny>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    pub on: Spanned<RawTrigger>,
    #[serde(default)]
    pub select: Option<Spanned<RawSelect>>,
    #[serde(rename = "do")]
    pub action: Spanned<String>,
    #[serde(default)]
    pub limit: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrigger {
    #[serde(default)]
    pub event: Option<Spanned<String>>,
    #[serde(default)]
    pub sent: Option<Spanned<RawSelect>>,
    #[serde(default)]
    pub after: Option<Spanned<String>>,
    #[serde(default)]
    pub schedule: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSelect {
    #[serde(default)]
    pub tags: Vec<Spanned<String>>,
    #[serde(default)]
    pub any_tags: Vec<Spanned<String>>,
    #[serde(default)]
    pub accounts: Vec<Spanned<String>>,
    #[serde(default)]
    pub ids: Vec<Spanned<String>>,
    /// RFC 3339, epoch milliseconds, or a template.
    #[serde(default)]
    pub sent_after: Option<Spanned<serde_json::Value>>,
    #[serde(default)]
    pub sent_before: Option<Spanned<serde_json::Value>>,
    /// Messages sent more than this long before the rule fires.
    #[serde(default)]
    pub older_than: Option<Spanned<String>>,
    /// Messages sent less than this long before the rule fires.
    #[serde(default)]
    pub newer_than: Option<Spanned<String>>,
    #[serde(default)]
    pub meta: BTreeMap<String, Spanned<serde_json::Value>>,
    #[serde(default)]
    pub all: bool,
}
