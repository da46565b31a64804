//! The four `topapi/message/corpconversation` operations on send tasks.
//!
//! All id errors are 400002 ("invalid agentId" / "invalid taskId"), as the
//! docs give for recall; a malformed body or `msg` is 40035 (DingTalk's generic
//! "invalid parameter"); no recipient at all is 1430000; a `msg` with a word
//! of `dingtalk.banned_words` is 1430002.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::limits::Dropped;
use super::{State, error};
use crate::config::{DingTalkConfig, OverLimit, RepeatRecall};
use crate::wire::{self, Response};

/// One asyncsend_v2 call.
#[derive(Debug, Clone)]
pub(crate) struct Task {
    agent_id: i64,
    sent_at_ms: i64,
    /// Who it went to; `None` for seeded tasks (no recipient detail).
    recipients: Option<Arc<Recipients>>,
    recalled: bool,
}

#[derive(Debug)]
struct Recipients {
    /// Delivered (and, in the sandbox, never read).
    users: Vec<String>,
    /// Over the per-send cap, a per-user limit or the recipients a minute:
    /// dropped, as DingTalk does, yet the send succeeds.
    forbidden: Vec<String>,
    /// The per-user limit each dropped user hit (not the per-send cap).
    forbidden_list: Vec<Dropped>,
}

impl Task {
    pub(crate) fn seeded(agent_id: i64, sent_at_ms: i64) -> Task {
        Task {
            agent_id,
            sent_at_ms,
            recipients: None,
            recalled: false,
        }
    }
}

/// What every operation needs besides the state and the body.
pub(super) struct Ctx<'a> {
    pub(super) config: &'a DingTalkConfig,
    pub(super) request_id: &'a str,
    pub(super) now_ms: i64,
}

impl Ctx<'_> {
    fn error(&self, errcode: i64, errmsg: &str) -> Response {
        error(self.config, self.request_id, errcode, errmsg)
    }

    fn ok(&self, mut extra: Map<String, Value>) -> Response {
        extra.insert("errcode".into(), json!(0));
        extra.insert("errmsg".into(), json!("ok"));
        extra.insert("request_id".into(), json!(self.request_id));
        wire::json(200, &Value::Object(extra))
    }
}

