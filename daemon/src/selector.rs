//! Which messages a recall touches. Alertmanager's lesson: a selector needs
//! at least one positive matcher (`tags`, `any_tags`, `ids` or `meta`), or an
//! explicit `all: true`; `accounts` and the time bounds only narrow.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A point in time: epoch milliseconds, or an RFC 3339 string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Millis(pub i64);

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(i64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(ms) => Ok(Millis(ms)),
            Raw::Text(text) => parse_time(&text)
                .map(Millis)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// RFC 3339 (`2026-11-21T10:00:00Z`) to epoch milliseconds.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let time = humantime::parse_rfc3339_weak(text)
        .map_err(|e| format!("{text:?} is not an RFC 3339 time or epoch milliseconds: {e}"))?;
    let ms = match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    };
    Ok(ms)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Messages carrying every one of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Messages carrying at least one of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub any_tags: Vec<String>,
    /// Only these accounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    /// These remote ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_after: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_before: Option<Millis>,
    /// Top-level `meta` fields that must equal these values (strings, numbers, booleans).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, serde_json::Value>,
    /// Every message (still narrowed by accounts and time). Must be explicit,
    /// and the client's scope must allow it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
}

/// Letters, digits, `_` and `-`, at least one: what a `meta` key (and a
/// rule template's path segment) may be.
pub fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Why a selector is refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("select.{field}: {message}")]
pub struct SelectorError {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> SelectorError {
    SelectorError {
        field,
        message: message.into(),
    }
}

/// Most tags in `tags`: each is one `INTERSECT` term of the query (SQLite
/// allows 500 compound terms).
pub const MAX_ALL_OF_TAGS: usize = 64;
/// Most `meta` fields: each is one `AND` term (SQLite's expression depth is
/// 1000).
pub const MAX_META_FIELDS: usize = 64;
/// Most values in all lists together (`tags`, `any_tags`, `ids`,
/// `accounts`, `meta`): each is a bound parameter (SQLite allows 32766).
pub const MAX_SELECTOR_VALUES: usize = 10_000;

impl Selector {
    pub fn has_positive_matcher(&self) -> bool {
        !self.tags.is_empty()
            || !self.any_tags.is_empty()
            || !self.ids.is_empty()
            || !self.meta.is_empty()
    }

    /// Checks the shape; `known_accounts` refuses accounts the config lacks.
    pub fn validate<'a>(
        &self,
        known_accounts: impl Fn(&str) -> bool + 'a,
    ) -> Result<(), SelectorError> {
        if self.all && self.has_positive_matcher() {
            return Err(invalid(
                "all",
                "`all: true` selects everything; drop the other matchers or `all`",
            ));
        }
        if !self.all && !self.has_positive_matcher() {
            return Err(invalid(
                "tags",
                "the selector has no positive matcher; give tags, any_tags, ids or meta (or an explicit \"all\": true)",
            ));
        }
        for (field, list) in [
            ("tags", &self.tags),
            ("any_tags", &self.any_tags),
            ("ids", &self.ids),
        ] {
            if list.iter().any(String::is_empty) {
                return Err(invalid(field, "contains an empty string"));
            }
        }
        self.check_size()?;
        if let Some(bad) = self.accounts.iter().find(|a| !known_accounts(a)) {
            return Err(invalid("accounts", format!("unknown account {bad:?}")));
        }
        if let (Some(after), Some(before)) = (self.sent_after, self.sent_before)
            && after.0 >= before.0
        {
            return Err(invalid("sent_after", "must be earlier than sent_before"));
        }
        for (key, value) in &self.meta {
            if !is_plain_key(key) {
                return Err(invalid(
                    "meta",
                    format!("key {key:?} must be letters, digits, '_' or '-'"),
                ));
            }
            if !(value.is_string() || value.is_number() || value.is_boolean()) {
                return Err(invalid(
                    "meta",
                    format!("{key}: only strings, numbers and booleans can be matched"),
                ));
            }
        }
        Ok(())
    }

