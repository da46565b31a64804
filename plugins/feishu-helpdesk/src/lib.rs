//! recalld plugin for **Feishu / Lark helpdesk notifications**.
//!
//! | operation | request |
//! |---|---|
//! | recall | `POST /open-apis/helpdesk/v1/notifications/{id}/cancel_send` `{"is_recall": true}`: stops the push and takes back what was delivered |
//! | cancel | the same with `{"is_recall": false}`: stops what is not yet sent |
//! | update | `PATCH /open-apis/helpdesk/v1/notifications/{id}?user_id_type=…` of a **draft**, the new notification taken from `operation.params` and checked first; `params.user_id_type` (`open_id`, the default, `union_id` or `user_id`) goes to the query (see `update`) |
//!
//! Every call carries `Authorization: Bearer <user_access_token>` and
//! `X-Lark-Helpdesk-Authorization: base64(helpdesk_id:helpdesk_token)`.
//!
//! # The user token comes from the configuration
//! The notification APIs accept only a *user* access token (`u-…`), which
//! Feishu issues through an OAuth flow that recalld does not run. So the
//! manifest says `uses_token: false` and the token is the
//! `user_access_token` credential. When Feishu refuses it (99991663,
//! 99991668, 99991677) the plugin answers `refresh_token`; with no token
//! exchange, the remedy is a new token in the configuration. `app_id` and
//! `app_secret` are accepted for a future tenant-token flow and unused.
//!
//! # Answers
//! `{"code": 0}` is done (a repeated recall is idempotent and answers 0 too).
//! 155000, 99991400 and HTTP 429 are retried after `x-ogw-ratelimit-reset`
//! seconds; the helpdesk codes 154000–154005 and the generic permanent codes
//! fail with the vendor's message (154005 also means the notification is in
//! the wrong state, e.g. a PATCH outside draft; to a recall, a 154005 whose
//! message says `recalled` is already done). `status` integers are never
//! read. Regions: `feishu` (`https://open.feishu.cn`, the default) and
//! `lark` (`https://open.larksuite.com`); an account's `base_url` overrides
//! them.

#![deny(unsafe_op_in_unsafe_fn)]

mod already_recalled;
mod answer;
mod manifest;
mod request;
mod update;

use plugin_api::{
    HttpRequest, InterpretInput, Manifest, Outcome, Plugin, PluginError, PrepareInput,
};

/// The Feishu helpdesk adapter. Stateless: every call is a pure function of its input.
#[derive(Debug, Default, Clone, Copy)]
pub struct FeishuHelpdesk;

impl Plugin for FeishuHelpdesk {
    fn manifest(&self) -> Manifest {
        manifest::manifest()
    }

    fn prepare(&self, input: &PrepareInput) -> Result<HttpRequest, PluginError> {
        request::prepare(input)
    }

    fn interpret(&self, input: &InterpretInput) -> Result<Outcome, PluginError> {
        Ok(answer::interpret(input))
    }
}

plugin_api::export_plugin!(FeishuHelpdesk);

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
        json!({"name": "helpdesk", "region": "lark",
               "credentials": {"user_access_token": "u-1", "helpdesk_id": "7", "helpdesk_token": "helpdesk-token-1"}})
    }

    fn operation(kind: &str, params: Value) -> Value {
        json!({"kind": kind, "params": params, "message": {"account": "helpdesk",
               "remote_id": "6981801914270744596", "sent_at_ms": 0}})
    }

    #[test]
    fn round_trip_through_the_c_abi() {
        let plugin = open();
        plugin.assert_header_and_manifest(&FeishuHelpdesk.manifest());

        let input = json!({"account": account(), "operation": operation("cancel", Value::Null), "now_ms": 0});
        let prepared = plugin.call(Call::Prepare, &input);
        assert_eq!(prepared.status, STATUS_OK, "{}", prepared.output);
        let request: HttpRequest = serde_json::from_value(prepared.output).unwrap();
        assert_eq!(
            request.url,
            "https://open.larksuite.com/open-apis/helpdesk/v1/notifications/6981801914270744596/cancel_send"
        );
        assert_eq!(request.body.as_deref(), Some(r#"{"is_recall":false}"#));

        let answer = json!({"status": 429, "headers": [{"name": "x-ogw-ratelimit-reset", "value": "5"}],
                            "body": r#"{"code":99991400,"msg":"request trigger frequency limit"}"#});
        let input = json!({"account": account(), "operation": operation("recall", Value::Null),
                           "response": answer, "now_ms": 0});
        let interpreted = plugin.call(Call::Interpret, &input);
        assert_eq!(interpreted.status, STATUS_OK);
        assert_eq!(
            interpreted.output,
            json!({"outcome": "retry", "after_ms": 5000, "code": "99991400",
                   "message": "request trigger frequency limit"})
        );

        let token = plugin.call(
            Call::TokenRequest,
            &json!({"account": account(), "now_ms": 0}),
        );
        assert_eq!((token.status, token.output), (STATUS_OK, Value::Null));
    }

    #[test]
    fn refusals_cross_the_c_abi_as_plugin_errors() {
        let plugin = open();
        let bad = plugin.call_bytes(Call::Prepare, "{\"account\": 1}".as_bytes());
        assert_eq!(bad.status, STATUS_BAD_INPUT);
        assert_eq!(bad.output["code"], "bad_input");

        let params =
            json!({"job_name": "j", "push_content": "{}", "push_type": 3, "push_scope_type": 0});
        let input =
            json!({"account": account(), "operation": operation("update", params), "now_ms": 0});
        let refused = plugin.call(Call::Prepare, &input);
        assert_eq!(refused.status, STATUS_ERROR);
        assert_eq!(refused.output["code"], "invalid_field");
        assert!(
            refused.output["message"]
                .as_str()
                .unwrap()
                .starts_with("params.push_type")
        );

        let token = plugin.call(
            Call::TokenParse,
            &json!({"account": account(), "now_ms": 0,
                                                          "response": {"status": 200}}),
        );
        assert_eq!(token.status, STATUS_ERROR);
        assert_eq!(token.output["code"], "token_unsupported");
    }
}