/// An integer field, given as a number (JSON) or a decimal string (form).
fn int_field(fields: &Map<String, Value>, key: &str) -> Option<i64> {
    match fields.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn bool_field(fields: &Map<String, Value>, key: &str) -> Option<bool> {
    match fields.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A comma-separated list field (`"u1,u2"`), empty entries dropped.
fn list_field(fields: &Map<String, Value>, key: &str) -> Vec<String> {
    match fields.get(key) {
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// `msg` as an object: JSON gives one, a form gives its JSON text.
fn msg_field(fields: &Map<String, Value>) -> Option<Map<String, Value>> {
    let msg = match fields.get("msg")? {
        Value::String(text) => serde_json::from_str(text).ok()?,
        other => other.clone(),
    };
    match msg {
        Value::Object(map) if map.get("msgtype").is_some_and(Value::is_string) => Some(map),
        _ => None,
    }
}

/// Why an id in the body was refused: its `errmsg` (the errcode is 400002).
#[derive(Debug, Clone, Copy)]
struct InvalidId(&'static str);

/// Checks `agent_id` against the app's agent.
fn check_agent(ctx: &Ctx, fields: &Map<String, Value>) -> Result<i64, InvalidId> {
    match int_field(fields, "agent_id") {
        Some(agent) if agent == ctx.config.agent_id => Ok(agent),
        _ => Err(InvalidId("invalid agentId")),
    }
}

/// The task named by `key`, if it exists and belongs to `agent`.
fn find_task<'s>(
    state: &'s mut State,
    fields: &Map<String, Value>,
    key: &str,
    agent: i64,
) -> Result<&'s mut Task, InvalidId> {
    int_field(fields, key)
        .and_then(|id| state.task_mut(id))
        .filter(|task| task.agent_id == agent)
        .ok_or(InvalidId("invalid taskId"))
}

fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// True when `task` is older than `window_secs` (`None`: no window).
fn outside(ctx: &Ctx, task: &Task, window_secs: Option<u64>) -> bool {
    window_secs.is_some_and(|w| ctx.now_ms.saturating_sub(task.sent_at_ms) > secs_to_ms(w))
}

pub(super) fn asyncsend(state: &mut State, ctx: &Ctx, fields: &Map<String, Value>) -> Response {
    let agent_id = match check_agent(ctx, fields) {
        Ok(agent) => agent,
        Err(InvalidId(errmsg)) => return ctx.error(400002, errmsg),
    };
    let mut users = list_field(fields, "userid_list");
    let depts = list_field(fields, "dept_id_list");
    if depts.iter().any(|d| d.parse::<i64>().is_err()) {
        return ctx.error(40035, "invalid parameter: dept_id_list");
    }
    let to_all = bool_field(fields, "to_all_user").unwrap_or(false);
    if users.is_empty() && depts.is_empty() && !to_all {
        return ctx.error(
            1430000,
            "no recipients: set userid_list, dept_id_list or to_all_user",
        );
    }
    let Some(msg) = msg_field(fields) else {
        return ctx.error(40035, "invalid parameter: msg");
    };
    let content = Value::Object(msg).to_string();
    let banned = &ctx.config.banned_words;
    if banned
        .iter()
        .any(|w| !w.is_empty() && content.contains(w.as_str()))
    {
        return ctx.error(1430002, "content contains banned words");
    }
    let mut forbidden = users.split_off(users.len().min(ctx.config.max_recipients));
    let limits = &ctx.config.user_limits;
    let verdicts = state.daily.check(&users, &content, limits, ctx.now_ms);
    let mut forbidden_list = Vec::new();
    let mut delivered = Vec::with_capacity(users.len());
    for (user, verdict) in users.into_iter().zip(verdicts) {
        match verdict {
            Some(dropped) => forbidden_list.push(dropped),
            None => delivered.push(user),
        }
    }
    if let (Some(first), OverLimit::Reject) = (forbidden_list.first(), limits.answer) {
        let reason = if first.code == limits.duplicate_errcode {
            "same content already sent to this user today"
        } else {
            "daily message limit per user reached"
        };
        return ctx.error(first.code, &format!("{reason}: {}", first.userid));
    }
    let reached = state.per_minute.admit(
        delivered.len(),
        ctx.config.recipients_per_minute,
        ctx.now_ms,
    );
    let over_minute = delivered.split_off(reached);
    state.daily.record(&delivered, &content);
    forbidden.extend(forbidden_list.iter().map(|d| d.userid.clone()));
    forbidden.extend(over_minute);
    let users = delivered;
    let task_id = state.next_task_id();
    state.tasks.push(Task {
        agent_id,
        sent_at_ms: ctx.now_ms,
        recipients: Some(Arc::new(Recipients {
            users,
            forbidden,
            forbidden_list,
        })),
        recalled: false,
    });
    let mut extra = Map::new();
    extra.insert("task_id".into(), json!(task_id));
    ctx.ok(extra)
}

pub(super) fn progress(state: &mut State, ctx: &Ctx, fields: &Map<String, Value>) -> Response {
    let task = match check_agent(ctx, fields).and_then(|a| find_task(state, fields, "task_id", a)) {
        Ok(task) => task,
        Err(InvalidId(errmsg)) => return ctx.error(400002, errmsg),
    };
    if outside(ctx, task, ctx.config.query_window_secs) {
        return ctx.error(400002, "invalid taskId");
    }
    let mut extra = Map::new();
    // The sandbox delivers at once: every task is done.
    extra.insert(
        "progress".into(),
        json!({"progress_in_percent": 100, "status": 2}),
    );
    ctx.ok(extra)
}

pub(super) fn result(state: &mut State, ctx: &Ctx, fields: &Map<String, Value>) -> Response {
    let task = match check_agent(ctx, fields).and_then(|a| find_task(state, fields, "task_id", a)) {
        Ok(task) => task,
        Err(InvalidId(errmsg)) => return ctx.error(400002, errmsg),
    };
    if outside(ctx, task, ctx.config.query_window_secs) {
        return ctx.error(400002, "invalid taskId");
    }
    let (unread, forbidden, forbidden_list) = match &task.recipients {
        Some(r) => (
            r.users.clone(),
            r.forbidden.clone(),
            r.forbidden_list
                .iter()
                .map(|d| json!({"code": d.code.to_string(), "count": d.count, "userid": d.userid}))
                .collect(),
        ),
        None => (Vec::new(), Vec::new(), Vec::new()),
    };
    let mut extra = Map::new();
    extra.insert(
        "send_result".into(),
        json!({
            "invalid_user_id_list": [],
            "forbidden_user_id_list": forbidden,
            "failed_user_id_list": [],
            "read_user_id_list": [],
            "unread_user_id_list": unread,
            "invalid_dept_id_list": [],
            "forbidden_list": forbidden_list,
        }),
    );
    ctx.ok(extra)
}

pub(super) fn recall(state: &mut State, ctx: &Ctx, fields: &Map<String, Value>) -> Response {
    let found = check_agent(ctx, fields).and_then(|a| find_task(state, fields, "msg_task_id", a));
    let task = match found {
        Ok(task) => task,
        Err(InvalidId(errmsg)) => return ctx.error(400002, errmsg),
    };
    if task.recalled {
        state.counters.duplicate_recalls += 1;
        return match ctx.config.repeat_recall {
            RepeatRecall::Idempotent => ctx.ok(Map::new()),
            RepeatRecall::Reject => ctx.error(400002, "invalid taskId: already recalled"),
        };
    }
    if outside(ctx, task, ctx.config.recall_window_secs) {
        let hours = ctx.config.recall_window_secs.unwrap_or(0) / 3600;
        let errmsg = format!("invalid taskId: recall window ({hours}h) has passed");
        return ctx.error(ctx.config.expired_recall_errcode, &errmsg);
    }
    task.recalled = true;
    state.counters.recalled += 1;
    ctx.ok(Map::new())
}
