//! JPush v3 (EngageLab's predecessor): `POST /v3/push`, `POST /v3/push/validate`,
//! `DELETE /v3/push/{msg_id}`, Basic auth (appKey:masterSecret), errors as
//! `{"error":{"code","message"}}`, and the rate-limit headers
//! `X-Rate-Limit-Quota`, `-Remaining`, `-Reset` on every authenticated answer.
//!
//! Checks run in the order a gateway would: path (404), method (1001/405),
//! auth (1008/400 for another AppKey, else 1004/401), rate limit (2002/429),
//! then the body and the message.

use serde_json::{Value, json};
use warp::http::Method;

use crate::config::{JPushConfig, RepeatRecall};
use crate::push::{PUSH, RECALL, Refusal, VALIDATE, Withdraw, refusal};
use crate::ratelimit::Verdict;
use crate::wire::{self, Request, Response};
use crate::{Shared, lock};

fn error(http: u16, code: i64, message: &'static str) -> Response {
    refusal(http, code, message).reply()
}

/// A push body that passed validation.
struct Push {
    sendno: String,
}

/// Validates a push body; `Err` is the vendor's error answer.
fn validate_push(req: &Request, config: &JPushConfig) -> Result<Push, Refusal> {
    let Some(body) = req.json_object() else {
        return Err(refusal(
            400,
            1003,
            "Parameter value is invalid: body is not a JSON object",
        ));
    };
    match body.get("platform") {
        None => return Err(refusal(400, 1002, "Missing parameter: platform")),
        Some(Value::String(all)) if all == "all" => {}
        Some(Value::Array(list)) if !list.is_empty() => {}
        Some(_) => return Err(refusal(400, 1003, "Parameter value is invalid: platform")),
    }
    match body.get("audience") {
        None => return Err(refusal(400, 1002, "Missing parameter: audience")),
        Some(Value::String(all)) if all == "all" => {}
        Some(Value::Object(audience))
            if audience
                .values()
                .any(|v| v.as_array().is_some_and(|a| !a.is_empty())) => {}
        Some(Value::Object(_)) => {
            return Err(refusal(400, 1011, "Cannot find user by this audience"));
        }
        Some(_) => return Err(refusal(400, 1003, "Parameter value is invalid: audience")),
    }
    let payload = ["notification", "message"]
        .iter()
        .filter_map(|key| body.get(*key))
        .map(|v| serde_json::to_vec(v).map_or(usize::MAX, |bytes| bytes.len()))
        .try_fold(0usize, usize::checked_add);
    match payload {
        Some(0) => {
            return Err(refusal(
                400,
                1002,
                "Missing parameter: notification or message",
            ));
        }
        Some(size) if size <= config.max_payload_bytes => {}
        _ => return Err(refusal(400, 1005, "Msg content too long")),
    }
    let sendno = body
        .get("options")
        .and_then(|o| o.get("sendno"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    Ok(Push {
        sendno: sendno.to_string(),
    })
}

/// The operation a request asks for, body already checked for pushes.
enum Op<'a> {
    /// `send` is false for `/validate`, which checks without sending.
    Push {
        send: bool,
        checked: Result<Push, Refusal>,
    },
    Delete(&'a str),
}

/// The endpoint index, its method and (for delete) the msg_id of a request.
fn route<'a>(method: &Method, segments: &[&'a str]) -> Option<(usize, Method, Option<&'a str>)> {
    match segments {
        ["v3", "push"] => Some((PUSH, Method::POST, None)),
        ["v3", "push", "validate"] if *method != Method::DELETE => {
            Some((VALIDATE, Method::POST, None))
        }
        ["v3", "push", id] => Some((RECALL, Method::DELETE, Some(id))),
        _ => None,
    }
}

/// Index into the endpoint names of the API a request calls, if any.
pub(crate) fn endpoint(req: &Request) -> Option<usize> {
    route(&req.method, &req.segments()).map(|(endpoint, _, _)| endpoint)
}

pub(crate) fn handle(shared: &Shared, req: &Request) -> Response {
    let config = shared.config();
    let jp = &config.jpush;
    let segments = req.segments();
    let Some((endpoint, method, msg_id)) = route(&req.method, &segments) else {
        return wire::not_found();
    };
    let op = match msg_id {
        Some(id) => Op::Delete(id),
        None => Op::Push {
            send: endpoint == PUSH,
            checked: validate_push(req, jp),
        },
    };
    let now = shared.now_ms();
    let mut store = lock(&shared.jpush);
    store.counters.request(endpoint);
    if req.method != method {
        return error(405, 1001, "Method not allowed");
    }
    match req.basic_auth() {
        Some((key, secret)) if key == jp.app_key && secret == jp.master_secret => {}
        Some((key, _)) if key != jp.app_key => {
            store.counters.auth_failures += 1;
            let shape = jp.unknown_app_key;
            return error(shape.http, shape.code, "app_key is invalid");
        }
        _ => {
            store.counters.auth_failures += 1;
            return error(401, 1004, "Authen failed");
        }
    }
    let limit = config.rate_limits.pick(config.rate_limits.jpush_per_min);
    let verdict = store.limiter.hit(limit, 60_000, now);
    let mut answer = match (verdict, op) {
        (Verdict::Limited { .. }, _) => {
            store.counters.rate_limited += 1;
            error(429, 2002, "rate limit exceeded")
        }
        (
            _,
            Op::Push {
                checked: Err(refused),
                ..
            },
        ) => refused.reply(),
        (
            _,
            Op::Push {
                send,
                checked: Ok(push),
            },
        ) => {
            // A validated-only push gets no message and the id "0".
            let msg_id = if send {
                store.send(now)
            } else {
                "0".to_owned()
            };
            wire::json(200, &json!({"sendno": push.sendno, "msg_id": msg_id}))
        }
        (_, Op::Delete(msg_id)) => match store.withdraw(msg_id, now, jp.delete_window_secs) {
            Withdraw::Done => wire::json(200, &json!({"msg_id": msg_id})),
            Withdraw::Repeat if jp.repeat_delete == RepeatRecall::Idempotent => {
                wire::json(200, &json!({"msg_id": msg_id}))
            }
            Withdraw::Repeat => error(400, 1003, "msg_id has been withdrawn"),
            Withdraw::Expired => error(400, 1003, "msg_id has expired"),
            Withdraw::Unknown => error(400, 1003, "msg_id not exist"),
        },
    };
    drop(store);
    rate_headers(&mut answer, verdict);
    answer
}

fn rate_headers(answer: &mut Response, verdict: Verdict) {
    let (quota, remaining, reset) = match verdict {
        Verdict::Unlimited => return,
        Verdict::Allowed {
            limit,
            remaining,
            reset_secs,
        } => (limit, remaining, reset_secs),
        Verdict::Limited { limit, reset_secs } => (limit, 0, reset_secs),
    };
    wire::set_header(answer, "x-rate-limit-quota", &quota.to_string());
    wire::set_header(answer, "x-rate-limit-remaining", &remaining.to_string());
    wire::set_header(answer, "x-rate-limit-reset", &reset.to_string());
}

#[cfg(test)]
mod tests;
