//! Feishu/Lark: the app and tenant token endpoints under `/open-apis/auth/v3`
//! and the eight helpdesk notification APIs under
//! `/open-apis/helpdesk/v1/notifications`.
//!
//! Every answer carries an `X-Tt-Logid` header. Notification calls are checked
//! in this order: path (404), user token and helpdesk header (401), scope
//! (403 / 154003), rate limit (429), `user_id_type` (400), notification id
//! (404 / 154004), state (405 / 154005), body (400 / 154000). The envelope is
//! `{"code":0,"msg":"success","data":{…}}`.

mod auth;
mod notification;
mod ops;

use std::hash::RandomState;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use warp::http::Method;

use crate::config::RateLimits;
use crate::ratelimit::{Verdict, Window};
use crate::stats::{Counters, VendorStats};
use crate::wire::{self, Request, Response};
use crate::{Shared, lock};

use notification::{Notification, Phase};

pub(crate) const ENDPOINTS: &[&str] = &[
    "tenant_access_token",
    "app_access_token",
    "create",
    "patch",
    "get",
    "preview",
    "submit_approve",
    "cancel_approve",
    "execute_send",
    "cancel_send",
];

/// First notification_id handed out, shaped like real ones (19 digits).
const FIRST_ID: u64 = 6_981_801_914_270_744_596;

