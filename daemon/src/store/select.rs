//! A [`Selector`] as SQL over `messages m`. Values are always bound
//! parameters; only the shape of the query depends on the selector.

use rusqlite::types::Value;

use crate::selector::Selector;

/// `WHERE ...` (without the keyword) and its parameters.
pub fn where_clause(selector: &Selector) -> (String, Vec<Value>) {
    let mut conditions: Vec<String> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    let placeholders = |n: usize| vec!["?"; n].join(", ");
    if !selector.tags.is_empty() {
        let parts: Vec<&str> = selector
            .tags
            .iter()
            .map(|_| "SELECT message_id FROM message_tags WHERE tag = ?")
            .collect();
        conditions.push(format!("m.id IN ({})", parts.join(" INTERSECT ")));
        params.extend(selector.tags.iter().map(|t| Value::Text(t.clone())));
    }
    if !selector.any_tags.is_empty() {
        conditions.push(format!(
            "m.id IN (SELECT message_id FROM message_tags WHERE tag IN ({}))",
            placeholders(selector.any_tags.len())
        ));
        params.extend(selector.any_tags.iter().map(|t| Value::Text(t.clone())));
    }
    if !selector.accounts.is_empty() {
        conditions.push(format!(
            "m.account IN ({})",
            placeholders(selector.accounts.len())
        ));
        params.extend(selector.accounts.iter().map(|a| Value::Text(a.clone())));
    }
    if !selector.ids.is_empty() {
        conditions.push(format!(
            "m.remote_id IN ({})",
            placeholders(selector.ids.len())
        ));
        params.extend(selector.ids.iter().map(|a| Value::Text(a.clone())));
    }
    if let Some(after) = selector.sent_after {
        conditions.push("m.sent_at >= ?".into());
        params.push(Value::Integer(after.0));
    }
    if let Some(before) = selector.sent_before {
        conditions.push("m.sent_at < ?".into());
        params.push(Value::Integer(before.0));
    }
    for (key, value) in &selector.meta {
        conditions.push("json_extract(m.meta, ?) = ?".into());
        params.push(Value::Text(format!("$.\"{key}\"")));
        params.push(match value {
            serde_json::Value::String(s) => Value::Text(s.clone()),
            serde_json::Value::Bool(b) => Value::Integer(i64::from(*b)),
            serde_json::Value::Number(n) => n
                .as_i64()
                .map(Value::Integer)
                .or_else(|| n.as_f64().map(Value::Real))
                .unwrap_or(Value::Null),
            _ => Value::Null,
        });
    }
    if conditions.is_empty() {
        // Only reachable with `all: true` (validated before).
        conditions.push("1 = 1".into());
    }
    (conditions.join(" AND "), params)
}
