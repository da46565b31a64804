//! The new notification of an `update`, checked against the documented field
//! rules before it spends one of the 20 PATCH calls a minute.
//!
//! `operation.params` is the whole new notification object, sent as the
//! PATCH body unchanged but for `user_id_type` (how its lists name users:
//! `open_id`, the default, `union_id` or `user_id`), which goes to the query. Required: `job_name`, `push_content` (a card: a JSON
//! object serialised into a string), `push_type` and `push_scope_type`;
//! optional: the target lists, `new_staff_scope_type` and its department
//! list, `ext`. Only the documented rules are checked; the vendor has the
//! last word (154000). Read-only fields (`id`, `status`, counts,
//! users, times) are passed through for the vendor to ignore or refuse.

use plugin_api::PluginError;
use plugin_common::{Secrets, body_prefix};
use serde_json::{Map, Value};

/// `push_type`: a scheduled push.
const SCHEDULED: i64 = 0;
/// `push_type`: a push to each new staff member.
const NEW_STAFF: i64 = 1;

/// How the notification's lists name users, the PATCH's `user_id_type`.
const USER_ID_TYPES: &[&str] = &["open_id", "union_id", "user_id"];

/// The PATCH's `user_id_type` and body: `params.user_id_type` (one of
/// `open_id`, the default, `union_id` and `user_id`) goes to the query, and
/// the rest of `params` is the checked notification.
pub(crate) fn patch(params: &Value) -> Result<(&'static str, Value), PluginError> {
    let mut body = params.clone();
    let user_id_type = match body.as_object_mut().and_then(|p| p.remove("user_id_type")) {
        None | Some(Value::Null) => USER_ID_TYPES[0],
        Some(value) => USER_ID_TYPES
            .iter()
            .find(|known| value.as_str() == Some(**known))
            .ok_or_else(|| {
                let shown = body_prefix(&value.to_string(), &Secrets::default());
                invalid(format!(
                    "params.user_id_type must be open_id, union_id or user_id, got {shown}"
                ))
            })?,
    };
    notification(&body)?;
    Ok((user_id_type, body))
}

/// The checked notification, ready to be the PATCH body.
fn notification(params: &Value) -> Result<&Value, PluginError> {
    let Some(fields) = params.as_object() else {
        return Err(invalid(
            "params must be the new notification, a JSON object",
        ));
    };
    non_empty_string(fields, "job_name")?;
    non_empty_string(fields, "push_content")?;
    let card = fields
        .get("push_content")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if serde_json::from_str::<Map<String, Value>>(card).is_err() {
        return Err(invalid(
            "params.push_content must be a card: a JSON object serialized into a string",
        ));
    }
    if fields
        .get("ext")
        .is_some_and(|ext| !ext.is_string() && !ext.is_null())
    {
        return Err(invalid("params.ext must be a string"));
    }
    let push_type = integer(
        fields,
        "push_type",
        &[SCHEDULED, NEW_STAFF],
        "0 (scheduled) or 1 (new staff)",
    )?
    .ok_or_else(|| invalid("params.push_type is required: 0 (scheduled) or 1 (new staff)"))?;
    let scope = integer(fields, "push_scope_type", &[0, 1, 2, 3], "0, 1, 2 or 3")?
        .ok_or_else(|| invalid("params.push_scope_type is required: 0, 1, 2 or 3"))?;

    let users = list(fields, "user_list", None)?;
    let departments = list(fields, "department_list", None)?;
    let chats = list(fields, "chat_list", Some("chat_id"))?;
    let new_staff_departments = list(
        fields,
        "new_staff_scope_department_list",
        Some("department_id"),
    )?;

    match (push_type, scope) {
        (SCHEDULED, 3) => {
            return Err(invalid(
                "params.push_scope_type 3 (new staff) needs push_type 1; a scheduled push uses 0, 1 or 2",
            ));
        }
        (NEW_STAFF, 0 | 2) => {
            return Err(invalid(format!(
                "params.push_scope_type must be 1 or 3 when push_type is 1 (new staff), got {scope}"
            )));
        }
        _ => {}
    }
    match scope {
        0 if users > 0 || departments > 0 => {
            return Err(invalid(
                "params.user_list and params.department_list must be empty when push_scope_type is 0 (whole organisation)",
            ));
        }
        1 if chats == 0 => {
            return Err(invalid(
                "params.chat_list must not be empty when push_scope_type is 1",
            ));
        }
        2 if users == 0 && departments == 0 => {
            return Err(invalid(
                "params.user_list or params.department_list must not be empty when push_scope_type is 2 (some members)",
            ));
        }
        _ => {}
    }

    let new_staff_scope = integer(
        fields,
        "new_staff_scope_type",
        &[0, 1],
        "0 (all new staff) or 1 (some departments)",
    )?;
    match new_staff_scope {
        Some(1) if new_staff_departments == 0 => Err(invalid(
            "params.new_staff_scope_department_list must not be empty when new_staff_scope_type is 1",
        )),
        _ => Ok(params),
    }
}