/// What a request asks for; ids are still the raw path segment.
#[derive(Debug, Clone, Copy)]
enum Route<'a> {
    TenantToken,
    AppToken,
    Create,
    Patch(&'a str),
    Get(&'a str),
    Preview(&'a str),
    SubmitApprove(&'a str),
    CancelApprove(&'a str),
    ExecuteSend(&'a str),
    CancelSend(&'a str),
}

impl Route<'_> {
    /// Index into `ENDPOINTS`.
    fn endpoint(self) -> usize {
        match self {
            Route::TenantToken => 0,
            Route::AppToken => 1,
            Route::Create => 2,
            Route::Patch(_) => 3,
            Route::Get(_) => 4,
            Route::Preview(_) => 5,
            Route::SubmitApprove(_) => 6,
            Route::CancelApprove(_) => 7,
            Route::ExecuteSend(_) => 8,
            Route::CancelSend(_) => 9,
        }
    }

    fn parse<'a>(method: &Method, segments: &[&'a str]) -> Option<Route<'a>> {
        let (auth, notifications) = match segments {
            ["open-apis", "auth", "v3", rest @ ..] => (Some(rest), None),
            ["open-apis", "helpdesk", "v1", "notifications", rest @ ..] => (None, Some(rest)),
            _ => return None,
        };
        let post = *method == Method::POST;
        match (auth, notifications) {
            (Some(["tenant_access_token", "internal"]), _) if post => Some(Route::TenantToken),
            (Some(["app_access_token", "internal"]), _) if post => Some(Route::AppToken),
            (_, Some([])) if post => Some(Route::Create),
            (_, Some([id])) if *method == Method::PATCH => Some(Route::Patch(id)),
            (_, Some([id])) if *method == Method::GET => Some(Route::Get(id)),
            (_, Some([id, op])) if post => match *op {
                "preview" => Some(Route::Preview(id)),
                "submit_approve" => Some(Route::SubmitApprove(id)),
                "cancel_approve" => Some(Route::CancelApprove(id)),
                "execute_send" => Some(Route::ExecuteSend(id)),
                "cancel_send" => Some(Route::CancelSend(id)),
                _ => None,
            },
            _ => None,
        }
    }
}

/// One window per rate-limited endpoint (each limit is per app per minute).
#[derive(Debug, Default)]
struct Limiters {
    patch: Window,
    execute_send: Window,
    get: Window,
    cancel_send: Window,
}

#[derive(Debug)]
pub(crate) struct State {
    /// The live tenant (and app) token and its expiry.
    tenant_token: Option<(String, i64)>,
    tokens_issued: u64,
    token_keys: RandomState,
    /// notification_id of `notifications[0]`.
    base: u64,
    notifications: Vec<Notification>,
    /// Fields all seeded notifications share (one allocation).
    seeded_fields: Arc<Map<String, Value>>,
    /// Per-app rate-limit windows of the limited endpoints.
    limiters: Limiters,
    pub(crate) counters: Counters,
}

impl State {
    pub(crate) fn new() -> State {
        State {
            tenant_token: None,
            tokens_issued: 0,
            token_keys: RandomState::new(),
            base: FIRST_ID,
            notifications: Vec::new(),
            seeded_fields: Arc::new(notification::seeded_fields()),
            limiters: Default::default(),
            counters: Counters::new(ENDPOINTS),
        }
    }

    /// Forgets everything; ids continue after the old ones.
    pub(crate) fn reset(&mut self) {
        let next = self.next_id();
        *self = State::new();
        self.base = next;
    }

    fn next_id(&self) -> u64 {
        self.base + self.notifications.len() as u64
    }

    pub(crate) fn stats(&self) -> VendorStats {
        self.counters.snapshot(self.notifications.len())
    }

    pub(crate) fn seed(&mut self, count: usize, sent_at_ms: i64) -> Vec<String> {
        let first = self.next_id();
        let sent = Notification::sent(Arc::clone(&self.seeded_fields), sent_at_ms);
        self.notifications.extend(std::iter::repeat_n(sent, count));
        (first..first + count as u64)
            .map(|id| id.to_string())
            .collect()
    }
}

/// The notification with this id (a decimal string), if any.
fn find<'n>(
    notifications: &'n mut [Notification],
    base: u64,
    id: &str,
) -> Option<(u64, &'n mut Notification)> {
    let id: u64 = id.parse().ok()?;
    let index = usize::try_from(id.checked_sub(base)?).ok()?;
    Some((id, notifications.get_mut(index)?))
}

/// Approves a notification in review (the owner's action, a sandbox control).
pub(crate) fn approve(state: &mut State, id: &str) -> bool {
    match find(&mut state.notifications, state.base, id) {
        Some((_, n)) if n.phase == Phase::InReview => {
            n.phase = Phase::Approved;
            true
        }
        _ => false,
    }
}

/// `{"code":0,"msg":"success","data":…}`.
pub(crate) fn success(data: Value) -> Response {
    wire::json(200, &json!({"code": 0, "msg": "success", "data": data}))
}

/// `{"code":…,"msg":…}` with an HTTP status.
pub(crate) fn failure(http: u16, code: i64, msg: &str) -> Response {
    wire::json(http, &json!({"code": code, "msg": msg}))
}

/// Index into `ENDPOINTS` of the API a request calls, if any.
pub(crate) fn endpoint(req: &Request) -> Option<usize> {
    Route::parse(&req.method, &req.segments()).map(Route::endpoint)
}

/// The per-minute limit of the endpoint at `endpoint`, when one is in force.
pub(crate) fn limit_for(endpoint: usize, limits: &RateLimits) -> Option<u32> {
    let limit = match ENDPOINTS.get(endpoint).copied() {
        Some("patch") => limits.feishu_patch_per_min,
        Some("execute_send") => limits.feishu_execute_send_per_min,
        Some("get") => limits.feishu_get_per_min,
        Some("cancel_send") => limits.feishu_cancel_send_per_min,
        _ => None,
    };
    limits.pick(limit)
}

/// Every Feishu answer carries an `X-Tt-Logid` header.
pub(crate) fn set_log_id(shared: &Shared, response: &mut Response) {
    let log_id = format!("{}{:08X}", shared.now_ms(), shared.next_seq());
    wire::set_header(response, "x-tt-logid", &log_id);
}

pub(crate) fn handle(shared: &Shared, req: &Request) -> Response {
    let mut response = answer(shared, req);
    set_log_id(shared, &mut response);
    response
}

fn answer(shared: &Shared, req: &Request) -> Response {
    let segments = req.segments();
    let Some(route) = Route::parse(&req.method, &segments) else {
        return wire::not_found();
    };
    let config = shared.config();
    let fs = &config.feishu;
    // Parse before taking the lock; the token endpoints read JSON whatever
    // the Content-Type (the SDK sends none).
    let body = req.json_object();
    let now = shared.now_ms();
    let mut state = lock(&shared.feishu);
    state.counters.request(route.endpoint());
    match route {
        Route::TenantToken | Route::AppToken => {
            return auth::token(
                &mut state,
                fs,
                body.as_ref(),
                now,
                matches!(route, Route::AppToken),
            );
        }
        _ => {}
    }
    let read_only = matches!(route, Route::Get(_));
    if let Err(auth::Unauthorized(http, code, msg)) =
        auth::authorize(req, fs).and_then(|()| auth::scope(read_only, fs))
    {
        state.counters.auth_failures += 1;
        return failure(http, code, msg);
    }
    let limits = &config.rate_limits;
    let windows = &mut state.limiters;
    let limited = match route {
        Route::Patch(_) => Some((&mut windows.patch, limits.feishu_patch_per_min)),
        Route::ExecuteSend(_) => Some((
            &mut windows.execute_send,
            limits.feishu_execute_send_per_min,
        )),
        Route::Get(_) => Some((&mut windows.get, limits.feishu_get_per_min)),
        Route::CancelSend(_) => Some((&mut windows.cancel_send, limits.feishu_cancel_send_per_min)),
        _ => None,
    };
    let verdict = match limited {
        Some((window, limit)) => window.hit(limits.pick(limit), 60_000, now),
        None => Verdict::Unlimited,
    };
    if let Verdict::Limited { limit, reset_secs } = verdict {
        state.counters.rate_limited += 1;
        let mut answer = failure(
            fs.rate_limited.http,
            fs.rate_limited.code,
            "request trigger frequency limit",
        );
        wire::set_header(&mut answer, "x-ogw-ratelimit-limit", &limit.to_string());
        wire::set_header(
            &mut answer,
            "x-ogw-ratelimit-reset",
            &reset_secs.to_string(),
        );
        return answer;
    }
    if matches!(route, Route::Create | Route::Patch(_) | Route::Get(_))
        && let Some(kind) = req.query_param("user_id_type")
        && !["open_id", "union_id", "user_id"].contains(&kind.as_str())
    {
        return failure(
            400,
            154000,
            "invalid param: user_id_type must be open_id, union_id or user_id",
        );
    }
    let ctx = ops::Ctx {
        config: fs,
        now_ms: now,
    };
    let id = match route {
        Route::Create => return ops::create(&mut state, &ctx, body.as_ref()),
        Route::Patch(id)
        | Route::Get(id)
        | Route::Preview(id)
        | Route::SubmitApprove(id)
        | Route::CancelApprove(id)
        | Route::ExecuteSend(id)
        | Route::CancelSend(id) => id,
        // Answered before the auth check.
        Route::TenantToken | Route::AppToken => return wire::not_found(),
    };
    let State {
        notifications,
        base,
        counters,
        ..
    } = &mut *state;
    let Some((id, n)) = find(notifications, *base, id) else {
        return failure(404, 154004, "notification not found");
    };
    n.settle(
        now,
        i64::try_from(fs.sending_duration_ms).unwrap_or(i64::MAX),
    );
    let body = body.as_ref();
    match route {
        Route::Patch(_) => ops::patch(n, &ctx, body),
        Route::Get(_) => ops::get(n, id, &ctx),
        Route::Preview(_) => success(json!({})),
        Route::SubmitApprove(_) => ops::submit_approve(n, &ctx, body),
        Route::CancelApprove(_) => ops::cancel_approve(n, &ctx),
        Route::ExecuteSend(_) => ops::execute_send(n, &ctx, body),
        _ => ops::cancel_send(n, counters, &ctx, body),
    }
}

#[cfg(test)]
mod tests;
