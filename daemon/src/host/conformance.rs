//! `recalld plugins conformance`: what a plugin must pass before it ships.
//!
//! Every check drives the plugin through the same trait the dispatcher uses,
//! with sample accounts, messages and vendor answers; no network is involved.

use std::fmt::Write as _;

use plugin_api::{
    Account, CredentialType, Header, HttpRequest, HttpResponse, InterpretInput, Message, Operation,
    OperationKind, Outcome, PluginError, PrepareInput, TokenInput, TokenParseInput,
};
use serde_json::{Map, Value, json};

use super::{HostGuard, LoadedPlugin};

/// One check and its verdict.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    /// On failure: what went wrong and what to fix.
    pub detail: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub plugin: String,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    /// A human-readable report, one line per check.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for check in &self.checks {
            let mark = if check.passed { "ok  " } else { "FAIL" };
            let _ = write!(out, "{mark} {}", check.name);
            if !check.detail.is_empty() {
                let _ = write!(out, ": {}", check.detail);
            }
            out.push('\n');
        }
        let failed = self.checks.iter().filter(|c| !c.passed).count();
        let _ = writeln!(
            out,
            "{}: {} checks, {} failed{}",
            self.plugin,
            self.checks.len(),
            failed,
            if failed == 0 {
                "; conformant"
            } else {
                "; fix the FAIL lines above"
            }
        );
        out
    }

    fn record(&mut self, name: impl Into<String>, result: Result<(), String>) {
        let (passed, detail) = match result {
            Ok(()) => (true, String::new()),
            Err(detail) => (false, detail),
        };
        self.checks.push(Check {
            name: name.into(),
            passed,
            detail,
        });
    }
}

/// Recognisable credential values, so a leak into an outcome can be spotted.
fn sample_account(loaded: &LoadedPlugin) -> Account {
    let mut credentials = Map::new();
    for (key, property) in &loaded.manifest.credentials.properties {
        let value = match property.value_type {
            CredentialType::String => Value::String(format!("conformance-secret-{key}")),
            CredentialType::Integer => json!(1000),
        };
        credentials.insert(key.clone(), value);
    }
    Account {
        name: "conformance".into(),
        base_url: None,
        region: None,
        credentials,
    }
}

fn sample_operation(kind: OperationKind, now_ms: i64) -> Operation {
    Operation {
        kind,
        message: Message {
            account: "conformance".into(),
            remote_id: "1828256757".into(),
            sent_at_ms: now_ms - 60_000,
            tags: vec!["conformance".into()],
            meta: json!({}),
        },
        params: json!({}),
    }
}