fn invalid(message: impl Into<String>) -> PluginError {
    PluginError::new("invalid_field", message)
}

fn non_empty_string(fields: &Map<String, Value>, key: &str) -> Result<(), PluginError> {
    match fields.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(()),
        Some(Value::String(_)) => Err(invalid(format!("params.{key} must not be empty"))),
        Some(_) => Err(invalid(format!("params.{key} must be a string"))),
        None => Err(invalid(format!("params.{key} is required"))),
    }
}

/// An optional integer field that must be one of `allowed` (`null` is absent).
fn integer(
    fields: &Map<String, Value>,
    key: &str,
    allowed: &[i64],
    described: &str,
) -> Result<Option<i64>, PluginError> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_i64() {
            Some(n) if allowed.contains(&n) => Ok(Some(n)),
            _ => {
                let shown = body_prefix(&value.to_string(), &Secrets::default());
                Err(invalid(format!(
                    "params.{key} must be {described}, got {shown}"
                )))
            }
        },
    }
}

/// The length of an optional list. Items of the lists whose shape is
/// documented (`chat_list`, `new_staff_scope_department_list`) must be objects
/// carrying a string `id_key`; `user_list` and `department_list` items are
/// passed as they are.
fn list(
    fields: &Map<String, Value>,
    key: &str,
    id_key: Option<&str>,
) -> Result<usize, PluginError> {
    let items = match fields.get(key) {
        None | Some(Value::Null) => return Ok(0),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid(format!("params.{key} must be a list"))),
    };
    if let Some(id_key) = id_key {
        for (i, item) in items.iter().enumerate() {
            if !item.get(id_key).is_some_and(Value::is_string) {
                return Err(invalid(format!(
                    "params.{key}[{i}].{id_key} must be a string"
                )));
            }
        }
    }
    Ok(items.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A valid scheduled push to the whole organisation, changed by `patch`.
    fn with(patch: Value) -> Value {
        let mut base = json!({"job_name": "maintenance", "push_content": "{\"text\":\"hi\"}",
                              "push_type": 0, "push_scope_type": 0});
        for (key, value) in patch.as_object().unwrap() {
            if value.is_null() {
                base.as_object_mut().unwrap().remove(key);
            } else {
                base[key] = value.clone();
            }
        }
        base
    }

    #[test]
    fn documented_combinations_pass() {
        let users = json!([{"user_id": "ou_1", "name": "Ann"}]);
        let departments = json!([{"department_id": "od_1"}]);
        let chats = json!([{"chat_id": "oc_1", "name": "ops"}]);
        for valid in [
            with(json!({})),
            with(json!({"user_list": [], "department_list": [], "ext": "x"})),
            with(json!({"push_scope_type": 1, "chat_list": chats})),
            with(json!({"push_scope_type": 2, "user_list": users})),
            with(json!({"push_scope_type": 2, "department_list": departments})),
            with(json!({"push_type": 1, "push_scope_type": 1, "chat_list": chats})),
            with(json!({"push_type": 1, "push_scope_type": 3, "new_staff_scope_type": 0})),
            with(json!({"push_type": 1, "push_scope_type": 3})),
            with(json!({"push_scope_type": 2, "user_list": ["ou_1"], "department_list": [7]})),
            with(
                json!({"push_type": 1, "push_scope_type": 3, "new_staff_scope_type": 1,
                        "new_staff_scope_department_list": departments}),
            ),
        ] {
            assert_eq!(notification(&valid), Ok(&valid), "{valid}");
        }
    }

    #[test]
    fn each_broken_rule_names_its_field() {
        let cases = [
            (json!("text"), "params must be the new notification"),
            (
                with(json!({"job_name": null})),
                "params.job_name is required",
            ),
            (
                with(json!({"job_name": " "})),
                "params.job_name must not be empty",
            ),
            (
                with(json!({"push_content": {"text": "hi"}})),
                "params.push_content must be a string",
            ),
            (with(json!({"ext": 5})), "params.ext must be a string"),
            (
                with(json!({"push_type": null})),
                "params.push_type is required",
            ),
            (
                with(json!({"push_type": 2})),
                "params.push_type must be 0 (scheduled) or 1 (new staff), got 2",
            ),
            (with(json!({"push_type": "0"})), "params.push_type must be"),
            (
                with(json!({"push_scope_type": null})),
                "params.push_scope_type is required",
            ),
            (
                with(json!({"push_scope_type": 4})),
                "params.push_scope_type must be 0, 1, 2 or 3, got 4",
            ),
            (
                with(json!({"push_scope_type": 3, "new_staff_scope_type": 0})),
                "params.push_scope_type 3 (new staff) needs push_type 1",
            ),
            (
                with(json!({"push_type": 1})),
                "params.push_scope_type must be 1 or 3 when push_type is 1",
            ),
            (
                with(
                    json!({"push_type": 1, "push_scope_type": 2, "user_list": [{"user_id": "ou_1"}]}),
                ),
                "params.push_scope_type must be 1 or 3",
            ),
            (
                with(json!({"user_list": [{"user_id": "ou_1"}]})),
                "params.user_list and params.department_list must be empty",
            ),
            (
                with(json!({"department_list": [{"department_id": "od_1"}]})),
                "params.user_list and params.department_list must be empty",
            ),
            (
                with(json!({"push_scope_type": 1})),
                "params.chat_list must not be empty",
            ),
            (
                with(json!({"push_scope_type": 1, "chat_list": []})),
                "params.chat_list must not be empty",
            ),
            (
                with(json!({"push_scope_type": 2})),
                "params.user_list or params.department_list must not be empty",
            ),
            (
                with(json!({"user_list": {"user_id": "ou_1"}})),
                "params.user_list must be a list",
            ),
            (
                with(
                    json!({"push_scope_type": 1, "chat_list": [{"chat_id": "oc_1"}, {"name": "x"}]}),
                ),
                "params.chat_list[1].chat_id must be a string",
            ),
            (
                with(json!({"push_content": "hello"})),
                "params.push_content must be a card",
            ),
            (
                with(json!({"push_content": "[1]"})),
                "params.push_content must be a card",
            ),
            (
                with(json!({"push_type": 1, "push_scope_type": 3, "new_staff_scope_type": 2})),
                "params.new_staff_scope_type must be 0 (all new staff) or 1",
            ),
            (
                with(json!({"push_type": 1, "push_scope_type": 3, "new_staff_scope_type": 1})),
                "params.new_staff_scope_department_list must not be empty",
            ),
            (
                with(json!({"new_staff_scope_department_list": [{}]})),
                "params.new_staff_scope_department_list[0].department_id must be a string",
            ),
        ];
        for (params, expected) in cases {
            let error = notification(&params).unwrap_err();
            assert_eq!(error.code, "invalid_field");
            assert!(
                error.message.starts_with(expected),
                "{params}: {}",
                error.message
            );
        }
    }
}
