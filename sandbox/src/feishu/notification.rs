//! The helpdesk notification: the fields a client sets, their constraints,
//! the lifecycle states, and the lazy scheduler that moves a scheduled
//! notification to sending and sent as the virtual clock passes `send_at`.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::config::FeishuStatusCodes;

/// Lifecycle states; their `status` integers come from the config because
/// Feishu does not publish them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Draft,
    InReview,
    Approved,
    Scheduled,
    Sending,
    Sent,
    Cancelled,
    Recalled,
}

impl Phase {
    /// As it appears in "Method Forbidden: notification is <state>".
    pub(crate) fn name(self) -> &'static str {
        match self {
            Phase::Draft => "draft",
            Phase::InReview => "in review",
            Phase::Approved => "approved",
            Phase::Scheduled => "scheduled",
            Phase::Sending => "sending",
            Phase::Sent => "sent",
            Phase::Cancelled => "cancelled",
            Phase::Recalled => "recalled",
        }
    }

    pub(crate) fn code(self, codes: &FeishuStatusCodes) -> i64 {
        match self {
            Phase::Draft => codes.draft,
            Phase::InReview => codes.in_review,
            Phase::Approved => codes.approved,
            Phase::Scheduled => codes.scheduled,
            Phase::Sending => codes.sending,
            Phase::Sent => codes.sent,
            Phase::Cancelled => codes.cancelled,
            Phase::Recalled => codes.recalled,
        }
    }
}

/// The fields a client may set (create and PATCH); anything else in a body,
/// such as `id`, `status` or the counts, is the server's and is ignored.
const CLIENT_FIELDS: &[&str] = &[
    "job_name",
    "push_content",
    "push_type",
    "push_scope_type",
    "new_staff_scope_type",
    "new_staff_scope_department_list",
    "user_list",
    "department_list",
    "chat_list",
    "ext",
];

/// Users in "the whole organisation" of the sandbox tenant.
const ORGANISATION_SIZE: u64 = 1000;

#[derive(Debug, Clone)]
pub(crate) struct Notification {
    /// Client-set fields, shared between seeded notifications until patched.
    pub(crate) fields: Arc<Map<String, Value>>,
    pub(crate) phase: Phase,
    pub(crate) created_at_ms: i64,
    pub(crate) updated_at_ms: i64,
    pub(crate) send_at_ms: Option<i64>,
    /// Users an execute_send reaches (0 until then).
    pub(crate) target_user_count: u64,
    /// Users reached; frozen when cancelled or recalled mid-send.
    pub(crate) sent_user_count: u64,
}

impl Notification {
    pub(crate) fn draft(fields: Map<String, Value>, now_ms: i64) -> Notification {
        Notification {
            fields: Arc::new(fields),
            phase: Phase::Draft,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            send_at_ms: None,
            target_user_count: 0,
            sent_user_count: 0,
        }
    }

    /// An already-sent notification to the whole organisation.
    pub(crate) fn sent(fields: Arc<Map<String, Value>>, sent_at_ms: i64) -> Notification {
        Notification {
            fields,
            phase: Phase::Sent,
            created_at_ms: sent_at_ms,
            updated_at_ms: sent_at_ms,
            send_at_ms: Some(sent_at_ms),
            target_user_count: ORGANISATION_SIZE,
            sent_user_count: ORGANISATION_SIZE,
        }
    }

    /// Runs the scheduler up to `now_ms`: scheduled → sending at `send_at`,
    /// sending → sent `sending_ms` later.
    pub(crate) fn settle(&mut self, now_ms: i64, sending_ms: i64) {
        let Some(send_at) = self.send_at_ms else {
            return;
        };
        if self.phase == Phase::Scheduled && now_ms >= send_at {
            self.phase = Phase::Sending;
        }
        if self.phase == Phase::Sending {
            let done_at = send_at.saturating_add(sending_ms);
            if now_ms >= done_at {
                self.phase = Phase::Sent;
                self.sent_user_count = self.target_user_count;
            } else {
                let elapsed = u64::try_from(now_ms - send_at).unwrap_or(0);
                let total = u64::try_from(sending_ms.max(1)).unwrap_or(1);
                self.sent_user_count = self.target_user_count * elapsed / total;
            }
        }
    }

    /// The `notification` object of a GET answer.
    pub(crate) fn render(&self, id: u64, codes: &FeishuStatusCodes) -> Value {
        let mut out = Map::clone(&self.fields);
        let user =
            json!({"user_id": "ou_sandbox_owner", "avatar_url": "", "name": "Sandbox Owner"});
        out.insert("id".into(), json!(id.to_string()));
        out.insert("status".into(), json!(self.phase.code(codes)));
        out.insert("target_user_count".into(), json!(self.target_user_count));
        out.insert("sent_user_count".into(), json!(self.sent_user_count));
        out.insert("read_user_count".into(), json!(0));
        out.insert("create_user".into(), user.clone());
        out.insert("update_user".into(), user);
        out.insert("created_at".into(), json!(self.created_at_ms.to_string()));
        out.insert("updated_at".into(), json!(self.updated_at_ms.to_string()));
        if let Some(send_at) = self.send_at_ms {
            out.insert("send_at".into(), json!(send_at.to_string()));
        }
        Value::Object(out)
    }

    /// Users an execute_send of these fields reaches.
    pub(crate) fn audience(&self) -> u64 {
        let len = |key: &str| {
            self.fields
                .get(key)
                .and_then(Value::as_array)
                .map_or(0, |a| a.len() as u64)
        };
        match self.fields.get("push_scope_type").and_then(Value::as_i64) {
            Some(0) => ORGANISATION_SIZE,
            Some(2) => len("user_list") + 10 * len("department_list"),
            _ => 0,
        }
    }
}

