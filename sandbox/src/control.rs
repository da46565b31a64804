//! The `/_sandbox/` controls: clock, seed, stats, config, reset, and the Feishu
//! owner's approval. Errors here use the house shape
//! `{"error": {"code", "message"}}`, mapped in one place (`ControlError::reply`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use warp::http::Method;

use crate::config::ConfigError;
use crate::stats::Stats;
use crate::wire::{self, Request, Response};
use crate::{Sandbox, Shared, Vendor, lock};

/// Largest `count` one `POST /_sandbox/seed` accepts, per vendor.
const MAX_SEED: usize = 1_000_000;

fn all_vendors() -> Vec<Vendor> {
    Vendor::ALL.to_vec()
}

/// Body of `POST /_sandbox/seed`: `count` already-sent messages per vendor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedRequest {
    pub count: usize,
    /// Which vendors to seed; all four when absent.
    #[serde(default = "all_vendors")]
    pub vendors: Vec<Vendor>,
    /// How long ago the messages were sent (sandbox time).
    #[serde(default)]
    pub sent_ago_secs: u64,
}

impl SeedRequest {
    /// `count` messages for every vendor, sent just now.
    pub fn new(count: usize) -> SeedRequest {
        SeedRequest {
            count,
            vendors: all_vendors(),
            sent_ago_secs: 0,
        }
    }
}

/// The ids of the seeded messages, as the vendor's recall API takes them
/// (DingTalk task_ids as decimal strings); empty for vendors not seeded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SeedResponse {
    /// notification_ids, in state sent.
    pub feishu: Vec<String>,
    /// task_ids (int64 on the wire), sent through the configured agent.
    pub dingtalk: Vec<String>,
    /// msg_ids.
    pub engagelab: Vec<String>,
    /// msg_ids.
    pub jpush: Vec<String>,
}

pub(crate) fn seed(shared: &Shared, req: &SeedRequest) -> SeedResponse {
    let now = shared.now_ms();
    let ago_ms = i64::try_from(req.sent_ago_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let sent_at = now.saturating_sub(ago_ms);
    let config = shared.config();
    let mut out = SeedResponse::default();
    for vendor in &req.vendors {
        match vendor {
            Vendor::Feishu => out
                .feishu
                .extend(lock(&shared.feishu).seed(req.count, sent_at)),
            Vendor::DingTalk => out.dingtalk.extend(lock(&shared.dingtalk).seed(
                req.count,
                sent_at,
                &config.dingtalk,
            )),
            Vendor::EngageLab => out
                .engagelab
                .extend(lock(&shared.engagelab).seed(req.count, sent_at)),
            Vendor::JPush => out
                .jpush
                .extend(lock(&shared.jpush).seed(req.count, sent_at)),
        }
    }
    out
}

pub(crate) fn stats(shared: &Shared) -> Stats {
    Stats {
        feishu: lock(&shared.feishu).stats(),
        dingtalk: lock(&shared.dingtalk).stats(),
        engagelab: lock(&shared.engagelab).stats(),
        jpush: lock(&shared.jpush).stats(),
        latency: shared.held.snapshot(),
    }
}

/// Why a control request was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ControlError {
    #[error("body is not valid here: {0}")]
    BadBody(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("count {count} is over the {max} a single seed accepts; seed in batches")]
    TooMany { count: usize, max: usize },
    #[error("no feishu notification {0} is waiting in review")]
    NotInReview(String),
    #[error("no control at {0}; see sandbox/README.md")]
    NotFound(String),
    #[error("{method} is not allowed on {path}")]
    Method { method: Method, path: String },
}

impl ControlError {
    fn reply(&self) -> Response {
        let (status, code) = match self {
            ControlError::BadBody(_) => (400, "bad_request"),
            ControlError::Config(_) => (400, "invalid_config"),
            ControlError::TooMany { .. } => (400, "too_many"),
            ControlError::NotInReview(_) => (404, "not_found"),
            ControlError::NotFound(_) => (404, "not_found"),
            ControlError::Method { .. } => (405, "method_not_allowed"),
        };
        wire::json(
            status,
            &json!({"error": {"code": code, "message": self.to_string()}}),
        )
    }
}

fn parse<T: serde::de::DeserializeOwned>(req: &Request) -> Result<T, ControlError> {
    serde_json::from_slice(&req.body).map_err(|e| ControlError::BadBody(e.to_string()))
}

fn to_json<T: Serialize>(value: &T) -> Response {
    wire::json_of(200, value)
}

/// Body of `POST /_sandbox/clock`: how far to move the clock forward.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    #[serde(default)]
    advance_secs: u64,
    #[serde(default)]
    advance_ms: u64,
}

pub(crate) fn handle(sandbox: &Sandbox, req: &Request) -> Response {
    match route(sandbox, req) {
        Ok(response) => response,
        Err(err) => err.reply(),
    }
}

fn route(sandbox: &Sandbox, req: &Request) -> Result<Response, ControlError> {
    let segments = req.segments();
    let method = &req.method;
    let wrong_method = || ControlError::Method {
        method: method.clone(),
        path: req.path.clone(),
    };
    match segments.as_slice() {
        ["_sandbox", "clock"] => {
            if *method == Method::POST {
                let advance: Advance = parse(req)?;
                sandbox.advance_clock(
                    Duration::from_secs(advance.advance_secs)
                        + Duration::from_millis(advance.advance_ms),
                );
            } else if *method != Method::GET {
                return Err(wrong_method());
            }
            Ok(wire::json(
                200,
                &json!({"now_ms": sandbox.now_ms(), "offset_ms": sandbox.inner.clock.offset_ms()}),
            ))
        }
        ["_sandbox", "seed"] if *method == Method::POST => {
            let seed: SeedRequest = parse(req)?;
            if seed.count > MAX_SEED {
                return Err(ControlError::TooMany {
                    count: seed.count,
                    max: MAX_SEED,
                });
            }
            Ok(to_json(&sandbox.seed(&seed)))
        }
        ["_sandbox", "stats"] if *method == Method::GET => Ok(to_json(&sandbox.stats())),
        ["_sandbox", "config"] if *method == Method::GET => Ok(to_json(&sandbox.config())),
        ["_sandbox", "config"] if *method == Method::POST => {
            let patch: Value = parse(req)?;
            Ok(to_json(&sandbox.update_config(&patch)?))
        }
        ["_sandbox", "reset"] if *method == Method::POST => {
            sandbox.reset();
            Ok(wire::json(200, &json!({"reset": true})))
        }
        ["_sandbox", "feishu", "notifications", id, "approve"] if *method == Method::POST => {
            if sandbox.approve_feishu(id) {
                Ok(wire::json(200, &json!({"approved": true})))
            } else {
                Err(ControlError::NotInReview((*id).to_owned()))
            }
        }
        ["_sandbox", "seed" | "stats" | "config" | "reset"]
        | ["_sandbox", "feishu", "notifications", _, "approve"] => Err(wrong_method()),
        _ => Err(ControlError::NotFound(req.path.clone())),
    }
}

#[cfg(test)]
mod tests;
