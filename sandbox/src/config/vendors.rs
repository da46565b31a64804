//! Per-vendor settings: credentials, windows, limits and the answers to
//! situations vendors.md leaves unverified.

use serde::{Deserialize, Serialize};

use super::{ErrorShape, RepeatRecall};

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
    /// Scopes the user token carries. Writes need `helpdesk:all`; GET also
    /// takes `helpdesk:all:readonly`.
    pub granted_scopes: Vec<String>,
    /// Answer to a call whose scope is missing (the generic 99991672 /
    /// 99991676 / 99991679 are the alternatives).
    pub missing_scope: ErrorShape,
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
            granted_scopes: vec!["helpdesk:all".into()],
            missing_scope: ErrorShape {
                http: 403,
                code: 154003,
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
    /// `userid_list` recipients reached a minute, over all sends (`None`: no
    /// limit); the rest are dropped into `forbidden_user_id_list`.
    pub recipients_per_minute: Option<u32>,
    /// `errcode` over `rate_limits.dingtalk_per_min` (the docs give 90006
    /// and 90005 without saying which is which).
    pub per_min_limited_errcode: i64,
    /// The per-user daily cap and the once-a-day rule for the same content.
    pub user_limits: DingTalkUserLimits,
    /// A send whose `msg` contains any of these is refused with 1430002.
    pub banned_words: Vec<String>,
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
            recipients_per_minute: Some(5000),
            per_min_limited_errcode: 90006,
            user_limits: DingTalkUserLimits::default(),
            banned_words: Vec::new(),
        }
    }
}

/// DingTalk's per-user rules for `asyncsend_v2`, counted per calendar day
/// in China time (UTC+8) on the sandbox clock, for `userid_list` recipients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DingTalkUserLimits {
    /// Messages one user receives a day (500; ISV apps 100 or 50).
    /// `None`: no cap.
    pub messages_per_user_per_day: Option<u32>,
    /// The same `msg` reaches the same user at most once a day.
    pub duplicate_content: bool,
    /// What happens to a user over a limit.
    pub answer: OverLimit,
    /// Code of a user over the daily cap (143105; 143205 is the alternative).
    pub daily_cap_errcode: i64,
    /// Code of a duplicate (143106; 143206 is the alternative).
    pub duplicate_errcode: i64,
}

impl Default for DingTalkUserLimits {
    fn default() -> DingTalkUserLimits {
        DingTalkUserLimits {
            messages_per_user_per_day: Some(500),
            duplicate_content: true,
            answer: OverLimit::Drop,
            daily_cap_errcode: 143105,
            duplicate_errcode: 143106,
        }
    }
}

/// How DingTalk answers a send with users over a per-user limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverLimit {
    /// As documented: the send succeeds; those users are dropped into
    /// `forbidden_user_id_list` and `forbidden_list[{code,count,userid}]`.
    Drop,
    /// The whole send is refused with the limit's errcode; nothing is sent.
    Reject,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngageLabConfig {
    /// Basic auth must be `app_key:master_secret`, or, for group pushes,
    /// `group-<group_key>:group_master_secret`.
    pub app_key: String,
    pub master_secret: String,
    /// The group the app belongs to; empty: no group, group auth refused.
    pub group_key: String,
    pub group_master_secret: String,
    /// Withdraw refused for messages older than this (`None`: never).
    pub withdraw_window_secs: Option<u64>,
    /// A second withdraw of the same msg_id.
    pub repeat_withdraw: RepeatRecall,
    /// HTTP status of the 23008 rate-limit answer.
    pub rate_limited_http: u16,
    /// Largest serialized `body` field of a push (21005 above it).
    pub max_push_body_bytes: usize,
    /// Answer to Basic auth naming another AppKey (a known key with a
    /// wrong secret, or no usable header, is 401 21004).
    pub unknown_app_key: ErrorShape,
}

impl Default for EngageLabConfig {
    fn default() -> EngageLabConfig {
        EngageLabConfig {
            app_key: "el-sandbox".into(),
            master_secret: "el-secret".into(),
            group_key: "el-group".into(),
            group_master_secret: "el-group-secret".into(),
            withdraw_window_secs: Some(86_400),
            repeat_withdraw: RepeatRecall::Reject,
            rate_limited_http: 400,
            max_push_body_bytes: 4000,
            unknown_app_key: ErrorShape {
                http: 400,
                code: 21008,
            },
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
    /// Answer to Basic auth naming another AppKey (a known key with a
    /// wrong secret, or no usable header, is 401 1004).
    pub unknown_app_key: ErrorShape,
}

impl Default for JPushConfig {
    fn default() -> JPushConfig {
        JPushConfig {
            app_key: "jp-sandbox".into(),
            master_secret: "jp-secret".into(),
            delete_window_secs: None,
            repeat_delete: RepeatRecall::Reject,
            max_payload_bytes: 4000,
            unknown_app_key: ErrorShape {
                http: 400,
                code: 1008,
            },
        }
    }
}