/// The client fields of a body (others dropped).
pub(crate) fn client_fields(body: &Map<String, Value>) -> Map<String, Value> {
    body.iter()
        .filter(|(k, _)| CLIENT_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The fields every seeded notification shares.
pub(crate) fn seeded_fields() -> Map<String, Value> {
    let card =
        json!({"elements": [{"tag": "div", "text": {"tag": "plain_text", "content": "seeded"}}]});
    client_fields(&Map::from_iter([
        ("job_name".to_owned(), json!("seeded notification")),
        ("push_content".to_owned(), json!(card.to_string())),
        ("push_type".to_owned(), json!(0)),
        ("push_scope_type".to_owned(), json!(0)),
    ]))
}

fn list_len(fields: &Map<String, Value>, key: &str) -> Result<usize, String> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Array(items)) => Ok(items.len()),
        Some(_) => Err(format!("{key} must be an array")),
    }
}

fn int_in(fields: &Map<String, Value>, key: &str, allowed: &[i64]) -> Result<Option<i64>, String> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if allowed.contains(&n) => Ok(Some(n)),
            _ => Err(format!("{key} must be one of {allowed:?}")),
        },
    }
}

/// Checks a complete notification against the documented constraints; the
/// error text becomes the `msg` of a 154000 answer.
pub(crate) fn check(fields: &Map<String, Value>) -> Result<(), String> {
    match fields.get("job_name") {
        Some(Value::String(name)) if !name.is_empty() => {}
        _ => return Err("job_name is required".into()),
    }
    match fields.get("push_content") {
        Some(Value::String(card)) if serde_json::from_str::<Map<String, Value>>(card).is_ok() => {}
        _ => return Err("push_content must be a card serialized as a JSON string".into()),
    }
    if fields
        .get("ext")
        .is_some_and(|v| !v.is_string() && !v.is_null())
    {
        return Err("ext must be a string".into());
    }
    let push_type = int_in(fields, "push_type", &[0, 1])?.ok_or("push_type is required")?;
    let scope =
        int_in(fields, "push_scope_type", &[0, 1, 2, 3])?.ok_or("push_scope_type is required")?;
    let users = list_len(fields, "user_list")?;
    let departments = list_len(fields, "department_list")?;
    let chats = list_len(fields, "chat_list")?;
    let new_staff_departments = list_len(fields, "new_staff_scope_department_list")?;
    match scope {
        0 if users + departments > 0 => {
            return Err(
                "push_scope_type 0 (whole organisation) needs empty user_list and department_list"
                    .into(),
            );
        }
        1 if chats == 0 => return Err("push_scope_type 1 needs a chat_list".into()),
        2 if users + departments == 0 => {
            return Err("push_scope_type 2 needs a user_list or a department_list".into());
        }
        _ => {}
    }
    if push_type == 0 && scope == 3 {
        return Err("push_type 0 (scheduled) cannot use push_scope_type 3".into());
    }
    if push_type == 1 && scope != 1 && scope != 3 {
        return Err("push_type 1 (new staff) needs push_scope_type 1 or 3".into());
    }
    if int_in(fields, "new_staff_scope_type", &[0, 1])? == Some(1) && new_staff_departments == 0 {
        return Err("new_staff_scope_type 1 needs a new_staff_scope_department_list".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn base(push_type: i64, scope: i64) -> Map<String, Value> {
        fields(
            json!({"job_name": "j", "push_content": "{}", "push_type": push_type, "push_scope_type": scope}),
        )
    }

    #[test]
    fn scope_and_type_constraints() {
        assert!(check(&base(0, 0)).is_ok());
        assert!(check(&base(0, 3)).is_err(), "type 0 cannot use scope 3");
        assert!(check(&base(1, 0)).is_err(), "type 1 needs scope 1 or 3");
        assert!(check(&base(1, 3)).is_ok());
        assert!(check(&base(0, 1)).is_err(), "scope 1 needs chats");
        assert!(
            check(&base(0, 2)).is_err(),
            "scope 2 needs users or departments"
        );
        let mut with_users = base(0, 2);
        with_users.insert("user_list".into(), json!([{"user_id": "ou_1"}]));
        assert!(check(&with_users).is_ok());
        let mut org_with_users = base(0, 0);
        org_with_users.insert("user_list".into(), json!([{"user_id": "ou_1"}]));
        assert!(check(&org_with_users).is_err(), "scope 0 needs empty lists");
    }

    #[test]
    fn required_fields() {
        for key in ["job_name", "push_content", "push_type", "push_scope_type"] {
            let mut f = base(0, 0);
            f.remove(key);
            assert!(check(&f).is_err(), "{key} is required");
        }
    }

    #[test]
    fn scheduler_moves_with_the_clock() {
        let mut n = Notification::sent(Arc::new(seeded_fields()), 0);
        n.phase = Phase::Scheduled;
        n.send_at_ms = Some(1_000);
        n.sent_user_count = 0;
        n.settle(999, 5_000);
        assert_eq!(n.phase, Phase::Scheduled);
        n.settle(3_500, 5_000);
        assert_eq!(n.phase, Phase::Sending);
        assert_eq!(n.sent_user_count, ORGANISATION_SIZE / 2);
        n.settle(6_000, 5_000);
        assert_eq!(n.phase, Phase::Sent);
        assert_eq!(n.sent_user_count, ORGANISATION_SIZE);
    }
}
