//! Sandbox configuration: credentials, latency, rate limits, window lengths and
//! the switches for every behaviour vendors.md marks unverified (defaults follow
//! `docs/unverified-choices.md`). The same shape is the JSON of
//! `GET /_sandbox/config`, and `POST /_sandbox/config` takes a partial document
//! that is merged over the current one.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Everything the sandbox can be told. `Default` is the documented behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Delay added before each vendor request is handled (0 = none); control
    /// routes under `/_sandbox/` are never delayed.
    pub latency_ms: u64,
    /// Largest request body read, enforced while reading, before any parsing.
    pub max_body_bytes: usize,
    /// A frozen clock moves only through `advance_clock`; tests use it so time
    /// windows cannot be crossed by accident.
    pub frozen_clock: bool,
    /// Every vendor rate limit, switchable as a whole.
    pub rate_limits: RateLimits,
    /// Feishu/Lark helpdesk: credentials, lifecycle and unverified answers.
    pub feishu: FeishuConfig,
    /// DingTalk work notifications: credentials, windows, unverified answers.
    pub dingtalk: DingTalkConfig,
    /// EngageLab v4: credentials, window, unverified answers.
    pub engagelab: EngageLabConfig,
    /// JPush v3: credentials, optional window, unverified answers.
    pub jpush: JPushConfig,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            latency_ms: 0,
            max_body_bytes: 1024 * 1024,
            frozen_clock: false,
            rate_limits: RateLimits::default(),
            feishu: FeishuConfig::default(),
            dingtalk: DingTalkConfig::default(),
            engagelab: EngageLabConfig::default(),
            jpush: JPushConfig::default(),
        }
    }
}

/// Vendor rate limits. `None` means no limit for that endpoint; `enabled:
/// false` switches every one of them off (benchmarks do this).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// False switches every limit below off at once.
    pub enabled: bool,
    /// Feishu `PATCH /notifications/{id}` per app per minute (documented: 20).
    pub feishu_patch_per_min: Option<u32>,
    /// Feishu `execute_send` per app per minute (documented: 10).
    pub feishu_execute_send_per_min: Option<u32>,
    /// Feishu `GET /notifications/{id}` per app per minute (documented: 100).
    pub feishu_get_per_min: Option<u32>,
    /// Feishu `cancel_send`: a "special" limit whose value is not published.
    pub feishu_cancel_send_per_min: Option<u32>,
    /// DingTalk, per appkey and per API, per second (40).
    pub dingtalk_per_sec: Option<u32>,
    /// EngageLab, per AppKey, all `/v4` calls, per second (500).
    pub engagelab_per_sec: Option<u32>,
    /// JPush, per AppKey, all `/v3` calls, per minute (600, free tier).
    pub jpush_per_min: Option<u32>,
}

impl Default for RateLimits {
    fn default() -> RateLimits {
        RateLimits {
            enabled: true,
            feishu_patch_per_min: Some(20),
            feishu_execute_send_per_min: Some(10),
            feishu_get_per_min: Some(100),
            feishu_cancel_send_per_min: None,
            dingtalk_per_sec: Some(40),
            engagelab_per_sec: Some(500),
            jpush_per_min: Some(600),
        }
    }
}

impl RateLimits {
    /// Every limit switched off.
    pub fn disabled() -> RateLimits {
        RateLimits {
            enabled: false,
            ..RateLimits::default()
        }
    }

    /// The limit to apply: `None` when limits are switched off.
    pub(crate) fn pick(&self, limit: Option<u32>) -> Option<u32> {
        if self.enabled { limit } else { None }
    }
}

/// An HTTP status and a vendor code, for answers whose shape is unverified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorShape {
    /// HTTP status of the answer.
    pub http: u16,
    /// The vendor's `code` in the body.
    pub code: i64,
}

/// What a vendor answers to a second recall of the same message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepeatRecall {
    /// Success, as for the first recall.
    Idempotent,
    /// The vendor's error for this situation.
    Reject,
}

/// The integer Feishu's `status` field takes in each state, one field per
/// state (the real values are not published).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeishuStatusCodes {
    pub draft: i64,
    pub in_review: i64,
    pub approved: i64,
    pub scheduled: i64,
    pub sending: i64,
    pub sent: i64,
    pub cancelled: i64,
    pub recalled: i64,
}

