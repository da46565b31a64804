//! A minimal recalld plugin, written as a template for third-party authors.
//!
//! It speaks to **Acme Push**, an imaginary vendor whose recall API is:
//!
//! ```text
//! DELETE https://api.acme.invalid/v1/messages/{id}
//! Authorization: Bearer <api_key>
//!
//! 204 recalled           409 already recalled     410 too old to recall
//! 404 unknown id         401/403 bad api key      429 slow down (Retry-After: <seconds>)
//! 5xx try again later
//! ```
//!
//! A plugin is a *sans-IO translator*: [`Plugin::prepare`] turns "recall this
//! message" into an HTTP request description, the recalld daemon sends it,
//! and [`Plugin::interpret`] turns the answer into an [`Outcome`]. No
//! sockets, no clock, no threads: everything the plugin needs is in its input.
//! See README.md beside this file for building and checking it.

use plugin_api::{
    CredentialSchema, CredentialType, Header, HttpRequest, InterpretInput, Manifest, OperationKind,
    Outcome, Plugin, PluginError, PrepareInput, RateLimit, Region,
};

/// The adapter. `export_plugin!` needs `Default`; keep it stateless.
#[derive(Debug, Default, Clone, Copy)]
pub struct AcmePush;

impl Plugin for AcmePush {
    /// What the daemon shows in `recalld plugins inspect` and checks the
    /// configured accounts against.
    fn manifest(&self) -> Manifest {
        Manifest {
            // Accounts in recalld.yaml refer to the plugin by this name.
            name: "acme-push".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            vendor: "Acme Push".to_owned(),
            description: "Acme Push: recall a message by id (template plugin)".to_owned(),
            operations: vec![OperationKind::Recall],
            // Acme accepts recalls for 7 days; older messages are reported
            // `expired` by the daemon without calling Acme at all.
            recall_window_secs: Some(7 * 86_400),
            // At most 10 calls a second per account (config can override).
            rate_limits: vec![RateLimit {
                scope: "*".to_owned(),
                requests: 10,
                per_ms: 1_000,
            }],
            // The daemon refuses requests to any other host, unless the
            // account configures its own `base_url` (e.g. a test server).
            regions: vec![Region {
                name: "default".to_owned(),
                base_url: "https://api.acme.invalid".to_owned(),
            }],
            // `secret: true` makes the daemon redact the value everywhere.
            credentials: CredentialSchema::new().field(
                "api_key",
                CredentialType::String,
                true,
                true,
                "an Acme API key with the messages:write scope",
            ),
            // Acme needs no token exchange: the API key is sent as is.
            uses_token: false,
        }
    }

    fn prepare(&self, input: &PrepareInput) -> Result<HttpRequest, PluginError> {
        let operation = &input.operation;
        if operation.kind != OperationKind::Recall {
            return Err(PluginError::unsupported(operation.kind));
        }
        let id = &operation.message.remote_id;
        if id.is_empty() || id == "." || id == ".." {
            return Err(PluginError::new(
                "invalid_remote_id",
                "message.remote_id is not an Acme message id",
            ));
        }
        // base_url of the account, else its region, else the first region.
        let base = input.account.base_url(&self.manifest().regions)?;
        let api_key = input.account.credential_str("api_key")?;
        Ok(HttpRequest {
            method: "DELETE".to_owned(),
            url: format!("{base}/v1/messages/{}", path_segment(id)),
            headers: vec![Header::new("Authorization", format!("Bearer {api_key}"))],
            body: None,
        })
    }

    fn interpret(&self, input: &InterpretInput) -> Result<Outcome, PluginError> {
        let response = &input.response;
        let status = response.status;
        // Never put credentials in a message; Acme's body does not echo them.
        let said = format!("HTTP {status}: {}", prefix(&response.body));
        let failed = |message: String| Outcome::Failed {
            code: format!("http_{status}"),
            message,
            permanent: true,
        };
        Ok(match status {
            200..=299 => Outcome::Done,
            409 => Outcome::AlreadyDone,
            410 => Outcome::Expired { message: said },
            404 => failed(format!("not found: {said}")),
            429 | 500..=599 => Outcome::Retry {
                // Retry-After in seconds, as milliseconds; None lets the
                // daemon choose its own backoff.
                after_ms: response
                    .header("Retry-After")
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .map(|secs| secs.saturating_mul(1_000)),
                code: format!("http_{status}"),
                message: said,
            },
            _ => failed(said),
        })
    }
}

