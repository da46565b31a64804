//! The `recalld` binary as an operator meets it: signals sent by systemd,
//! and the exit codes and side effects of the offline commands.

use std::time::Duration;

use recalld_tests::api::http;
use recalld_tests::config::{config_yaml, file_store};
use recalld_tests::daemon::serve;
use recalld_tests::process::{Process, recalld, run};
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

/// Two clients whose secrets come from the environment and turn out to be
/// one key (written with and without base64 padding): a signature would not
/// say which client sent it, so `serve` refuses the config before binding
/// (exit 64), naming both clients where the second one's secret is written,
/// and never showing the secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_two_clients_whose_env_secrets_are_the_same_key() {
    const SHARED: &str = "whsec_c2hhcmVkLWtleS1mcm9tLWVudg==";
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("recalld.yaml");
    std::fs::write(
        &config,
        "listen: 127.0.0.1:0\nstore: \"sqlite::memory:\"\naccounts: {}\nclients:\n  oncall-bot:\n    secrets: [\"${env:RECALLD_E2E_BOT_SECRET}\"]\n    scopes: {actions: [recall]}\n  reader:\n    secrets: [\"${env:RECALLD_E2E_READER_SECRET}\"]\n    scopes: {actions: [read]}\n",
    )
    .unwrap();
    let mut command = recalld(&["serve", "--config", &config.to_string_lossy()]);
    command
        .env("RECALLD_E2E_BOT_SECRET", SHARED)
        .env("RECALLD_E2E_READER_SECRET", SHARED.trim_end_matches('='));
    // A daemon that accepted the config would serve until killed (on drop).
    let mut daemon = Process::spawn("recalld serve", command);
    let status = daemon.exit(Duration::from_secs(30)).await;
    let stderr = daemon.stderr();
    assert_eq!(status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains(
            "recalld.yaml:9:15: client reader: secrets[0] is the same key as client oncall-bot's secrets[0] (line 6)"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("c2hhcmVk"), "{stderr}");
}

/// Runs `recalld rules test --config CONFIG FLAG INPUT EXTRA...`.
fn rules_test(
    config: &str,
    flag: &str,
    input: &std::path::Path,
    extra: &[&str],
) -> (i32, String, String) {
    let input = input.to_str().expect("a UTF-8 path");
    let mut args = vec!["rules", "test", "--config", config, flag, input];
    args.extend_from_slice(extra);
    run(&args)
}

const RULES: &str = r#"rules:
  - name: incident-cleanup
    on: {event: incident.closed}
    select: {tags: ["incident-{{ event.id }}"]}
    do: recall
    limit: 5
  - name: per-account-cleanup
    on: {event: account.closed}
    select: {tags: [incident], accounts: ["{{ event.account }}"]}
    do: recall
  - name: otp-expiry
    on: {sent: {tags: [otp]}, after: 1d}
    do: recall
"#;

/// A folder with `recalld.yaml` (no accounts, a SQLite ledger path, the
/// rules above) and `rules/main.yaml`; the config's path.
fn offline_config(dir: &std::path::Path) -> String {
    std::fs::create_dir(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/main.yaml"), RULES).unwrap();
    let config = dir.join("recalld.yaml");
    std::fs::write(
        &config,
        "listen: 127.0.0.1:0\nstore: sqlite://recalld.db\naccounts: {}\nrules: {files: [\"rules/*.yaml\"]}\n",
    )
    .unwrap();
    config.to_string_lossy().into_owned()
}

/// A ledger as an older recalld left it: WAL, an index the current schema
/// drops (`tasks_due`), and `n` messages tagged `incident-42`.
fn old_ledger(path: &std::path::Path, n: usize) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE messages (id INTEGER PRIMARY KEY, account TEXT NOT NULL, remote_id TEXT NOT NULL,
             sent_at INTEGER NOT NULL, tags TEXT NOT NULL, meta TEXT NOT NULL,
             state TEXT NOT NULL DEFAULT 'sent', tracked_at INTEGER NOT NULL, UNIQUE (account, remote_id));
         CREATE TABLE message_tags (tag TEXT NOT NULL, message_id INTEGER NOT NULL, PRIMARY KEY (tag, message_id)) WITHOUT ROWID;
         CREATE TABLE tasks (id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL, message_id INTEGER NOT NULL,
             account TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
             next_at INTEGER NOT NULL, last_error TEXT, updated_at INTEGER NOT NULL);
         CREATE INDEX tasks_due ON tasks (account, state, next_at);",
    )
    .unwrap();
    for i in 0..n {
        conn.execute(
            "INSERT INTO messages (account, remote_id, sent_at, tags, meta, tracked_at) VALUES ('el', ?1, 0, '[\"incident-42\"]', '{}', 0)",
            [format!("m{i}")],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO message_tags (tag, message_id) VALUES ('incident-42', last_insert_rowid())",
            [],
        )
        .unwrap();
    }
}

