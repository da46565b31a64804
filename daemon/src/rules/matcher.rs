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

/// The in-memory matcher and the store's SQL must agree: age rules decide
/// with the first, recalls and previews with the second.
#[cfg(test)]
mod agreement {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::store::{JobSpec, NewMessage, SqliteStore, Store};
    use plugin_api::OperationKind;

    const TAGS: [&str; 4] = ["otp", "login", "incident-1", "news"];
    const ACCOUNTS: [&str; 2] = ["a", "b"];

    /// (account, tags, meta n, sent second)
    fn message() -> impl Strategy<Value = (usize, Vec<usize>, Option<i64>, i64)> {
        (
            0..ACCOUNTS.len(),
            proptest::collection::vec(0..TAGS.len(), 0..3),
            proptest::option::of(0..3i64),
            0..4i64,
        )
    }

    fn selector() -> impl Strategy<Value = Value> {
        (
            proptest::collection::vec(0..TAGS.len(), 0..2),
            proptest::collection::vec(0..TAGS.len(), 0..2),
            proptest::option::of(0..ACCOUNTS.len()),
            proptest::option::of(0..3i64),
            proptest::option::of(0..4i64),
            proptest::option::of(0..4i64),
        )
            .prop_map(|(tags, any, account, n, after, before)| {
                let names =
                    |list: Vec<usize>| -> Vec<&str> { list.into_iter().map(|i| TAGS[i]).collect() };
                let mut s = json!({"tags": names(tags), "any_tags": names(any)});
                if let Some(a) = account {
                    s["accounts"] = json!([ACCOUNTS[a]]);
                }
                if let Some(n) = n {
                    s["meta"] = json!({ "n": n });
                }
                if let Some(after) = after {
                    s["sent_after"] = json!(after * 1000);
                }
                if let Some(before) = before {
                    s["sent_before"] = json!(before * 1000);
                }
                s
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn the_matcher_selects_what_the_store_selects(
            messages in proptest::collection::vec(message(), 1..12),
            selector_json in selector(),
        ) {
            let selector: Selector = serde_json::from_value(selector_json).unwrap();
            let rows: Vec<NewMessage> = messages
                .iter()
                .enumerate()
                .map(|(i, (account, tags, n, sent))| NewMessage {
                    account: ACCOUNTS[*account].to_owned(),
                    remote_id: format!("m{i}"),
                    sent_at_ms: sent * 1000,
                    tags: tags.iter().map(|t| TAGS[*t].to_owned()).collect(),
                    meta: n.map_or(json!({}), |n| json!({ "n": n })),
                    age: Vec::new(),
                })
                .collect();
            let expected: Vec<String> = rows
                .iter()
                .filter(|m| {
                    let view = MessageView {
                        account: &m.account,
                        remote_id: &m.remote_id,
                        sent_at_ms: m.sent_at_ms,
                        tags: &m.tags,
                        meta: &m.meta,
                    };
                    matches(&selector, view)
                })
                .map(|m| m.remote_id.clone())
                .collect();
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let (selected, tasks) = runtime.block_on(async {
                let store = SqliteStore::open_in_memory().unwrap();
                store.track(rows, None).await.unwrap();
                let preview = store.preview(selector.clone(), 100).await.unwrap();
                let selected: Vec<String> = preview.sample.into_iter().map(|r| r.remote_id).collect();
                // A job selects the same messages, one task each.
                let spec = JobSpec {
                    requested_by: "test".into(),
                    reason: "property".into(),
                    action: OperationKind::Recall,
                    selector: selector.clone(),
                    params: json!(null),
                    max_messages: 100,
                    now_ms: 0,
                };
                let job = store.create_job(spec, None).await.unwrap();
                assert_eq!(job.matched, preview.matched);
                assert_eq!(job.per_account, preview.per_account);
                let mut tasks = Vec::new();
                for account in ACCOUNTS {
                    let claimed = store.claim(account.to_string(), 0, 100).await.unwrap();
                    tasks.extend(claimed.into_iter().map(|t| t.message.remote_id));
                }
                tasks.sort_by_key(|id| id[1..].parse::<usize>().unwrap());
                (selected, tasks)
            });
            prop_assert_eq!(&expected, &selected, "selector {:?}", selector);
            prop_assert_eq!(&expected, &tasks, "the job's tasks, selector {:?}", selector);
        }
    }
}
