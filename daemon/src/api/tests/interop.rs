//! Interop with the official Standard Webhooks Python library, through
//! `daemon/tests/interop/sign.py`. Skipped (with a note on stderr) when
//! `python3 -c "import standardwebhooks"` fails; CI installs it with
//! `pip install standardwebhooks`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use http::{HeaderMap, HeaderValue};

use super::*;
use crate::auth::verify_standard;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/sign.py")
}

fn python_has_standardwebhooks() -> bool {
    let available = Command::new("python3")
        .args(["-c", "import standardwebhooks"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        eprintln!(
            "SKIPPED: python3 with the `standardwebhooks` package is not available (pip install standardwebhooks)"
        );
    }
    available
}

/// Runs sign.py with `args`, `body` on stdin: (exit success, stdout or, on failure, stderr).
fn run_script(args: &[&str], body: &[u8]) -> (bool, String) {
    let mut child = Command::new("python3")
        .arg(script())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(body)
        .expect("body written");
    let output = child.wait_with_output().expect("sign.py finishes");
    let text = if output.status.success() {
        &output.stdout
    } else {
        &output.stderr
    };
    (
        output.status.success(),
        String::from_utf8_lossy(text).trim().to_owned(),
    )
}

const BODIES: [&str; 3] = [
    r#"{"test": 2432232314}"#,
    r#"{"select":{"tags":["incident-42"]},"reason":"ünïcødé ✓"}"#,
    "",
];

#[test]
fn signatures_of_the_official_library_verify_here() {
    if !python_has_standardwebhooks() {
        return;
    }
    let ts = now_secs();
    for secret in [BOT, NARROW] {
        for body in BODIES {
            let (ok, signature) = run_script(
                &["sign", secret, "msg_interop", &ts.to_string()],
                body.as_bytes(),
            );
            assert!(ok, "sign.py failed: {signature}");
            let mut headers = HeaderMap::new();
            headers.insert(WEBHOOK_ID, HeaderValue::from_static("msg_interop"));
            headers.insert(
                WEBHOOK_TIMESTAMP,
                HeaderValue::from_str(&ts.to_string()).unwrap(),
            );
            headers.insert(
                WEBHOOK_SIGNATURE,
                HeaderValue::from_str(&signature).unwrap(),
            );
            let key = crate::auth::HmacKey::new(&decode_whsec(secret).unwrap());
            let verified = verify_standard(
                &headers,
                body.as_bytes(),
                &[key],
                ts,
                Duration::from_secs(300),
            );
            assert!(verified.is_ok(), "{secret} {body:?}: {verified:?}");
        }
    }
}

#[test]
fn our_signatures_verify_with_the_official_library() {
    if !python_has_standardwebhooks() {
        return;
    }
    let ts = now_secs();
    for body in BODIES {
        let signature = sign_standard(&decode_whsec(BOT).unwrap(), "msg_ours", ts, body.as_bytes());
        let (ok, why) = run_script(
            &["verify", BOT, "msg_ours", &ts.to_string(), &signature],
            body.as_bytes(),
        );
        assert!(
            ok,
            "the official library rejected our signature of {body:?}: {why}"
        );
        let (ok, _) = run_script(
            &["verify", NARROW, "msg_ours", &ts.to_string(), &signature],
            body.as_bytes(),
        );
        assert!(!ok, "a wrong secret must be rejected there too");
    }
}

#[tokio::test]
async fn a_request_signed_by_the_official_library_is_served() {
    if !python_has_standardwebhooks() {
        return;
    }
    let h = harness();
    let body = br#"{"messages": [{"account": "ding", "remote_id": "py-1", "tags": ["interop"]}]}"#;
    let ts = now_secs();
    let (ok, signature) = run_script(&["sign", BOT, "msg_python", &ts.to_string()], body);
    assert!(ok, "sign.py failed: {signature}");
    let request = warp::test::request()
        .method("POST")
        .path("/v1/messages")
        .body(body)
        .header(WEBHOOK_ID, "msg_python")
        .header(WEBHOOK_TIMESTAMP, ts.to_string())
        .header(WEBHOOK_SIGNATURE, signature);
    let (status, answer) = send(&h, request).await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, json!({"inserted": 1, "existing": 0}))
    );
}
