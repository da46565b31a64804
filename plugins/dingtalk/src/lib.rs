//! recalld plugin for **DingTalk work notifications** (the old "oapi" API).
//!
//! Recall is `POST /topapi/message/corpconversation/recall?access_token=…`
//! with `{"agent_id", "msg_task_id"}`, where `msg_task_id` is the `task_id`
//! that `asyncsend_v2` returned (the ledger's `remote_id`). DingTalk accepts
//! a recall for 24 hours after the send; the manifest declares that window so
//! the host reports `expired` without a call.
//!
//! The access token comes from `GET /gettoken?appkey=…&appsecret=…`: the
//! plugin describes that request ([`Plugin::token_request`]) and parses the
//! answer ([`Plugin::token_parse`]); the host caches the token and asks for a
//! new one when an answer says `refresh_token` (errcodes 40014, 42001, 40001,
//! 33001). Note that this token request carries the app secret in its query
//! string, as DingTalk requires: hosts must not log its URL.
//!
//! "System busy" (-1) is retried, but DingTalk asks for at most three tries:
//! from the third attempt on (`InterpretInput.attempt`, ABI 1.1) it is a
//! permanent failure.
//!
//! A recall refused with 400002 ("invalid taskId") is already done when the
//! errmsg says the task was recalled, and expired when the message is past
//! the window by the host's clock (`invalid_task`).
//!
//! The vendor answers errors with HTTP 200 and an `errcode`
//! (`docs/unverified-choices.md`); the plugin reads `errcode` whatever the
//! status. Regions: `com` (`https://oapi.dingtalk.com`, the default) and `io`
//! (`https://oapi.dingtalk.io`); an account's `base_url` overrides them.

#![deny(unsafe_op_in_unsafe_fn)]

mod errors;
mod invalid_task;
mod manifest;
mod recall;
mod token;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use plugin_api::{
    HttpRequest, InterpretInput, Manifest, Outcome, Plugin, PluginError, PrepareInput, TokenInput,
    TokenParseInput, TokenReply,
};

/// Everything but RFC 3986's unreserved characters is escaped in a query value.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The DingTalk adapter. Stateless: every call is a pure function of its input.
#[derive(Debug, Default, Clone, Copy)]
pub struct DingTalk;

impl Plugin for DingTalk {
    fn manifest(&self) -> Manifest {
        manifest::manifest()
    }

    fn prepare(&self, input: &PrepareInput) -> Result<HttpRequest, PluginError> {
        recall::prepare(input)
    }

    fn interpret(&self, input: &InterpretInput) -> Result<Outcome, PluginError> {
        Ok(recall::interpret(input))
    }

    fn token_request(&self, input: &TokenInput) -> Result<Option<HttpRequest>, PluginError> {
        token::request(input).map(Some)
    }

    fn token_parse(&self, input: &TokenParseInput) -> Result<TokenReply, PluginError> {
        Ok(token::parse(input))
    }
}

plugin_api::export_plugin!(DingTalk);

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::{PluginTable, STATUS_BAD_INPUT, STATUS_ERROR, STATUS_OK};
    use plugin_common::abi_check::{AbiPlugin, Call};
    use serde_json::{Value, json};

    unsafe extern "C" {
        /// Defined by `export_plugin!` above, inside an anonymous `const`
        /// block, so it is reachable only by its symbol name.
        fn recalld_plugin_entry() -> *const PluginTable;
    }

    fn open() -> AbiPlugin {
        // SAFETY: `recalld_plugin_entry` is this crate's own export: it takes
        // no arguments and returns a pointer to a `static` table, so the
        // pointer is valid for the whole process, as `open` requires.
        unsafe { AbiPlugin::open(recalld_plugin_entry()) }.unwrap()
    }

    fn account() -> Value {
        json!({"name": "dingtalk-main", "base_url": "http://127.0.0.1:9",
               "credentials": {"appkey": "ding1", "appsecret": "s", "agent_id": "1000"}})
    }

    fn operation() -> Value {
        json!({"kind": "recall", "message": {"account": "dingtalk-main",
               "remote_id": "7123456789012345678", "sent_at_ms": 0}})
    }

    #[test]
    fn round_trip_through_the_c_abi() {
        let plugin = open();
        plugin.assert_header_and_manifest(&DingTalk.manifest());

        let token = plugin.call(
            Call::TokenRequest,
            &json!({"account": account(), "now_ms": 0}),
        );
        assert_eq!(token.status, STATUS_OK);
        assert_eq!(
            token.output["url"],
            "http://127.0.0.1:9/gettoken?appkey=ding1&appsecret=s"
        );
        let granted = plugin.call(
            Call::TokenParse,
            &json!({"account": account(), "now_ms": 0, "response": {"status": 200,
                "body": r#"{"errcode":0,"errmsg":"ok","access_token":"tok","expires_in":7200}"#}}),
        );
        assert_eq!(granted.status, STATUS_OK);
        assert_eq!(
            granted.output,
            json!({"result": "granted", "token": "tok", "expires_in_secs": 7200})
        );

        let input = json!({"account": account(), "operation": operation(),
                           "token": "tok", "now_ms": 0});
        let prepared = plugin.call(Call::Prepare, &input);
        assert_eq!(prepared.status, STATUS_OK, "{}", prepared.output);
        let request: HttpRequest = serde_json::from_value(prepared.output).unwrap();
        assert_eq!(
            request.url,
            "http://127.0.0.1:9/topapi/message/corpconversation/recall?access_token=tok"
        );

        // ABI 1.1: the host says which attempt an answer is for; DingTalk
        // asks for at most three tries when busy.
        let busy = json!({"status": 200, "body": r#"{"errcode":-1,"errmsg":"system busy"}"#});
        let input = json!({"account": account(), "operation": operation(),
                           "response": busy, "now_ms": 0, "attempt": 3});
        let interpreted = plugin.call(Call::Interpret, &input);
        assert_eq!(interpreted.status, STATUS_OK);
        assert_eq!(
            interpreted.output["outcome"], "failed",
            "{}",
            interpreted.output
        );
        assert_eq!(interpreted.output["permanent"], true);
        let mut input = input;
        input.as_object_mut().unwrap().remove("attempt");
        let interpreted = plugin.call(Call::Interpret, &input);
        assert_eq!(
            interpreted.output["outcome"], "retry",
            "a 1.0 host sends no attempt"
        );

        let answer = json!({"status": 200, "body": r#"{"errcode":42001,"errmsg":"expired"}"#});
        let input = json!({"account": account(), "operation": operation(),
                           "response": answer, "now_ms": 0});
        let interpreted = plugin.call(Call::Interpret, &input);
        assert_eq!(interpreted.status, STATUS_OK);
        assert_eq!(
            interpreted.output,
            json!({"outcome": "refresh_token", "code": "42001", "message": "expired"})
        );
    }

    #[test]
    fn refusals_cross_the_c_abi_as_plugin_errors() {
        let plugin = open();
        let bad = plugin.call_bytes(Call::TokenParse, b"");
        assert_eq!(bad.status, STATUS_BAD_INPUT);
        assert_eq!(bad.output["code"], "bad_input");

        let input = json!({"account": account(), "operation": operation(), "now_ms": 0});
        let refused = plugin.call(Call::Prepare, &input);
        assert_eq!(refused.status, STATUS_ERROR);
        assert_eq!(refused.output["code"], "missing_token");
    }
}
