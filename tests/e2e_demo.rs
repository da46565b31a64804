//! `recalld demo --json`, the real binary with the four first-party plugins
//! (issue 8): the summary it prints must add up, and agree with the sandbox.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use recalld_tests::config::plugin_library;
use recalld_tests::process::{Process, recalld};
use recalld_tests::profile_dir;
use serde_json::Value;

const PLUGINS: [&str; 4] = ["feishu-helpdesk", "dingtalk", "engagelab", "jpush"];

/// Runs the demo to its end; its exit status, stdout and stderr.
async fn run_demo(log: Option<&str>) -> (std::process::ExitStatus, String, String) {
    for plugin in PLUGINS {
        plugin_library(plugin);
    }
    let plugins = profile_dir();
    let mut args = vec![
        "demo",
        "--json",
        "--plugins",
        plugins.to_str().expect("a UTF-8 path"),
    ];
    if log.is_some() {
        args.splice(0..0, ["--log-format", "json"]);
    }
    let mut command = recalld(&args);
    if let Some(level) = log {
        command.env("RUST_LOG", level);
    }
    let mut demo = Process::spawn("recalld demo", command);
    let status = demo.exit(Duration::from_secs(120)).await;
    (status, demo.stdout(), demo.stderr())
}

fn count(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no count {key:?} in {v}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_recalls_everything_and_its_summary_adds_up() {
    let (status, stdout, stderr) = run_demo(None).await;
    assert!(
        status.success(),
        "demo exited with {status}; stderr:\n{stderr}\nstdout:\n{stdout}"
    );
    let summary: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"));

    assert_eq!(summary["ok"], true, "{summary:#}");
    assert_eq!(summary["state"], "done", "{summary:#}");
    let total = count(&summary, "total");
    assert_eq!(total, count(&summary, "matched"), "{summary:#}");
    let parts = ["recalled", "already_recalled", "expired", "failed"].map(|k| count(&summary, k));
    assert_eq!(
        parts.iter().sum::<u64>(),
        total,
        "recalled + already + expired + failed == total: {summary:#}"
    );
    assert_eq!(count(&summary, "pending"), 0, "{summary:#}");
    assert_eq!(count(&summary, "failed"), 0, "{summary:#}");

    // One DingTalk message was sent 25 h ago, past its 24 h window.
    assert_eq!(count(&summary, "expired"), 1, "{summary:#}");
    let accounts = summary["accounts"]
        .as_object()
        .unwrap_or_else(|| panic!("no accounts in {summary:#}"));
    assert_eq!(accounts.len(), 4, "{summary:#}");
    assert_eq!(
        count(&accounts["dingtalk-main"], "expired"),
        1,
        "{summary:#}"
    );
    // Three EngageLab pushes were withdrawn by hand before the recall.
    assert_eq!(count(&summary, "already_recalled"), 3, "{summary:#}");
    assert_eq!(
        count(&accounts["engagelab-sgp"], "already_recalled"),
        3,
        "{summary:#}"
    );

    let mut sum_of_accounts = 0;
    for (name, account) in accounts {
        let parts =
            ["recalled", "already_recalled", "expired", "failed"].map(|k| count(account, k));
        assert_eq!(
            parts.iter().sum::<u64>(),
            count(account, "total"),
            "{name}: {account}"
        );
        sum_of_accounts += count(account, "total");
        // The vendor saw a repeat recall exactly where the daemon reports one.
        let sandbox = &account["sandbox"];
        assert_eq!(
            count(sandbox, "duplicate_recalls"),
            count(account, "already_recalled"),
            "{name}: {account}"
        );
        // Every message recalled, by the daemon or by hand before it, once.
        assert_eq!(
            count(sandbox, "recalled"),
            count(account, "recalled") + count(account, "already_recalled"),
            "{name}: {account}"
        );
    }
    assert_eq!(sum_of_accounts, total, "{summary:#}");
    assert_eq!(count(&summary, "duplicate_vendor_calls"), 3, "{summary:#}");
    // Step 6: the age rule recalled the OTP, not before it was due.
    let age = &summary["age_rule"];
    assert_eq!(age["rule"], "otp-expiry", "{age}");
    assert_eq!(age["state"], "recalled", "{age}");
    assert_eq!(age["vendor_recalled"], true, "{age}");
    assert!(count(age, "after_sending_ms") >= 2_000, "{age}");
}

/// Every secret the demo configures, as written and in the encodings a
/// vendor call carries (HTTP Basic, the helpdesk header, the whsec key).
fn demo_secrets() -> Vec<String> {
    let whsec = "whsec_ZGVtby1ib3Qtc2VjcmV0LW5vdC1mb3ItcHJvZHVjdGlvbg==";
    let key = B64
        .decode(whsec.trim_start_matches("whsec_"))
        .expect("base64");
    let mut secrets: Vec<String> = [
        whsec,
        &whsec["whsec_".len()..],
        "ding-secret",
        "el-secret",
        "jp-secret",
        "hd-token-sandbox",
        "u-sandbox",
    ]
    .map(str::to_owned)
    .to_vec();
    secrets.push(String::from_utf8(key).expect("a UTF-8 key"));
    for pair in [
        "el-sandbox:el-secret",
        "jp-sandbox:jp-secret",
        "hd-sandbox:hd-token-sandbox",
    ] {
        secrets.push(B64.encode(pair));
    }
    secrets
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_logs_no_secret_even_at_debug_level() {
    let (status, stdout, stderr) = run_demo(Some("debug")).await;
    assert!(
        status.success(),
        "demo exited with {status}; stderr:\n{stderr}\nstdout:\n{stdout}"
    );
    assert!(
        stderr.lines().count() > 10,
        "expected debug logs on stderr, got:\n{stderr}"
    );
    for line in stderr.lines() {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "not a JSON log line: {line}"
        );
    }
    for secret in demo_secrets() {
        let leaks: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains(&secret))
            .take(3)
            .collect();
        assert!(
            leaks.is_empty(),
            "secret {secret:?} is in the logs:\n{}",
            leaks.join("\n")
        );
        assert!(
            !stdout.contains(&secret),
            "secret {secret:?} is in the summary"
        );
    }
}

/// `--plugins target/debug`, as typed in the workspace: the demo checks the
/// files relative to its working directory, so it must load them from there
/// too (not from its temporary config directory).
#[tokio::test(flavor = "multi_thread")]
async fn the_demo_takes_a_plugins_dir_relative_to_its_working_directory() {
    for plugin in PLUGINS {
        plugin_library(plugin);
    }
    // Run from the build directory's parent, naming the profile directory
    // relatively (`debug`), wherever CARGO_TARGET_DIR puts it.
    let profile = profile_dir();
    let root = profile
        .parent()
        .expect("target/<profile> has a parent")
        .to_owned();
    let relative = std::path::PathBuf::from(profile.file_name().expect("a profile directory name"));
    let mut command = recalld(&[
        "demo",
        "--json",
        "--plugins",
        relative.to_str().expect("a UTF-8 path"),
    ]);
    command.current_dir(&root);
    let mut demo = Process::spawn("recalld demo", command);
    let status = demo.exit(Duration::from_secs(120)).await;
    assert!(
        status.success(),
        "demo --plugins {} exited with {status}; stderr:\n{}",
        relative.display(),
        demo.stderr()
    );
    let summary: Value = serde_json::from_str(&demo.stdout())
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", demo.stdout()));
    assert_eq!(summary["ok"], true, "{summary:#}");
}
