//! DingTalk work notifications on the old "oapi" API: `GET /gettoken`, then
//! `POST /topapi/message/corpconversation/{asyncsend_v2, getsendprogress,
//! getsendresult, recall}?access_token=…` with a JSON or form-encoded body.
//!
//! Every answer is `{"errcode", "errmsg", "request_id", …}`; errors use the
//! configured HTTP status (200 by default). Checks run in this order: path,
//! method, token (40014 unknown / 42001 expired), per-API rate limits (90018
//! per second, 90006 per minute), then the body (`tasks`) and, for sends, the
//! per-user daily rules (`limits`).

mod limits;
mod tasks;

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};

use serde_json::{Map, Value, json};
use warp::http::Method;

use crate::config::DingTalkConfig;
use crate::ratelimit::Window;
use crate::stats::{Counters, VendorStats};
use crate::wire::{self, Request, Response};
use crate::{Shared, lock};

pub(crate) use tasks::Task;

/// Endpoint indexes into `Counters` and `State::limiters`.
const GETTOKEN: usize = 0;
const ASYNCSEND: usize = 1;
const PROGRESS: usize = 2;
const RESULT: usize = 3;
const RECALL: usize = 4;
pub(crate) const ENDPOINTS: &[&str] = &[
    "gettoken",
    "asyncsend_v2",
    "getsendprogress",
    "getsendresult",
    "recall",
];

/// First task_id handed out, shaped like real ones (int64).
const FIRST_TASK_ID: i64 = 256_271_667_526;

#[derive(Debug)]
pub(crate) struct State {
    /// Every token ever issued → its expiry; expired ones answer 42001.
    tokens: HashMap<String, i64>,
    /// The app's live token, returned (and extended) by repeat `gettoken`.
    current_token: Option<String>,
    /// task_id of `tasks[0]`.
    base: i64,
    tasks: Vec<Task>,
    /// Per-API windows, indexed like `ENDPOINTS`: per second, per minute.
    limiters: [Window; 5],
    minute_limiters: [Window; 5],
    /// Today's deliveries per user, for the daily cap and duplicate rule.
    daily: limits::Daily,
    /// Recipients reached this minute, for the 5000-a-minute rule.
    per_minute: limits::PerMinute,
    /// Random key so tokens are not guessable from each other.
    token_keys: RandomState,
    pub(crate) counters: Counters,
}

impl State {
    pub(crate) fn new() -> State {
        State {
            tokens: HashMap::new(),
            current_token: None,
            base: FIRST_TASK_ID,
            tasks: Vec::new(),
            limiters: Default::default(),
            minute_limiters: Default::default(),
            daily: limits::Daily::default(),
            per_minute: limits::PerMinute::default(),
            token_keys: RandomState::new(),
            counters: Counters::new(ENDPOINTS),
        }
    }

    /// Forgets everything; task_ids continue after the old ones.
    pub(crate) fn reset(&mut self) {
        let next = self.next_task_id();
        *self = State::new();
        self.base = next;
    }

    fn next_task_id(&self) -> i64 {
        self.base + self.tasks.len() as i64
    }

    pub(crate) fn stats(&self) -> VendorStats {
        self.counters.snapshot(self.tasks.len())
    }

    pub(crate) fn seed(
        &mut self,
        count: usize,
        sent_at_ms: i64,
        config: &DingTalkConfig,
    ) -> Vec<String> {
        let first = self.next_task_id();
        self.tasks.extend(std::iter::repeat_n(
            Task::seeded(config.agent_id, sent_at_ms),
            count,
        ));
        (first..first + count as i64)
            .map(|id| id.to_string())
            .collect()
    }

    fn task_mut(&mut self, task_id: i64) -> Option<&mut Task> {
        let index = usize::try_from(task_id.checked_sub(self.base)?).ok()?;
        self.tasks.get_mut(index)
    }

    fn new_token(&mut self) -> String {
        let mut hasher = self.token_keys.build_hasher();
        hasher.write_usize(self.tokens.len());
        let high = hasher.finish();
        hasher.write_u8(0);
        format!("{high:016x}{:016x}", hasher.finish())
    }

    /// `gettoken`: the live token, extended, or a new one.
    fn token(&mut self, now_ms: i64, lifetime_ms: i64) -> String {
        if let Some(token) = &self.current_token
            && let Some(expiry) = self.tokens.get_mut(token)
            && *expiry > now_ms
        {
            *expiry = now_ms.saturating_add(lifetime_ms);
            return token.clone();
        }
        let token = self.new_token();
        self.tokens
            .insert(token.clone(), now_ms.saturating_add(lifetime_ms));
        self.current_token = Some(token.clone());
        token
    }
}

/// An error answer: `{"errcode","errmsg","request_id"}` with the configured status.
pub(crate) fn error(
    config: &DingTalkConfig,
    request_id: &str,
    errcode: i64,
    errmsg: &str,
) -> Response {
    wire::json(
        config.error_http_status,
        &json!({"errcode": errcode, "errmsg": errmsg, "request_id": request_id}),
    )
}