// The one line that makes this crate a recalld plugin: it exports the
// `recalld_plugin_entry` symbol and catches every panic at the boundary.
plugin_api::export_plugin!(AcmePush);

/// Percent-encodes everything but RFC 3986's unreserved characters, so an id
/// stays one path segment whatever it contains.
fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The first 200 characters of a body, for messages.
fn prefix(body: &str) -> String {
    body.trim().chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::{Account, HttpResponse, Message, Operation};
    use serde_json::{Value, json};

    fn account() -> Account {
        serde_json::from_value(json!({"name": "acme-main", "credentials": {"api_key": "k-123"}}))
            .unwrap()
    }

    fn operation(kind: OperationKind, id: &str) -> Operation {
        Operation {
            kind,
            message: Message {
                account: "acme-main".into(),
                remote_id: id.into(),
                sent_at_ms: 0,
                tags: vec![],
                meta: Value::Null,
            },
            params: Value::Null,
        }
    }

    fn prepare(kind: OperationKind, id: &str) -> Result<HttpRequest, PluginError> {
        let input = PrepareInput {
            account: account(),
            operation: operation(kind, id),
            token: None,
            now_ms: 0,
        };
        AcmePush.prepare(&input)
    }

    fn interpret(status: u16, headers: Vec<Header>, body: &str) -> Outcome {
        let response = HttpResponse {
            status,
            headers,
            body: body.into(),
        };
        let input = InterpretInput {
            account: account(),
            operation: operation(OperationKind::Recall, "m-1"),
            response,
            now_ms: 0,
            attempt: None,
        };
        AcmePush.interpret(&input).unwrap()
    }

    #[test]
    fn recall_is_an_authenticated_delete() {
        let request = prepare(OperationKind::Recall, "m-1").unwrap();
        assert_eq!(request.method, "DELETE");
        assert_eq!(request.url, "https://api.acme.invalid/v1/messages/m-1");
        assert_eq!(
            request.headers,
            vec![Header::new("Authorization", "Bearer k-123")]
        );
    }

    #[test]
    fn ids_stay_one_path_segment() {
        let request = prepare(OperationKind::Recall, "a/b c?é").unwrap();
        assert_eq!(
            request.url,
            "https://api.acme.invalid/v1/messages/a%2Fb%20c%3F%C3%A9"
        );
        assert_eq!(
            prepare(OperationKind::Recall, "..").unwrap_err().code,
            "invalid_remote_id"
        );
    }

    #[test]
    fn other_operations_are_refused() {
        assert_eq!(
            prepare(OperationKind::Update, "m-1").unwrap_err().code,
            "unsupported_operation"
        );
    }

    #[test]
    fn answers_map_to_outcomes() {
        assert_eq!(interpret(204, vec![], ""), Outcome::Done);
        assert_eq!(interpret(409, vec![], ""), Outcome::AlreadyDone);
        assert!(matches!(
            interpret(410, vec![], "too old"),
            Outcome::Expired { .. }
        ));
        assert!(matches!(
            interpret(404, vec![], ""),
            Outcome::Failed {
                permanent: true,
                ..
            }
        ));
        assert!(matches!(
            interpret(401, vec![], ""),
            Outcome::Failed {
                permanent: true,
                ..
            }
        ));
        let slow = interpret(429, vec![Header::new("Retry-After", "2")], "");
        assert!(matches!(
            slow,
            Outcome::Retry {
                after_ms: Some(2_000),
                ..
            }
        ));
        assert!(matches!(
            interpret(503, vec![], ""),
            Outcome::Retry { after_ms: None, .. }
        ));
    }

    #[test]
    fn manifest_requires_a_secret_api_key() {
        let schema = AcmePush.manifest().credentials;
        let problems = schema.problems(&serde_json::Map::new());
        assert_eq!(problems, vec![("api_key".to_owned(), "missing".to_owned())]);
        assert_eq!(schema.secret_keys().collect::<Vec<_>>(), ["api_key"]);
    }
}
