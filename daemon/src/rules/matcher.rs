//! Does a selector match one message? The same answer the store's SQL gives
//! (`store/select.rs`), computed in memory for age rules at track time.

use serde_json::Value;

use crate::selector::Selector;

/// The fields of a message a selector looks at.
#[derive(Debug, Clone, Copy)]
pub struct MessageView<'a> {
    pub account: &'a str,
    pub remote_id: &'a str,
    pub sent_at_ms: i64,
    pub tags: &'a [String],
    pub meta: &'a Value,
}

/// `true` when `selector` selects `message`.
pub fn matches(selector: &Selector, message: MessageView<'_>) -> bool {
    let has = |tag: &String| message.tags.contains(tag);
    selector.tags.iter().all(has)
        && (selector.any_tags.is_empty() || selector.any_tags.iter().any(has))
        && (selector.accounts.is_empty() || selector.accounts.iter().any(|a| a == message.account))
        && (selector.ids.is_empty() || selector.ids.iter().any(|i| i == message.remote_id))
        && selector
            .sent_after
            .is_none_or(|t| message.sent_at_ms >= t.0)
        && selector
            .sent_before
            .is_none_or(|t| message.sent_at_ms < t.0)
        && selector.meta.iter().all(|(key, wanted)| {
            message
                .meta
                .get(key)
                .is_some_and(|actual| meta_equal(actual, wanted))
        })
}

/// SQLite's `json_extract(meta, key) = ?` semantics: booleans are 1 and 0,
/// numbers compare by value, strings exactly.
fn meta_equal(actual: &Value, wanted: &Value) -> bool {
    fn number(v: &Value) -> Option<f64> {
        match v {
            Value::Number(n) => n.as_f64(),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        }
    }
    match (actual, wanted) {
        (Value::String(a), Value::String(b)) => a == b,
        _ => matches!((number(actual), number(wanted)), (Some(a), Some(b)) if a == b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn selector(v: Value) -> Selector {
        serde_json::from_value(v).unwrap()
    }

    fn view<'a>(tags: &'a [String], meta: &'a Value) -> MessageView<'a> {
        MessageView {
            account: "ding",
            remote_id: "m1",
            sent_at_ms: 1_000,
            tags,
            meta,
        }
    }

    #[test]
    fn tags_are_all_of_and_any_tags_any_of() {
        let tags = vec!["otp".to_owned(), "login".to_owned()];
        let meta = json!({});
        let m = view(&tags, &meta);
        assert!(matches(&selector(json!({"tags": ["otp", "login"]})), m));
        assert!(!matches(&selector(json!({"tags": ["otp", "reset"]})), m));
        assert!(matches(
            &selector(json!({"any_tags": ["reset", "login"]})),
            m
        ));
        assert!(!matches(&selector(json!({"any_tags": ["reset"]})), m));
    }

    #[test]
    fn accounts_ids_and_times_narrow() {
        let tags = vec!["otp".to_owned()];
        let meta = json!({});
        let m = view(&tags, &meta);
        assert!(matches(
            &selector(json!({"tags": ["otp"], "accounts": ["ding", "x"]})),
            m
        ));
        assert!(!matches(
            &selector(json!({"tags": ["otp"], "accounts": ["x"]})),
            m
        ));
        assert!(matches(&selector(json!({"ids": ["m1"]})), m));
        assert!(!matches(&selector(json!({"ids": ["m2"]})), m));
        // sent_after is inclusive, sent_before exclusive, as in SQL.
        assert!(matches(
            &selector(json!({"tags": ["otp"], "sent_after": 1000})),
            m
        ));
        assert!(!matches(
            &selector(json!({"tags": ["otp"], "sent_before": 1000})),
            m
        ));
        assert!(matches(
            &selector(json!({"tags": ["otp"], "sent_before": 1001})),
            m
        ));
    }

    #[test]
    fn meta_compares_like_sqlite_json_extract() {
        let tags = vec![];
        let meta = json!({"kind": "otp", "n": 2.0, "urgent": true});
        let m = view(&tags, &meta);
        assert!(matches(
            &selector(json!({"meta": {"kind": "otp", "n": 2}})),
            m
        ));
        assert!(matches(&selector(json!({"meta": {"urgent": true}})), m));
        assert!(matches(&selector(json!({"meta": {"urgent": 1}})), m));
        assert!(!matches(&selector(json!({"meta": {"kind": "OTP"}})), m));
        assert!(!matches(&selector(json!({"meta": {"n": "2"}})), m));
        assert!(!matches(&selector(json!({"meta": {"absent": 1}})), m));
    }
}