pub(crate) fn request_id(shared: &Shared) -> String {
    // Looks like DingTalk's: short, lowercase, unique per request.
    format!(
        "{:x}",
        shared.next_seq().wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16
    )
}

/// The endpoint index and method of a path, if DingTalk serves it.
fn route(path: &str) -> Option<(usize, Method)> {
    match path {
        "/gettoken" => Some((GETTOKEN, Method::GET)),
        "/topapi/message/corpconversation/asyncsend_v2" => Some((ASYNCSEND, Method::POST)),
        "/topapi/message/corpconversation/getsendprogress" => Some((PROGRESS, Method::POST)),
        "/topapi/message/corpconversation/getsendresult" => Some((RESULT, Method::POST)),
        "/topapi/message/corpconversation/recall" => Some((RECALL, Method::POST)),
        _ => None,
    }
}

/// Index into `ENDPOINTS` of the API a request calls, if any.
pub(crate) fn endpoint(req: &Request) -> Option<usize> {
    route(&req.path).map(|(endpoint, _)| endpoint)
}

pub(crate) fn handle(shared: &Shared, req: &Request) -> Response {
    let Some((endpoint, method)) = route(&req.path) else {
        return wire::not_found();
    };
    let config = shared.config();
    let dt = &config.dingtalk;
    let request_id = request_id(shared);
    // Parse before taking the lock; answer in the vendor's order after.
    let fields = (endpoint != GETTOKEN).then(|| body_fields(req));
    let now = shared.now_ms();
    let mut state = lock(&shared.dingtalk);
    state.counters.request(endpoint);
    if req.method != method {
        return wire::text(405, "method not allowed");
    }
    if endpoint == GETTOKEN {
        return gettoken(&mut state, dt, req, now, &request_id);
    }
    let token = req.query_param("access_token").unwrap_or_default();
    match state.tokens.get(&token) {
        None => {
            state.counters.auth_failures += 1;
            return error(dt, &request_id, 40014, "invalid access_token");
        }
        Some(expiry) if *expiry <= now => {
            state.counters.auth_failures += 1;
            return error(dt, &request_id, 42001, "access_token expired");
        }
        Some(_) => {}
    }
    let limit = config.rate_limits.pick(config.rate_limits.dingtalk_per_sec);
    if let Some(window) = state.limiters.get_mut(endpoint)
        && window.hit(limit, 1_000, now).is_limited()
    {
        state.counters.rate_limited += 1;
        return error(dt, &request_id, 90018, "api call frequency exceeded");
    }
    let per_min = config.rate_limits.pick(config.rate_limits.dingtalk_per_min);
    if let Some(window) = state.minute_limiters.get_mut(endpoint)
        && window.hit(per_min, 60_000, now).is_limited()
    {
        state.counters.rate_limited += 1;
        return error(
            dt,
            &request_id,
            dt.per_min_limited_errcode,
            "api calls per minute exceeded",
        );
    }
    let Some(fields) = fields.flatten() else {
        return error(
            dt,
            &request_id,
            40035,
            "invalid parameter: body is neither JSON nor a form",
        );
    };
    let ctx = tasks::Ctx {
        config: dt,
        request_id: &request_id,
        now_ms: now,
    };
    match endpoint {
        ASYNCSEND => tasks::asyncsend(&mut state, &ctx, &fields),
        PROGRESS => tasks::progress(&mut state, &ctx, &fields),
        RESULT => tasks::result(&mut state, &ctx, &fields),
        _ => tasks::recall(&mut state, &ctx, &fields),
    }
}

fn gettoken(
    state: &mut State,
    dt: &DingTalkConfig,
    req: &Request,
    now: i64,
    request_id: &str,
) -> Response {
    let key = req.query_param("appkey");
    let secret = req.query_param("appsecret");
    if key.as_deref() != Some(dt.app_key.as_str())
        || secret.as_deref() != Some(dt.app_secret.as_str())
    {
        state.counters.auth_failures += 1;
        return error(dt, request_id, 40089, "invalid appkey or appsecret");
    }
    let lifetime_ms =
        i64::try_from(dt.token_lifetime_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let token = state.token(now, lifetime_ms);
    wire::json(
        200,
        &json!({
            "errcode": 0,
            "errmsg": "ok",
            "access_token": token,
            "expires_in": dt.token_lifetime_secs,
        }),
    )
}

/// The body as fields: JSON when it parses as an object, form-encoded when
/// the Content-Type says so (or when it is not JSON but looks like a form).
/// Form values stay strings; the accessors in `tasks` accept both.
fn body_fields(req: &Request) -> Option<Map<String, Value>> {
    let as_form = |req: &Request| -> Option<Map<String, Value>> {
        let text = std::str::from_utf8(&req.body).ok()?;
        Some(
            wire::form_pairs(text)
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        )
    };
    if req.content_type_has("x-www-form-urlencoded") {
        return as_form(req);
    }
    if let Some(map) = req.json_object() {
        return Some(map);
    }
    if req.body.contains(&b'=') {
        return as_form(req);
    }
    None
}

#[cfg(test)]
mod tests;
