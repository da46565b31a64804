//! recalld plugin for **EngageLab AppPush (MTPush) v4**.
//!
//! Recall is `DELETE /v4/push/withdraw/{msg_id}` with HTTP Basic auth
//! (`app_key:master_secret`, or `group-<group_key>:group_master_secret` when
//! the account sets both group credentials, for group pushes); there is no
//! token exchange. The vendor accepts a
//! withdraw for one day after the push and refuses a second withdraw of the
//! same message; both refusals come back as error 21003 and are told apart by
//! their message (`docs/unverified-choices.md`): `withdrawn` is
//! `already_done`, `expired` is `expired`, anything else is a permanent
//! "not found".
//!
//! Regions: `sgp` (the default), `hk`, `usva`, `defra`
//! (`https://pushapi-{region}.engagelab.com`); an account's `base_url`
//! overrides them.

#![deny(unsafe_op_in_unsafe_fn)]

mod auth;
mod manifest;
mod withdraw;

use plugin_api::{
    HttpRequest, InterpretInput, Manifest, Outcome, Plugin, PluginError, PrepareInput,
};

/// The EngageLab adapter. Stateless: every call is a pure function of its input.
#[derive(Debug, Default, Clone, Copy)]
pub struct EngageLab;

impl Plugin for EngageLab {
    fn manifest(&self) -> Manifest {
        manifest::manifest()
    }

    fn prepare(&self, input: &PrepareInput) -> Result<HttpRequest, PluginError> {
        withdraw::prepare(input)
    }

    fn interpret(&self, input: &InterpretInput) -> Result<Outcome, PluginError> {
        Ok(withdraw::interpret(input))
    }
}

plugin_api::export_plugin!(EngageLab);

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
        json!({"name": "engagelab-main", "base_url": "http://127.0.0.1:9",
               "credentials": {"app_key": "k", "master_secret": "s"}})
    }

    fn operation() -> Value {
        json!({"kind": "recall", "message": {"account": "engagelab-main",
               "remote_id": "1828256757", "sent_at_ms": 0}})
    }

    #[test]
    fn round_trip_through_the_c_abi() {
        let plugin = open();
        plugin.assert_header_and_manifest(&EngageLab.manifest());

        let input = json!({"account": account(), "operation": operation(), "now_ms": 0});
        let prepared = plugin.call(Call::Prepare, &input);
        assert_eq!(prepared.status, STATUS_OK, "{}", prepared.output);
        let request: HttpRequest = serde_json::from_value(prepared.output).unwrap();
        assert_eq!(request.method, "DELETE");
        assert_eq!(
            request.url,
            "http://127.0.0.1:9/v4/push/withdraw/1828256757"
        );

        let answer = json!({"status": 200, "body": r#"{"request_id":"","msg_id":"1828256757"}"#});
        let input = json!({"account": account(), "operation": operation(),
                           "response": answer, "now_ms": 0});
        let interpreted = plugin.call(Call::Interpret, &input);
        assert_eq!(interpreted.status, STATUS_OK);
        assert_eq!(interpreted.output, json!({"outcome": "done"}));

        let token = plugin.call(
            Call::TokenRequest,
            &json!({"account": account(), "now_ms": 0}),
        );
        assert_eq!((token.status, token.output), (STATUS_OK, Value::Null));
    }

    #[test]
    fn refusals_cross_the_c_abi_as_plugin_errors() {
        let plugin = open();
        let bad = plugin.call_bytes(Call::Prepare, b"{not json");
        assert_eq!(bad.status, STATUS_BAD_INPUT);
        assert_eq!(bad.output["code"], "bad_input");

        let no_secret = json!({"name": "a", "credentials": {"app_key": "k"}});
        let input = json!({"account": no_secret, "operation": operation(), "now_ms": 0});
        let refused = plugin.call(Call::Prepare, &input);
        assert_eq!(refused.status, STATUS_ERROR);
        assert_eq!(refused.output["code"], "missing_credential");
    }
}
