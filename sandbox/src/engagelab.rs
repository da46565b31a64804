//! EngageLab AppPush (MTPush) v4: `POST /v4/push`, `POST /v4/push/validate`,
//! `DELETE /v4/push/withdraw/{msg_id}`, Basic auth (AppKey:MasterSecret, or
//! `group-<GroupKey>`:GroupMasterSecret for group pushes), errors as
//! `{"error":{"code","message"}}`.
//!
//! Checks run in the order a gateway would: path (404), method (21001/405),
//! auth (21008/400 for another AppKey, else 21004/401), rate limit (23008),
//! then the body and the message.

use serde_json::{Map, Value, json};
use warp::http::Method;

use crate::config::{EngageLabConfig, RepeatRecall};
use crate::push::{PUSH, RECALL, Refusal, VALIDATE, Withdraw, refusal};
use crate::wire::{self, Request, Response};
use crate::{Shared, lock};

fn error(http: u16, code: i64, message: &'static str) -> Response {
    refusal(http, code, message).reply()
}

/// A push body that passed validation.
struct Push {
    request_id: String,
}

/// Validates a push body; `Err` is the vendor's error answer.
fn validate_push(req: &Request, config: &EngageLabConfig) -> Result<Push, Refusal> {
    let Some(body) = req.json_object() else {
        return Err(refusal(
            400,
            21003,
            "Parameter value is invalid,body is not a JSON object",
        ));
    };
    match body.get("to") {
        None => return Err(refusal(400, 21002, "Missing parameter: to")),
        Some(Value::String(all)) if all == "all" => {}
        Some(Value::Object(to)) if has_target(to) => {}
        Some(Value::Object(_)) => {
            return Err(refusal(400, 21011, "No target: to has no recipients"));
        }
        Some(_) => return Err(refusal(400, 21003, "Parameter value is invalid,to")),
    }
    let Some(Value::Object(push_body)) = body.get("body") else {
        return Err(refusal(400, 21002, "Missing parameter: body"));
    };
    if !push_body.contains_key("platform") {
        return Err(refusal(400, 21002, "Missing parameter: body.platform"));
    }
    if !push_body.contains_key("notification") && !push_body.contains_key("message") {
        return Err(refusal(
            400,
            21002,
            "Missing parameter: body.notification or body.message",
        ));
    }
    let size = serde_json::to_vec(push_body).map_or(usize::MAX, |v| v.len());
    if size > config.max_push_body_bytes {
        return Err(refusal(400, 21005, "Message body is too long"));
    }
    let request_id = match body.get("request_id") {
        Some(Value::String(id)) => id.clone(),
        _ => String::new(),
    };
    Ok(Push { request_id })
}

/// A `to` object names at least one non-empty recipient list or value.
fn has_target(to: &Map<String, Value>) -> bool {
    to.values().any(|v| match v {
        Value::Array(items) => !items.is_empty(),
        Value::String(s) => !s.is_empty(),
        _ => false,
    })
}

/// The operation a request asks for, body already checked for pushes.
enum Op<'a> {
    /// `send` is false for `/validate`, which checks without sending.
    Push {
        send: bool,
        checked: Result<Push, Refusal>,
    },
    Withdraw(&'a str),
}

/// The endpoint index, its method and (for withdraw) the msg_id of a path.
fn route<'a>(segments: &[&'a str]) -> Option<(usize, Method, Option<&'a str>)> {
    match segments {
        ["v4", "push"] => Some((PUSH, Method::POST, None)),
        ["v4", "push", "validate"] => Some((VALIDATE, Method::POST, None)),
        ["v4", "push", "withdraw", id] => Some((RECALL, Method::DELETE, Some(id))),
        _ => None,
    }
}

/// Index into the endpoint names of the API a request calls, if any.
pub(crate) fn endpoint(req: &Request) -> Option<usize> {
    route(&req.segments()).map(|(endpoint, _, _)| endpoint)
}

pub(crate) fn handle(shared: &Shared, req: &Request) -> Response {
    let config = shared.config();
    let el = &config.engagelab;
    let segments = req.segments();
    let Some((endpoint, method, msg_id)) = route(&segments) else {
        return wire::not_found();
    };
    // Parse before taking the lock; answer in the gateway's order after.
    let op = match msg_id {
        Some(id) => Op::Withdraw(id),
        None => Op::Push {
            send: endpoint == PUSH,
            checked: validate_push(req, el),
        },
    };
    let now = shared.now_ms();
    let mut store = lock(&shared.engagelab);
    store.counters.request(endpoint);
    if req.method != method {
        return error(405, 21001, "Method not allowed");
    }
    // Group pushes authenticate as `group-<GroupKey>` with the group's secret.
    let group_user = (!el.group_key.is_empty()).then(|| format!("group-{}", el.group_key));
    let is_group = |key: &str| group_user.as_deref() == Some(key);
    match req.basic_auth() {
        Some((key, secret)) if key == el.app_key && secret == el.master_secret => {}
        Some((key, secret)) if is_group(&key) && secret == el.group_master_secret => {}
        Some((key, _)) if key != el.app_key && !is_group(&key) => {
            store.counters.auth_failures += 1;
            let shape = el.unknown_app_key;
            return error(shape.http, shape.code, "app_key is invalid");
        }
        _ => {
            store.counters.auth_failures += 1;
            return error(401, 21004, "Authentication failed");
        }
    }
    let limit = config
        .rate_limits
        .pick(config.rate_limits.engagelab_per_sec);
    if store.limiter.hit(limit, 1_000, now).is_limited() {
        store.counters.rate_limited += 1;
        return error(
            el.rate_limited_http,
            23008,
            "request rate exceeds the limit",
        );
    }
    match op {
        Op::Push {
            checked: Err(refused),
            ..
        } => refused.reply(),
        Op::Push {
            send,
            checked: Ok(push),
        } => {
            // A validated-only push gets no message and the id "0".
            let msg_id = if send {
                store.send(now)
            } else {
                "0".to_owned()
            };
            wire::json(
                200,
                &json!({"request_id": push.request_id, "msg_id": msg_id}),
            )
        }
        Op::Withdraw(msg_id) => {
            let done = || wire::json(200, &json!({"request_id": "", "msg_id": msg_id}));
            match store.withdraw(msg_id, now, el.withdraw_window_secs) {
                Withdraw::Done => done(),
                Withdraw::Repeat if el.repeat_withdraw == RepeatRecall::Idempotent => done(),
                Withdraw::Repeat => error(
                    400,
                    21003,
                    "Parameter value is invalid,msg_id has been withdrawn",
                ),
                Withdraw::Expired => {
                    error(400, 21003, "Parameter value is invalid,msg_id has expired")
                }
                Withdraw::Unknown => {
                    error(400, 21003, "Parameter value is invalid,msg_id not exist")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
