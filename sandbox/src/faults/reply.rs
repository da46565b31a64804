//! Applying a fault: decide it (and the latency jitter) under the injector's
//! lock, count it under the vendor's lock, and answer in the vendor's own
//! envelope. Nothing here touches messages, tasks, tokens or windows, so an
//! injected failure never changes state.

use std::time::Duration;

use serde_json::{Value, json};

use super::Kind;
use crate::codes::{self, Documented};
use crate::config::{Config, InjectedError, MAX_HOLD_MS};
use crate::wire::{self, Response};
use crate::{Shared, Vendor, dingtalk, feishu, lock};

/// Draws the jitter and the fault for one vendor request (`target` is the
/// vendor and endpoint index; `None` for a path no vendor serves, which
/// never gets a fault, and whenever no faults are set). A fault is counted here, before any waiting, so a
/// client that gives up still leaves it in the stats.
pub(crate) fn plan(
    shared: &Shared,
    config: &Config,
    target: Option<(Vendor, usize)>,
) -> (Option<Kind>, u64) {
    let faults_on = target.is_some() && config.faults.any();
    if config.latency_jitter_ms == 0 && !faults_on {
        return (None, 0);
    }
    let mut injector = lock(&shared.faults);
    let jitter_ms = injector.jitter_ms(config.latency_jitter_ms);
    let fault = match target {
        Some((vendor, endpoint)) if faults_on => {
            let name = vendor.endpoints().get(endpoint).copied().unwrap_or("");
            injector.draw(config.faults.rules(vendor), vendor, name)
        }
        _ => None,
    };
    drop(injector);
    if let (Some(kind), Some((vendor, endpoint))) = (fault, target) {
        shared.counters(vendor, |counters| {
            counters.request(endpoint);
            counters.fault(kind);
        });
    }
    (fault, jitter_ms)
}

/// How long a timed-out request of `vendor` is held.
pub(crate) fn hold(config: &Config, vendor: Vendor) -> Duration {
    let hold_ms = config.faults.rules(vendor).timeout.hold_ms;
    Duration::from_millis(hold_ms.min(MAX_HOLD_MS))
}

/// The documented entry for a code the sandbox itself answers with.
fn documented(vendor: Vendor, code: i64) -> Documented {
    codes::find(vendor, code).unwrap_or(Documented {
        code,
        http: 500,
        message: "internal error",
    })
}

/// HTTP status, code and message of an injected documented error.
fn injected(vendor: Vendor, error: &InjectedError) -> (u16, i64, String) {
    let doc = codes::find(vendor, error.code);
    let http = error.http.or(doc.map(|d| d.http)).unwrap_or(400);
    let message = match (&error.message, doc) {
        (Some(message), _) => message.clone(),
        (None, Some(doc)) => doc.message.to_owned(),
        (None, None) => "injected error".to_owned(),
    };
    (http, error.code, message)
}

/// The vendor's answer to a request that got `kind`.
pub(crate) fn answer(
    shared: &Shared,
    config: &Config,
    vendor: Vendor,
    endpoint: usize,
    kind: Kind,
) -> Response {
    let rules = config.faults.rules(vendor);
    // Only reachable without an `error` rule if the config changed between
    // the draw and now; a server error is the nearest answer.
    let (kind, error) = match (kind, &rules.error) {
        (Kind::Error, Some(error)) => (kind, Some(injected(vendor, error))),
        (Kind::Error, None) => (Kind::ServerError, None),
        (kind, _) => (kind, None),
    };
    let reset_secs = rules.rate_limited.reset_secs.to_string();
    match vendor {
        Vendor::Feishu => {
            let fs = &config.feishu;
            let mut response = match (kind, error) {
                (Kind::RateLimited, _) => {
                    let mut r = feishu::failure(
                        fs.rate_limited.http,
                        fs.rate_limited.code,
                        "request trigger frequency limit",
                    );
                    if let Some(limit) = feishu::limit_for(endpoint, &config.rate_limits) {
                        wire::set_header(&mut r, "x-ogw-ratelimit-limit", &limit.to_string());
                    }
                    wire::set_header(&mut r, "x-ogw-ratelimit-reset", &reset_secs);
                    r
                }
                (_, Some((http, code, message))) => feishu::failure(http, code, &message),
                (Kind::Timeout, _) => feishu::failure(500, 155000, "internal error: timed out"),
                _ => {
                    let doc = documented(vendor, 155000);
                    feishu::failure(doc.http, doc.code, doc.message)
                }
            };
            feishu::set_log_id(shared, &mut response);
            response
        }
        Vendor::DingTalk => {
            let dt = &config.dingtalk;
            let request_id = dingtalk::request_id(shared);
            let (http, errcode, errmsg) = match (kind, error) {
                (Kind::RateLimited, _) => (
                    dt.error_http_status,
                    90018,
                    "api call frequency exceeded".to_owned(),
                ),
                // Every DingTalk error has the configured status unless the
                // injected one names its own.
                (_, Some((_, code, message))) => {
                    let own = rules.error.as_ref().and_then(|e| e.http);
                    (own.unwrap_or(dt.error_http_status), code, message)
                }
                (Kind::Timeout, _) => (dt.error_http_status, -1, "system busy: timed out".into()),
                _ => (dt.error_http_status, -1, "system busy".into()),
            };
            let mut body = json!({"errcode": errcode, "errmsg": errmsg, "request_id": request_id});
            if errcode == 88 {
                // DingTalk details 88 in sub_code; 60011 is its documented example.
                body["sub_code"] = json!("60011");
                body["sub_msg"] = json!("no permission");
            }
            wire::json(http, &body)
        }
        Vendor::EngageLab | Vendor::JPush => {
            let (http, code, message) = match (kind, error) {
                (_, Some(injected)) => injected,
                (Kind::RateLimited, _) if vendor == Vendor::EngageLab => {
                    let doc = documented(vendor, 23008);
                    (
                        config.engagelab.rate_limited_http,
                        doc.code,
                        doc.message.to_owned(),
                    )
                }
                (kind, _) => {
                    let code = match (vendor, kind) {
                        (Vendor::EngageLab, Kind::Timeout) => 21030,
                        (Vendor::EngageLab, _) => 21009,
                        (_, Kind::Timeout) => 1030,
                        (_, Kind::RateLimited) => 2002,
                        _ => 1000,
                    };
                    let doc = documented(vendor, code);
                    (doc.http, doc.code, doc.message.to_owned())
                }
            };
            let mut response = push_error(http, code, &message);
            if vendor == Vendor::JPush && kind == Kind::RateLimited {
                let quota = config.rate_limits.pick(config.rate_limits.jpush_per_min);
                if let Some(quota) = quota {
                    wire::set_header(&mut response, "x-rate-limit-quota", &quota.to_string());
                }
                wire::set_header(&mut response, "x-rate-limit-remaining", "0");
                wire::set_header(&mut response, "x-rate-limit-reset", &reset_secs);
            }
            response
        }
    }
}

/// `{"error":{"code","message"}}`, the push vendors' envelope.
fn push_error(http: u16, code: i64, message: &str) -> Response {
    let body: Value = json!({"error": {"code": code, "message": message}});
    wire::json(http, &body)
}
