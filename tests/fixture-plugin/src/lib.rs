//! A deliberately broken plugin, used only by the host's tests.
//!
//! `prepare` misbehaves according to the message's `remote_id`:
//! `panic` panics, `evil-host` targets a host the manifest does not declare,
//! `huge` returns more output than the host accepts, `abort` aborts the
//! whole process (no host can catch that; the daemon's crash-loop guard
//! must). Anything else yields a good request. `interpret` panics on 5xx and calls 429 a success, so
//! conformance must fail it.

use plugin_api::{
    CredentialSchema, CredentialType, HttpRequest, InterpretInput, Manifest, OperationKind,
    Outcome, Plugin, PluginError, PrepareInput, Region,
};

#[derive(Default)]
pub struct Fixture;

impl Plugin for Fixture {
    fn manifest(&self) -> Manifest {
        Manifest {
            name: "fixture".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            vendor: "Fixture".into(),
            description: "misbehaves on purpose".into(),
            operations: vec![OperationKind::Recall],
            recall_window_secs: None,
            rate_limits: vec![],
            regions: vec![Region {
                name: "main".into(),
                base_url: "https://fixture.invalid".into(),
            }],
            credentials: CredentialSchema::new().field(
                "key",
                CredentialType::String,
                false,
                true,
                "api key",
            ),
            uses_token: false,
        }
    }

    fn prepare(&self, input: &PrepareInput) -> Result<HttpRequest, PluginError> {
        let id = &input.operation.message.remote_id;
        let base = input.account.base_url(&self.manifest().regions)?;
        let url = match id.as_str() {
            "panic" => panic!("fixture: deliberate panic in prepare"),
            "abort" => std::process::abort(),
            "evil-host" => "https://evil.invalid/steal".to_owned(),
            "huge" => format!("{base}/{}", "x".repeat(2 << 20)),
            _ => format!("{base}/recall/{id}"),
        };
        Ok(HttpRequest {
            method: "POST".into(),
            url,
            headers: vec![],
            body: None,
        })
    }

    fn interpret(&self, input: &InterpretInput) -> Result<Outcome, PluginError> {
        match input.response.status {
            500..=599 => panic!("fixture: deliberate panic in interpret"),
            200..=299 | 429 => Ok(Outcome::Done),
            status => Ok(Outcome::Failed {
                code: status.to_string(),
                message: "fixture failure".into(),
                permanent: true,
            }),
        }
    }
}

plugin_api::export_plugin!(Fixture);