impl Default for FeishuStatusCodes {
    fn default() -> FeishuStatusCodes {
        FeishuStatusCodes {
            draft: 0,
            in_review: 1,
            approved: 2,
            scheduled: 3,
            sending: 4,
            sent: 5,
            cancelled: 6,
            recalled: 7,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeishuConfig {
    /// Accepted by the tenant/app token endpoints, with `app_secret`.
    pub app_id: String,
    pub app_secret: String,
    /// The one user access token (`u-…`) the notification APIs accept.
    pub user_access_token: String,
    /// `X-Lark-Helpdesk-Authorization` must be base64(`helpdesk_id:helpdesk_token`).
    pub helpdesk_id: String,
    pub helpdesk_token: String,
    /// Lifetime of a newly issued tenant/app access token.
    pub token_lifetime_secs: u64,
    /// The same token is returned until less than this is left.
    pub token_reissue_below_secs: u64,
    /// The caller owns the helpdesk: `submit_approve` approves at once.
    /// Otherwise the notification waits in review until
    /// `POST /_sandbox/feishu/notifications/{id}/approve`.
    pub creator_is_owner: bool,
    /// How long a scheduled notification stays "sending" after `send_at`.
    pub sending_duration_ms: u64,
    pub status_codes: FeishuStatusCodes,
    /// Answer to an operation in the wrong state.
    pub wrong_state: ErrorShape,
    /// `cancel_send {"is_recall":true}` on a recalled notification.
    pub repeat_recall: RepeatRecall,
    /// Answer to a `t-` tenant token on a notification API.
    pub tenant_token_refused: ErrorShape,
    /// Answer to a request over a rate limit.
    pub rate_limited: ErrorShape,
}

impl Default for FeishuConfig {
    fn default() -> FeishuConfig {
        FeishuConfig {
            app_id: "cli_sandbox".into(),
            app_secret: "sandbox-secret".into(),
            user_access_token: "u-sandbox".into(),
            helpdesk_id: "hd-sandbox".into(),
            helpdesk_token: "hd-token-sandbox".into(),
            token_lifetime_secs: 7200,
            token_reissue_below_secs: 1800,
            creator_is_owner: true,
            sending_duration_ms: 5_000,
            status_codes: FeishuStatusCodes::default(),
            wrong_state: ErrorShape {
                http: 405,
                code: 154005,
            },
            repeat_recall: RepeatRecall::Idempotent,
            tenant_token_refused: ErrorShape {
                http: 401,
                code: 99991668,
            },
            rate_limited: ErrorShape {
                http: 429,
                code: 99991400,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DingTalkConfig {
    /// `gettoken?appkey=&appsecret=` accepts only this pair.
    pub app_key: String,
    pub app_secret: String,
    /// The one agent (micro-app) the app may send and recall through.
    pub agent_id: i64,
    /// `expires_in` of an access token; a repeat `gettoken` extends it by this.
    pub token_lifetime_secs: u64,
    /// HTTP status of every answer whose `errcode` is not 0.
    pub error_http_status: u16,
    /// Recall refused this long after the send (`None`: never).
    pub recall_window_secs: Option<u64>,
    /// `getsendprogress` / `getsendresult` refuse older tasks (`None`: never).
    pub query_window_secs: Option<u64>,
    /// A second recall of the same task.
    pub repeat_recall: RepeatRecall,
    /// `errcode` of a recall outside the window.
    pub expired_recall_errcode: i64,
    /// Recipients per send; the rest are dropped into `forbidden_user_id_list`.
    pub max_recipients: usize,
}

impl Default for DingTalkConfig {
    fn default() -> DingTalkConfig {
        DingTalkConfig {
            app_key: "ding-sandbox".into(),
            app_secret: "ding-secret".into(),
            agent_id: 1000,
            token_lifetime_secs: 7200,
            error_http_status: 200,
            recall_window_secs: Some(86_400),
            query_window_secs: Some(86_400),
            repeat_recall: RepeatRecall::Idempotent,
            expired_recall_errcode: 400002,
            max_recipients: 5000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngageLabConfig {
    /// Basic auth must be `app_key:master_secret`.
    pub app_key: String,
    pub master_secret: String,
    /// Withdraw refused for messages older than this (`None`: never).
    pub withdraw_window_secs: Option<u64>,
    /// A second withdraw of the same msg_id.
    pub repeat_withdraw: RepeatRecall,
    /// HTTP status of the 23008 rate-limit answer.
    pub rate_limited_http: u16,
    /// Largest serialized `body` field of a push (21005 above it).
    pub max_push_body_bytes: usize,
}

impl Default for EngageLabConfig {
    fn default() -> EngageLabConfig {
        EngageLabConfig {
            app_key: "el-sandbox".into(),
            master_secret: "el-secret".into(),
            withdraw_window_secs: Some(86_400),
            repeat_withdraw: RepeatRecall::Reject,
            rate_limited_http: 400,
            max_push_body_bytes: 4000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JPushConfig {
    /// Basic auth must be `app_key:master_secret`.
    pub app_key: String,
    pub master_secret: String,
    /// Delete refused for messages older than this (`None`: no window).
    pub delete_window_secs: Option<u64>,
    /// A second delete of the same msg_id.
    pub repeat_delete: RepeatRecall,
    /// Largest serialized `notification` plus `message` of a push (1005 above).
    pub max_payload_bytes: usize,
}

impl Default for JPushConfig {
    fn default() -> JPushConfig {
        JPushConfig {
            app_key: "jp-sandbox".into(),
            master_secret: "jp-secret".into(),
            delete_window_secs: None,
            repeat_delete: RepeatRecall::Reject,
            max_payload_bytes: 4000,
        }
    }
}

/// Why a configuration (or a change to it) was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config is not valid: {0}; see sandbox/README.md for the keys")]
    Shape(#[from] serde_json::Error),
    #[error("`{key}` = {value} is not an HTTP status; use 100..=599")]
    Status { key: &'static str, value: u16 },
}

impl Config {
    /// Checks what serde cannot: HTTP status values.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let statuses = [
            ("feishu.wrong_state.http", self.feishu.wrong_state.http),
            (
                "feishu.tenant_token_refused.http",
                self.feishu.tenant_token_refused.http,
            ),
            ("feishu.rate_limited.http", self.feishu.rate_limited.http),
            (
                "dingtalk.error_http_status",
                self.dingtalk.error_http_status,
            ),
            (
                "engagelab.rate_limited_http",
                self.engagelab.rate_limited_http,
            ),
        ];
        for (key, value) in statuses {
            if !(100..=599).contains(&value) {
                return Err(ConfigError::Status { key, value });
            }
        }
        Ok(())
    }

    /// This config with a partial JSON document merged over it: objects merge
    /// key by key, anything else (including `null`) replaces.
    pub fn merged(&self, patch: &Value) -> Result<Config, ConfigError> {
        let mut current = serde_json::to_value(self)?;
        merge(&mut current, patch);
        let config: Config = serde_json::from_value(current)?;
        config.validate()?;
        Ok(config)
    }
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                match target.get_mut(key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

#[cfg(test)]
mod tests;
