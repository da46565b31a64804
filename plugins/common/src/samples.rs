//! Awkward vendor answers that every plugin must classify without panicking
//! and without echoing a credential. Plugins run them in their tests; the
//! daemon's conformance command has its own, smaller set.

use plugin_api::{Header, HttpResponse, Outcome};

/// Odd statuses, headers and bodies, combined.
pub fn odd_responses() -> Vec<HttpResponse> {
    let bodies = [
        String::new(),
        "null".to_owned(),
        "[]".to_owned(),
        "\"text\"".to_owned(),
        "{}".to_owned(),
        r#"{"code":"x","errcode":[],"error":null,"msg":7}"#.to_owned(),
        r#"{"code":1e400,"errcode":-9223372036854775809,"error":{"code":{}}}"#.to_owned(),
        r#"{"code":99991400,"msg":null,"error":{"log_id":5}}"#.to_owned(),
        r#"{"errcode":"0","access_token":7,"expires_in":-1}"#.to_owned(),
        r#"{"error":{"code":"21003","message":null}}"#.to_owned(),
        r#"{"msg_id":null}"#.to_owned(),
        "[".repeat(100_000),
        "\u{0}\u{7f}\u{feff}é\u{10ffff}".repeat(1_000),
        "x".repeat(512 * 1024),
    ];
    let header_sets = [
        vec![],
        vec![
            Header::new("Retry-After", "99999999999999999999999"),
            Header::new("x-ogw-ratelimit-reset", "-5"),
            Header::new("X-Rate-Limit-Reset", "NaN"),
        ],
        vec![
            Header::new("Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT"),
            Header::new("X-Tt-Logid", "\u{0}"),
        ],
    ];
    let mut responses = Vec::new();
    for status in [
        0,
        100,
        200,
        204,
        302,
        400,
        401,
        404,
        429,
        500,
        503,
        999,
        u16::MAX,
    ] {
        for (i, body) in bodies.iter().enumerate() {
            responses.push(HttpResponse {
                status,
                headers: header_sets[i % header_sets.len()].clone(),
                body: body.clone(),
            });
        }
    }
    responses
}

/// What any classification must satisfy, whatever the vendor (the same rules
/// as the daemon's conformance command): a 5xx or 429 is never a success, a
/// 429 is always a retry, and a 5xx is never a permanent failure.
pub fn sane(status: u16, outcome: &Outcome) -> Result<(), String> {
    let success = matches!(outcome, Outcome::Done | Outcome::AlreadyDone);
    let transient = status >= 500 || status == 429;
    if transient && success {
        return Err(format!("HTTP {status} classified as {outcome:?}"));
    }
    if status == 429 && !matches!(outcome, Outcome::Retry { .. }) {
        return Err(format!("HTTP 429 classified as {outcome:?}"));
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
        return Err(format!("HTTP {status} classified as a permanent failure"));
    }
    Ok(())
}
