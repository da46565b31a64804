//! The notification operations and the lifecycle they enforce:
//! draft → submit_approve → approved (or in review until the owner approves)
//! → execute_send → scheduled → sending → sent; cancel_send with
//! `is_recall` false cancels what is not sent yet, with true it recalls.
//!
//! Decisions not covered by vendors.md or the choices file (see README):
//! a cancel of a cancelled or recalled notification succeeds without effect;
//! a cancel of a fully sent one is a wrong-state error (use `is_recall`).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::notification::{self, Notification, Phase};
use super::{State, failure, success};
use crate::config::{FeishuConfig, RepeatRecall};
use crate::stats::Counters;
use crate::wire::Response;

pub(super) struct Ctx<'a> {
    pub(super) config: &'a FeishuConfig,
    pub(super) now_ms: i64,
}

impl Ctx<'_> {
    fn wrong_state(&self, phase: Phase) -> Response {
        let shape = self.config.wrong_state;
        let msg = format!("Method Forbidden: notification is {}", phase.name());
        failure(shape.http, shape.code, &msg)
    }
}

fn bad_param(reason: &str) -> Response {
    failure(400, 154000, &format!("invalid param: {reason}"))
}

fn no_body() -> Response {
    bad_param("the body must be a JSON object")
}

pub(super) fn create(state: &mut State, ctx: &Ctx, body: Option<&Map<String, Value>>) -> Response {
    let Some(body) = body else {
        return no_body();
    };
    let fields = notification::client_fields(body);
    if let Err(reason) = notification::check(&fields) {
        return bad_param(&reason);
    }
    let id = state.next_id();
    state
        .notifications
        .push(Notification::draft(fields, ctx.now_ms));
    success(json!({
        "notification_id": id.to_string(),
        "status": Phase::Draft.code(&ctx.config.status_codes),
    }))
}

pub(super) fn patch(
    n: &mut Notification,
    ctx: &Ctx,
    body: Option<&Map<String, Value>>,
) -> Response {
    if n.phase != Phase::Draft {
        return ctx.wrong_state(n.phase);
    }
    let Some(body) = body else {
        return no_body();
    };
    let mut merged = Map::clone(&n.fields);
    merged.extend(notification::client_fields(body));
    if let Err(reason) = notification::check(&merged) {
        return bad_param(&reason);
    }
    n.fields = Arc::new(merged);
    n.updated_at_ms = ctx.now_ms;
    success(json!({}))
}

pub(super) fn get(n: &Notification, id: u64, ctx: &Ctx) -> Response {
    success(json!({
        "notification": n.render(id, &ctx.config.status_codes),
        "approval_app_link": format!("https://applink.feishu.cn/client/helpdesk/notification/approve?id={id}"),
    }))
}

pub(super) fn submit_approve(
    n: &mut Notification,
    ctx: &Ctx,
    body: Option<&Map<String, Value>>,
) -> Response {
    if n.phase != Phase::Draft {
        return ctx.wrong_state(n.phase);
    }
    if !body
        .and_then(|b| b.get("reason"))
        .is_some_and(Value::is_string)
    {
        return bad_param("reason is required");
    }
    let owner = ctx.config.creator_is_owner;
    n.phase = if owner {
        Phase::Approved
    } else {
        Phase::InReview
    };
    n.updated_at_ms = ctx.now_ms;
    success(json!({"has_access": owner}))
}

pub(super) fn cancel_approve(n: &mut Notification, ctx: &Ctx) -> Response {
    if !matches!(n.phase, Phase::InReview | Phase::Approved) {
        return ctx.wrong_state(n.phase);
    }
    n.phase = Phase::Draft;
    n.updated_at_ms = ctx.now_ms;
    success(json!({}))
}

pub(super) fn execute_send(
    n: &mut Notification,
    ctx: &Ctx,
    body: Option<&Map<String, Value>>,
) -> Response {
    if n.phase != Phase::Approved {
        return ctx.wrong_state(n.phase);
    }
    let send_at = body
        .and_then(|b| b.get("send_at"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<i64>().ok());
    let Some(send_at) = send_at else {
        return bad_param("send_at must be an epoch-milliseconds string");
    };
    n.phase = Phase::Scheduled;
    n.send_at_ms = Some(send_at);
    n.target_user_count = n.audience();
    n.sent_user_count = 0;
    n.updated_at_ms = ctx.now_ms;
    let sending_ms = i64::try_from(ctx.config.sending_duration_ms).unwrap_or(i64::MAX);
    n.settle(ctx.now_ms, sending_ms);
    success(json!({}))
}

pub(super) fn cancel_send(
    n: &mut Notification,
    counters: &mut Counters,
    ctx: &Ctx,
    body: Option<&Map<String, Value>>,
) -> Response {
    let Some(is_recall) = body
        .and_then(|b| b.get("is_recall"))
        .and_then(Value::as_bool)
    else {
        return bad_param("is_recall (bool) is required");
    };
    let next = match (is_recall, n.phase) {
        (_, Phase::Draft | Phase::InReview) => return ctx.wrong_state(n.phase),
        (true, Phase::Recalled) => {
            counters.duplicate_recalls += 1;
            return match ctx.config.repeat_recall {
                RepeatRecall::Idempotent => success(json!({})),
                RepeatRecall::Reject => ctx.wrong_state(n.phase),
            };
        }
        (true, _) => {
            counters.recalled += 1;
            Phase::Recalled
        }
        (false, Phase::Cancelled | Phase::Recalled) => return success(json!({})),
        (false, Phase::Sent) => return ctx.wrong_state(n.phase),
        (false, _) => {
            counters.cancelled += 1;
            Phase::Cancelled
        }
    };
    n.phase = next;
    n.updated_at_ms = ctx.now_ms;
    success(json!({}))
}