fn sample_responses() -> Vec<(&'static str, HttpResponse)> {
    let response = |status: u16, headers: Vec<Header>, body: &str| HttpResponse {
        status,
        headers,
        body: body.to_owned(),
    };
    vec![
        ("2xx with an empty JSON object", response(200, vec![], "{}")),
        (
            "2xx with a non-JSON body",
            response(200, vec![], "<html>ok</html>"),
        ),
        (
            "4xx bad request",
            response(400, vec![], r#"{"error":{"code":1,"message":"bad"}}"#),
        ),
        ("4xx not found", response(404, vec![], "not found")),
        (
            "5xx internal error",
            response(500, vec![], "internal error"),
        ),
        ("5xx unavailable, empty body", response(503, vec![], "")),
        (
            "429 with Retry-After",
            response(
                429,
                vec![Header::new("Retry-After", "2")],
                r#"{"error":"slow down"}"#,
            ),
        ),
        (
            "2xx with a 512 KiB body",
            response(200, vec![], &"x".repeat(512 * 1024)),
        ),
    ]
}

fn well_formed(request: &HttpRequest, guard: &HostGuard) -> Result<(), String> {
    let method_ok =
        !request.method.is_empty() && request.method.bytes().all(|b| b.is_ascii_uppercase());
    if !method_ok {
        return Err(format!(
            "method {:?} is not an uppercase HTTP method",
            request.method
        ));
    }
    guard.check(request)?;
    for header in &request.headers {
        let name_ok = !header.name.is_empty()
            && header
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
        if !name_ok || header.value.contains(['\r', '\n']) {
            return Err(format!("header {:?} is malformed", header.name));
        }
    }
    Ok(())
}

fn leaks(text: &str, account: &Account) -> Option<String> {
    account
        .credentials
        .iter()
        .filter_map(|(key, value)| value.as_str().map(|v| (key, v)))
        .find(|(_, value)| text.contains(value))
        .map(|(key, _)| {
            format!("it echoes credentials.{key}; never put secrets in outcomes or errors")
        })
}

fn describe_error(e: &PluginError) -> String {
    if e.code == "plugin_panic" {
        format!(
            "panicked ({}); plugins must classify every input without panicking",
            e.message
        )
    } else {
        format!("refused with {e}")
    }
}

/// Runs every check against `loaded`. `now_ms` is the clock passed to the plugin.
pub fn run_conformance(loaded: &LoadedPlugin, now_ms: i64) -> Report {
    let manifest = &loaded.manifest;
    let mut report = Report {
        plugin: format!("{} {}", manifest.name, manifest.version),
        checks: Vec::new(),
    };
    report.record(
        "manifest is valid",
        super::dynamic::validate_manifest(manifest),
    );
    let account = sample_account(loaded);
    let guard = match HostGuard::new(manifest, &account) {
        Ok(guard) => guard,
        Err(e) => {
            report.record("declared regions parse", Err(e));
            return report;
        }
    };
    let plugin = &loaded.plugin;

    let token = if manifest.uses_token {
        let input = TokenInput {
            account: account.clone(),
            now_ms,
        };
        let result = match plugin.token_request(&input) {
            Ok(Some(request)) => well_formed(&request, &guard),
            Ok(None) => Err("manifest says uses_token but token_request returned null".into()),
            Err(e) => Err(describe_error(&e)),
        };
        report.record("token_request builds a request to a declared host", result);
        for (label, response) in sample_responses() {
            let input = TokenParseInput {
                account: account.clone(),
                response,
                now_ms,
            };
            let result = match plugin.token_parse(&input) {
                Ok(reply) => match leaks(&format!("{reply:?}"), &account) {
                    Some(leak) => Err(leak),
                    None => Ok(()),
                },
                Err(e) if e.code == "plugin_panic" => Err(describe_error(&e)),
                Err(_) => Ok(()),
            };
            report.record(format!("token_parse handles {label}"), result);
        }
        Some("conformance-token".to_owned())
    } else {
        None
    };

    for &kind in &manifest.operations {
        let operation = sample_operation(kind, now_ms);
        let prepare = PrepareInput {
            account: account.clone(),
            operation: operation.clone(),
            token: token.clone(),
            now_ms,
        };
        let result = match plugin.prepare(&prepare) {
            Ok(request) => well_formed(&request, &guard),
            // `update` needs content the sample cannot guess; a clear refusal is fine.
            Err(e) if kind == OperationKind::Update && e.code != "plugin_panic" => Ok(()),
            Err(e) => Err(describe_error(&e)),
        };
        report.record(
            format!("{kind}: prepare builds a well-formed request to a declared host"),
            result,
        );

        let mut overridden = prepare.clone();
        overridden.account.base_url = Some("http://127.0.0.1:9".into());
        let result = match plugin.prepare(&overridden) {
            Ok(request) if request.url.starts_with("http://127.0.0.1:9/") => Ok(()),
            Ok(request) => Err(format!(
                "with base_url http://127.0.0.1:9 the request still goes to {}; honour the account's base_url",
                request.url
            )),
            Err(e) if kind == OperationKind::Update && e.code != "plugin_panic" => Ok(()),
            Err(e) => Err(describe_error(&e)),
        };
        report.record(
            format!("{kind}: prepare honours the account's base_url"),
            result,
        );

        for (label, response) in sample_responses() {
            let status = response.status;
            let input = InterpretInput {
                account: account.clone(),
                operation: operation.clone(),
                response,
                now_ms,
                attempt: Some(1),
            };
            let result = match plugin.interpret(&input) {
                Ok(outcome) => classify_check(status, &outcome)
                    .and_then(|()| leaks(&format!("{outcome:?}"), &account).map_or(Ok(()), Err)),
                Err(e) => Err(describe_error(&e)),
            };
            report.record(format!("{kind}: interpret classifies {label}"), result);
        }
    }
    report
}

/// What any sane classification satisfies, whatever the vendor.
fn classify_check(status: u16, outcome: &Outcome) -> Result<(), String> {
    let success = matches!(outcome, Outcome::Done | Outcome::AlreadyDone);
    if (status >= 500 || status == 429) && success {
        return Err(format!(
            "HTTP {status} was classified as {outcome:?}; it is not a success"
        ));
    }
    if status == 429 && !matches!(outcome, Outcome::Retry { .. }) {
        return Err(format!(
            "HTTP 429 was classified as {outcome:?}; rate limiting must be `retry`"
        ));
    }
    if status >= 500
        && matches!(
            outcome,
            Outcome::Failed {
                permanent: true,
                ..
            }
        )
    {
        return Err(format!(
            "HTTP {status} was classified as a permanent failure; 5xx must be retried"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_rules() {
        assert!(classify_check(503, &Outcome::Done).is_err());
        assert!(
            classify_check(
                429,
                &Outcome::Failed {
                    code: "x".into(),
                    message: "m".into(),
                    permanent: false
                }
            )
            .is_err()
        );
        assert!(
            classify_check(
                500,
                &Outcome::Failed {
                    code: "x".into(),
                    message: "m".into(),
                    permanent: true
                }
            )
            .is_err()
        );
        let retry = Outcome::Retry {
            after_ms: None,
            code: "429".into(),
            message: "m".into(),
        };
        assert!(classify_check(429, &retry).is_ok());
        assert!(classify_check(200, &Outcome::Done).is_ok());
        assert!(
            classify_check(
                404,
                &Outcome::Failed {
                    code: "x".into(),
                    message: "m".into(),
                    permanent: true
                }
            )
            .is_ok()
        );
    }
}
