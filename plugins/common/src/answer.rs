//! Answers that fit no vendor table.

use plugin_api::{HttpResponse, Outcome};

use crate::{Secrets, retry_after_ms};

/// How much of a body or vendor message an outcome quotes.
pub const BODY_PREFIX_CHARS: usize = 200;

/// `text` made fit for a one-line message: secrets scrubbed, control
/// characters turned into spaces, cut at [`BODY_PREFIX_CHARS`] characters
/// (marked with `…`). Scrubbing comes first, so a cut never leaves half a
/// secret behind.
pub fn body_prefix(text: &str, secrets: &Secrets) -> String {
    let clean: String = secrets
        .scrub(text.trim())
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.is_empty() {
        return "(empty body)".to_owned();
    }
    match clean.char_indices().nth(BODY_PREFIX_CHARS) {
        Some((cut, _)) => format!("{}…", &clean[..cut]),
        None => clean,
    }
}

/// An answer the plugin cannot read (not JSON, or not the vendor's shape).
///
/// HTTP 5xx and 429 are transient by definition: retry, honouring
/// `Retry-After`. Anything else is a permanent failure whose message quotes
/// the status and the start of the body. The code is `http_<status>`.
pub fn unexpected(response: &HttpResponse, now_ms: i64, secrets: &Secrets) -> Outcome {
    unexpected_after(response, retry_after_ms(response, now_ms), secrets)
}

/// [`unexpected`] with the wait hint already read, for vendors whose hint is
/// in their own header.
pub fn unexpected_after(
    response: &HttpResponse,
    after_ms: Option<u64>,
    secrets: &Secrets,
) -> Outcome {
    let status = response.status;
    let code = format!("http_{status}");
    let prefix = body_prefix(&response.body, secrets);
    if status >= 500 || status == 429 {
        Outcome::Retry {
            after_ms,
            code,
            message: format!("HTTP {status}: {prefix}"),
        }
    } else {
        Outcome::Failed {
            code,
            message: format!("unexpected answer: HTTP {status}: {prefix}"),
            permanent: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::Header;

    fn response(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![Header::new("Retry-After", "4")],
            body: body.to_owned(),
        }
    }

    #[test]
    fn server_errors_and_429_are_retried() {
        for status in [500, 502, 503, 599, 429] {
            let outcome = unexpected(
                &response(status, "<html>busy</html>"),
                0,
                &Secrets::default(),
            );
            assert_eq!(
                outcome,
                Outcome::Retry {
                    after_ms: Some(4_000),
                    code: format!("http_{status}"),
                    message: format!("HTTP {status}: <html>busy</html>"),
                }
            );
        }
    }

    #[test]
    fn other_statuses_fail_permanently_quoting_the_body() {
        for status in [200, 204, 301, 400, 404, 418] {
            let outcome = unexpected(&response(status, "not json"), 0, &Secrets::default());
            assert_eq!(
                outcome,
                Outcome::Failed {
                    code: format!("http_{status}"),
                    message: format!("unexpected answer: HTTP {status}: not json"),
                    permanent: true,
                }
            );
        }
    }

    #[test]
    fn prefix_is_short_single_line_and_scrubbed() {
        let secrets = Secrets::default().with("hunter2".into());
        let long = format!("line1\nhunter2 {}", "é".repeat(500));
        let prefix = body_prefix(&long, &secrets);
        assert!(prefix.starts_with("line1 [redacted] éé"), "{prefix}");
        assert!(prefix.ends_with('…'));
        assert_eq!(prefix.chars().count(), BODY_PREFIX_CHARS + 1);
        assert_eq!(body_prefix("  ", &secrets), "(empty body)");
    }
}
