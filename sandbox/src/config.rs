//! Sandbox configuration: credentials, latency, rate limits, window lengths and
//! the switches for every behaviour vendors.md marks unverified (defaults follow
//! `docs/unverified-choices.md`). The same shape is the JSON of
//! `GET /_sandbox/config`, and `POST /_sandbox/config` takes a partial document
//! that is merged over the current one.

mod faults;
mod vendors;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) use faults::MAX_HOLD_MS;
pub use faults::{FaultConfig, FaultRule, FaultRules, InjectedError, RateLimitedRule, TimeoutRule};
pub use vendors::{
    DingTalkConfig, DingTalkUserLimits, EngageLabConfig, FeishuConfig, FeishuStatusCodes,
    JPushConfig, OverLimit,
};

/// Everything the sandbox can be told. `Default` is the documented behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Delay added before each vendor request is handled (0 = none); control
    /// routes under `/_sandbox/` are never delayed.
    pub latency_ms: u64,
    /// Up to this much more delay, drawn uniformly per request (seeded by
    /// `faults.seed`), on top of `latency_ms`.
    pub latency_jitter_ms: u64,
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
    /// Injected server errors, timeouts, rate-limit bursts and documented
    /// error codes, per vendor or for all of them; none by default.
    pub faults: FaultConfig,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            latency_ms: 0,
            latency_jitter_ms: 0,
            max_body_bytes: 1024 * 1024,
            frozen_clock: false,
            rate_limits: RateLimits::default(),
            feishu: FeishuConfig::default(),
            dingtalk: DingTalkConfig::default(),
            engagelab: EngageLabConfig::default(),
            jpush: JPushConfig::default(),
            faults: FaultConfig::default(),
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
    /// DingTalk, per appkey and per API, per minute (1500); over it the
    /// answer is `dingtalk.per_min_limited_errcode`.
    pub dingtalk_per_min: Option<u32>,
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
            dingtalk_per_min: Some(1500),
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

/// Why a configuration (or a change to it) was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config is not valid: {0}; see sandbox/README.md for the keys")]
    Shape(#[from] serde_json::Error),
    #[error("`{key}` = {value} is not an HTTP status; use 100..=599")]
    Status { key: &'static str, value: u16 },
    #[error("`{key}` = {value} is out of range; use {allowed}")]
    Range {
        key: String,
        value: String,
        allowed: &'static str,
    },
    #[error(
        "`{key}` = {code} is not a documented {vendor} error code; see sandbox/README.md, or give `http` too to inject an undocumented one"
    )]
    UnknownCode {
        key: String,
        vendor: &'static str,
        code: i64,
    },
    #[error(
        "`{key}` names `{name}`, which is no {vendor} endpoint; use the names in /_sandbox/stats"
    )]
    UnknownEndpoint {
        key: String,
        vendor: &'static str,
        name: String,
    },
    #[error(
        "`faults.all.error` cannot be set: error codes differ per vendor; set `faults.<vendor>.error`"
    )]
    ErrorForAll,
}

impl Config {
    /// Checks what serde cannot: HTTP status values, fault fractions, hold
    /// times, injected codes and endpoint names.
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
            ("feishu.missing_scope.http", self.feishu.missing_scope.http),
            (
                "engagelab.unknown_app_key.http",
                self.engagelab.unknown_app_key.http,
            ),
            (
                "jpush.unknown_app_key.http",
                self.jpush.unknown_app_key.http,
            ),
        ];
        for (key, value) in statuses {
            if !(100..=599).contains(&value) {
                return Err(ConfigError::Status { key, value });
            }
        }
        self.faults.validate()
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