fn has_index(path: &std::path::Path, name: &str) -> bool {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
        == 1
}

/// `rules test` counts in the production ledger without writing to it:
/// no schema migration (the old index is still there), same bytes.
#[test]
fn rules_test_leaves_the_ledger_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let config = offline_config(dir.path());
    let ledger = dir.path().join("recalld.db");
    old_ledger(&ledger, 2);
    let before = std::fs::read(&ledger).unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        r#"{"name": "incident.closed", "payload": {"id": 42}}"#,
    )
    .unwrap();
    let (code, stdout, stderr) = rules_test(&config, "--event", &event, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("matches 2 message(s) in the ledger"),
        "{stdout}{stderr}"
    );
    assert!(
        has_index(&ledger, "tasks_due"),
        "rules test migrated the ledger"
    );
    assert!(
        std::fs::read(&ledger).unwrap() == before,
        "rules test wrote to the ledger"
    );
}

/// The firings the daemon would refuse are reported refused, and a test in
/// which every listening rule is refused exits 1.
#[test]
fn rules_test_reports_firings_the_daemon_would_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let config = offline_config(dir.path());
    old_ledger(&dir.path().join("recalld.db"), 6);
    let event = dir.path().join("event.json");
    std::fs::write(&event, r#"{"account": "nope"}"#).unwrap();
    let (code, stdout, stderr) =
        rules_test(&config, "--event", &event, &["--name", "account.closed"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("refused per-account-cleanup")
            && stdout.contains("unknown account \"nope\""),
        "{stdout}"
    );
    // Six messages match, the rule's limit is 5.
    std::fs::write(
        &event,
        r#"{"name": "incident.closed", "payload": {"id": 42}}"#,
    )
    .unwrap();
    let (code, stdout, stderr) = rules_test(&config, "--event", &event, &["--json"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let verdicts: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(verdicts[0]["fires"], false, "{verdicts}");
    assert_eq!(verdicts[0]["refused"], true, "{verdicts}");
    assert!(
        verdicts[0]["note"]
            .as_str()
            .unwrap()
            .contains("matches 6 messages"),
        "{verdicts}"
    );
}

/// Exit codes tell a missing input (66) from a broken one (65), from
/// invalid rules (64) and from "no rule fires" (1).
#[test]
fn rules_test_exit_codes_tell_input_problems_apart() {
    let dir = tempfile::tempdir().unwrap();
    let config = offline_config(dir.path());
    let missing = dir.path().join("missing.json");
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{not json").unwrap();
    let nobody = dir.path().join("nobody.json");
    std::fs::write(&nobody, r#"{"name": "nobody.listens", "payload": {}}"#).unwrap();
    for (input, flag, expected) in [
        (&missing, "--event", 66),
        (&missing, "--message", 66),
        (&broken, "--event", 65),
        (&broken, "--message", 65),
        (&nobody, "--event", 1),
    ] {
        let (code, stdout, stderr) = rules_test(&config, flag, input, &[]);
        assert_eq!(
            code,
            expected,
            "{flag} {}: {stdout}{stderr}",
            input.display()
        );
    }
    std::fs::write(dir.path().join("rules/main.yaml"), "rules: [{name: x}]\n").unwrap();
    let (code, _, stderr) = rules_test(&config, "--event", &nobody, &[]);
    assert_eq!(code, 64, "{stderr}");
}

/// A message whose age recall falls due in the year 10000 or later is
/// printed, not a panic.
#[test]
fn rules_test_prints_due_times_past_the_year_9999() {
    let dir = tempfile::tempdir().unwrap();
    let config = offline_config(dir.path());
    let message = dir.path().join("message.json");
    // 9999-12-31T12:00:00Z; the rule waits a day.
    std::fs::write(
        &message,
        r#"{"account": "el", "remote_id": "m1", "tags": ["otp"], "sent_at": 253402257600000}"#,
    )
    .unwrap();
    let (code, stdout, stderr) = rules_test(&config, "--message", &message, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("253402344000000 ms after the Unix epoch"),
        "{stdout}"
    );
}
