//! Credentials: the tenant/app token endpoints (`/open-apis/auth/v3/…`) and
//! the check every notification call passes first: a `u-` user token in
//! `Authorization: Bearer` plus `X-Lark-Helpdesk-Authorization:
//! base64(helpdesk_id:helpdesk_token)`, then the scope the call needs.

use std::hash::{BuildHasher, Hasher};

use serde_json::{Map, Value, json};

use super::{State, failure};
use crate::config::FeishuConfig;
use crate::wire::{self, Request, Response};

impl State {
    /// The tenant token: the live one while enough of it is left, else a new
    /// one (the old one stays valid until its own expiry).
    fn tenant_token(&mut self, now_ms: i64, config: &FeishuConfig) -> (String, i64) {
        let reissue_below = secs_to_ms(config.token_reissue_below_secs);
        if let Some((token, expiry)) = &self.tenant_token
            && expiry - now_ms >= reissue_below
        {
            return (token.clone(), *expiry);
        }
        self.tokens_issued += 1;
        let mut hasher = self.token_keys.build_hasher();
        hasher.write_u64(self.tokens_issued);
        let token = format!("t-g1044{:016x}", hasher.finish());
        let expiry = now_ms.saturating_add(secs_to_ms(config.token_lifetime_secs));
        self.tenant_token = Some((token.clone(), expiry));
        (token, expiry)
    }
}

fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

pub(super) fn token(
    state: &mut State,
    fs: &FeishuConfig,
    body: Option<&Map<String, Value>>,
    now: i64,
    app: bool,
) -> Response {
    let field = |key: &str| body.and_then(|b| b.get(key)).and_then(Value::as_str);
    if field("app_id") != Some(fs.app_id.as_str()) {
        state.counters.auth_failures += 1;
        return failure(400, 99991543, "app_id or app_secret is invalid");
    }
    if field("app_secret") != Some(fs.app_secret.as_str()) {
        state.counters.auth_failures += 1;
        return failure(400, 10014, "app secret invalid");
    }
    let (token, expiry) = state.tenant_token(now, fs);
    let key = if app {
        "app_access_token"
    } else {
        "tenant_access_token"
    };
    let mut out = Map::new();
    out.insert("code".into(), json!(0));
    out.insert("msg".into(), json!("ok"));
    out.insert(key.into(), json!(token));
    out.insert("expire".into(), json!((expiry - now) / 1000));
    wire::json(200, &Value::Object(out))
}

/// The scope a call needs is among `feishu.granted_scopes`: writes need
/// `helpdesk:all`, reads also take `helpdesk:all:readonly`. `Err` is the
/// configured missing-scope answer.
pub(super) fn scope(read_only: bool, fs: &FeishuConfig) -> Result<(), Unauthorized> {
    let granted = fs
        .granted_scopes
        .iter()
        .any(|s| s == "helpdesk:all" || (read_only && s == "helpdesk:all:readonly"));
    if granted {
        return Ok(());
    }
    let msg = if read_only {
        "access denied: one of the scopes helpdesk:all, helpdesk:all:readonly is required"
    } else {
        "access denied: the scope helpdesk:all is required"
    };
    Err(Unauthorized(
        fs.missing_scope.http,
        fs.missing_scope.code,
        msg,
    ))
}

/// A refused credential: HTTP status, code and msg of the answer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Unauthorized(pub(super) u16, pub(super) i64, pub(super) &'static str);

/// The user token and the helpdesk header, as the notification APIs demand.
pub(super) fn authorize(req: &Request, fs: &FeishuConfig) -> Result<(), Unauthorized> {
    let Some(header) = req.header("authorization") else {
        return Err(Unauthorized(
            401,
            99991661,
            "missing access token in the Authorization header",
        ));
    };
    let token = match header.trim().split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => {
            return Err(Unauthorized(
                401,
                99991671,
                "invalid access token format: use Bearer t-… or u-…",
            ));
        }
    };
    if token.starts_with("t-") {
        let shape = fs.tenant_token_refused;
        return Err(Unauthorized(
            shape.http,
            shape.code,
            "user access token invalid",
        ));
    }
    if !token.starts_with("u-") {
        return Err(Unauthorized(
            401,
            99991671,
            "invalid access token format: use Bearer t-… or u-…",
        ));
    }
    if token != fs.user_access_token {
        return Err(Unauthorized(
            401,
            154001,
            "authorization failed: unknown user access token",
        ));
    }
    let expected = format!("{}:{}", fs.helpdesk_id, fs.helpdesk_token);
    let helpdesk = req
        .header("x-lark-helpdesk-authorization")
        .and_then(wire::decode_base64_text);
    if helpdesk.as_deref() != Some(expected.as_str()) {
        return Err(Unauthorized(401, 154001, "helpdesk authorization failed"));
    }
    Ok(())
}
