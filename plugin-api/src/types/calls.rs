//! The input of each call the host makes (`prepare`, `interpret`,
//! `token_request`, `token_parse`) and the token call's reply.

use serde::{Deserialize, Serialize};

use super::{Account, HttpResponse, Operation, Outcome};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrepareInput {
    pub account: Account,
    pub operation: Operation,
    /// The cached access token when the manifest says `uses_token`.
    #[serde(default)]
    pub token: Option<String>,
    pub now_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterpretInput {
    pub account: Account,
    pub operation: Operation,
    pub response: HttpResponse,
    pub now_ms: i64,
    /// Which attempt at this operation `response` answers, counting from 1,
    /// for vendors that cap their own retries (DingTalk: at most three tries
    /// when busy). `None` when the host does not say: hosts before ABI 1.1
    /// never do. Since ABI 1.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenInput {
    pub account: Account,
    pub now_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenParseInput {
    pub account: Account,
    pub response: HttpResponse,
    pub now_ms: i64,
}

/// The answer to a token request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum TokenReply {
    /// A token, valid for `expires_in_secs` from `now`.
    Granted { token: String, expires_in_secs: u64 },
    /// No token; the outcome says whether to retry or give up.
    Rejected { outcome: Outcome },
}
