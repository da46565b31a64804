//! The `recalld` binary as an operator meets it: signals sent by systemd,
//! and the exit codes and side effects of the offline commands.

use std::time::Duration;

use recalld_tests::api::http;
use recalld_tests::config::{config_yaml, file_store};
use recalld_tests::daemon::serve;
use reqwest::StatusCode;

/// `systemctl reload` sends SIGHUP (`examples/recalld.service`); a daemon
/// without rule files must log it and keep serving, not die of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_without_rule_files_keeps_the_daemon_serving() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("recalld.yaml");
    // No accounts and no rules: `accounts:` is left empty, which YAML reads as null.
    let text = config_yaml(&file_store(dir.path()), &[]).replace("accounts:\n", "accounts: {}\n");
    std::fs::write(&config, text).unwrap();
    let (mut daemon, api) = serve(&config, "info").await;
    let status = std::process::Command::new("kill")
        .args(["-HUP", &daemon.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
    daemon
        .stderr_line(
            "that SIGHUP has nothing to reload",
            Duration::from_secs(10),
            |line| {
                line.contains("SIGHUP: no rule files configured")
                    .then_some(())
            },
        )
        .await;
    assert!(daemon.is_running(), "SIGHUP ended the daemon");
    let health = http()
        .get(format!("{}/healthz", api.base))
        .send()
        .await
        .expect("GET /healthz");
    assert_eq!(health.status(), StatusCode::OK);
}