    /// Refuses a selector too large to become one query (see the limits).
    fn check_size(&self) -> Result<(), SelectorError> {
        if self.tags.len() > MAX_ALL_OF_TAGS {
            return Err(invalid(
                "tags",
                format!(
                    "{} tags, more than the {MAX_ALL_OF_TAGS} a message can be asked to carry at once; use any_tags for alternatives",
                    self.tags.len()
                ),
            ));
        }
        if self.meta.len() > MAX_META_FIELDS {
            return Err(invalid(
                "meta",
                format!(
                    "{} fields, more than the {MAX_META_FIELDS} allowed",
                    self.meta.len()
                ),
            ));
        }
        let lists = [
            ("tags", self.tags.len()),
            ("any_tags", self.any_tags.len()),
            ("ids", self.ids.len()),
            ("accounts", self.accounts.len()),
            ("meta", self.meta.len()),
        ];
        let total: usize = lists.iter().map(|(_, n)| n).sum();
        if total > MAX_SELECTOR_VALUES {
            // Name the longest list: the one to split.
            let (field, _) = lists
                .into_iter()
                .max_by_key(|(_, n)| *n)
                .unwrap_or(("ids", 0));
            return Err(invalid(
                field,
                format!(
                    "the selector has {total} values, more than the {MAX_SELECTOR_VALUES} one request may hold; split it into several"
                ),
            ));
        }
        Ok(())
    }

    /// Every tag the selector names, for scope checks.
    pub fn named_tags(&self) -> impl Iterator<Item = &str> {
        self.tags.iter().chain(&self.any_tags).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Selector {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn needs_a_positive_matcher_or_explicit_all() {
        let known = |_: &str| true;
        assert_eq!(
            parse(json!({"accounts": ["a"]}))
                .validate(known)
                .unwrap_err()
                .field,
            "tags"
        );
        parse(json!({"tags": ["x"]})).validate(known).unwrap();
        parse(json!({"all": true, "accounts": ["a"]}))
            .validate(known)
            .unwrap();
        assert_eq!(
            parse(json!({"all": true, "tags": ["x"]}))
                .validate(known)
                .unwrap_err()
                .field,
            "all"
        );
    }

    #[test]
    fn unknown_fields_accounts_and_bad_times_are_named() {
        assert!(serde_json::from_value::<Selector>(json!({"tag": ["x"]})).is_err());
        let s = parse(json!({"tags": ["x"], "accounts": ["nope"]}));
        assert!(
            s.validate(|a| a == "yes")
                .unwrap_err()
                .to_string()
                .contains("unknown account \"nope\"")
        );
        let s =
            parse(json!({"tags": ["x"], "sent_after": "2026-01-02T00:00:00Z", "sent_before": 1}));
        assert_eq!(s.validate(|_| true).unwrap_err().field, "sent_after");
        assert!(
            serde_json::from_value::<Selector>(json!({"tags": ["x"], "sent_after": "yesterday"}))
                .is_err()
        );
    }

    #[test]
    fn times_accept_rfc3339_and_millis() {
        let s = parse(
            json!({"tags": ["x"], "sent_after": "1970-01-01T00:00:01Z", "sent_before": 5000}),
        );
        assert_eq!(s.sent_after, Some(Millis(1000)));
        assert_eq!(s.sent_before, Some(Millis(5000)));
    }

    #[test]
    fn a_selector_too_large_for_one_query_is_refused_naming_the_list() {
        let known = |_: &str| true;
        let names = |prefix: &str, n: usize| -> Vec<String> {
            (0..n).map(|i| format!("{prefix}{i}")).collect()
        };
        let tags = |n| Selector {
            tags: names("t", n),
            ..Selector::default()
        };
        tags(MAX_ALL_OF_TAGS).validate(known).unwrap();
        assert_eq!(
            tags(MAX_ALL_OF_TAGS + 1).validate(known).unwrap_err().field,
            "tags"
        );
        let meta = Selector {
            meta: names("k", MAX_META_FIELDS + 1)
                .into_iter()
                .map(|k| (k, json!(1)))
                .collect(),
            ..Selector::default()
        };
        assert_eq!(meta.validate(known).unwrap_err().field, "meta");
        let mut many = Selector {
            ids: names("m", MAX_SELECTOR_VALUES - 10),
            any_tags: names("a", 10),
            ..Selector::default()
        };
        many.validate(known).unwrap();
        many.accounts.push("a".into());
        let err = many.validate(known).unwrap_err();
        assert_eq!(err.field, "ids", "{err}");
        assert!(err.message.contains("10001 values"), "{err}");
    }

    #[test]
    fn meta_matches_only_scalars_with_plain_keys() {
        let s = parse(json!({"meta": {"kind": "otp", "n": 2}}));
        s.validate(|_| true).unwrap();
        assert!(
            parse(json!({"meta": {"a.b": 1}}))
                .validate(|_| true)
                .is_err()
        );
        assert!(
            parse(json!({"meta": {"a": [1]}}))
                .validate(|_| true)
                .is_err()
        );
    }
}
