//! The rules' reload path against a real `recalld serve` and the vendor
//! sandbox (issue 7): an edit goes live, a broken edit is refused while the
//! old rules keep working, and pending age recalls survive `kill -9`.

use std::path::Path;
use std::time::Duration;

use recalld_tests::api::{Api, count, http, now_ms};
use recalld_tests::config::{Account, config_yaml, file_store};
use recalld_tests::daemon::serve;
use recalld_tests::process::run;
use recalld_tests::vendors::SandboxProcess;
use recalld_tests::wait;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const CLEANUP: &str = r#"rules:
  - name: incident-cleanup
    on: {event: incident.closed}
    select: {tags: ["incident-{{ event.id }}"]}
    do: recall
"#;

const ROLLBACK: &str = r#"  - name: rollback-cleanup
    on: {event: deploy.rolled_back}
    select: {tags: ["incident-{{ event.incident }}"]}
    do: recall
"#;

/// A temporary folder holding `rules/main.yaml` with `text`.
struct Folder {
    dir: tempfile::TempDir,
    rules_dir: std::path::PathBuf,
    rules: std::path::PathBuf,
}

fn folder_with_rules(text: &str) -> Folder {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rules_dir = dir.path().join("rules");
    std::fs::create_dir(&rules_dir).expect("creating the rules folder");
    let rules = rules_dir.join("main.yaml");
    std::fs::write(&rules, text).expect("writing the rules");
    Folder {
        dir,
        rules_dir,
        rules,
    }
}

/// Writes `text` the way editors and config managers do: a new file renamed
/// over the old one.
fn swap_in(file: &Path, text: &str) {
    let next = file.with_extension("yaml.tmp");
    std::fs::write(&next, text).expect("writing the new rules");
    std::fs::rename(&next, file).expect("renaming the new rules into place");
}

/// The config: one EngageLab account on the sandbox, rules from `rules_dir`,
/// looked at every 100 ms (the least the config allows).
fn write_config(dir: &Path, rules_dir: &Path, vendor: &str) -> std::path::PathBuf {
    write_config_polling(dir, rules_dir, vendor, "100ms")
}

fn write_config_polling(
    dir: &Path,
    rules_dir: &Path,
    vendor: &str,
    interval: &str,
) -> std::path::PathBuf {
    let account = Account::sandbox("el", "engagelab", vendor);
    let mut text = config_yaml(&file_store(dir), &[account]);
    text.push_str(&format!(
        "rules: {{files: [\"{}/*.yaml\"], watch_interval: {interval}}}\n",
        rules_dir.display()
    ));
    let config = dir.join("recalld.yaml");
    std::fs::write(&config, text).expect("writing the config");
    config
}

async fn readyz(api: &Api) -> Value {
    let response = http()
        .get(format!("{}/readyz", api.base))
        .send()
        .await
        .expect("GET /readyz");
    response.json().await.expect("JSON from /readyz")
}

/// Sends the event and waits for its one job; the job's progress.
async fn fire(api: &Api, event: &str, payload: Value) -> Value {
    let answer = api
        .expect(
            StatusCode::ACCEPTED,
            Method::POST,
            &format!("/v1/events/{event}"),
            Some(&payload),
        )
        .await;
    let job = answer["jobs"][0]["job_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no job in {answer}"));
    api.job_done(job, Duration::from_secs(30)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_goes_live_and_a_broken_edit_leaves_the_old_rules_in_force() {
    let vendors = SandboxProcess::start(&[]).await;
    let ids = vendors.seed("engagelab", 3, 0).await;
    let Folder {
        dir,
        rules_dir,
        rules,
    } = folder_with_rules(CLEANUP);
    let config = write_config(dir.path(), &rules_dir, &vendors.addr.to_string());
    let (daemon, api) = serve(&config, "info").await;
    let messages: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| json!({"account": "el", "remote_id": id, "tags": [format!("incident-{}", i + 1)]}))
        .collect();
    api.track(&messages).await;

    // The rule in force at start.
    let progress = fire(&api, "incident.closed", json!({"id": 1})).await;
    assert_eq!(count(&progress, "recalled"), 1, "{progress}");

    // An edit (a file swapped in) adds a rule; it is live without a restart.
    swap_in(&rules, &format!("{CLEANUP}{ROLLBACK}"));
    wait::until("the edit to be live", Duration::from_secs(10), || async {
        let ready = readyz(&api).await;
        (ready["rules"]["generation"] == 1 && ready["rules"]["loaded"] == 2)
            .then_some(())
            .ok_or(ready.to_string())
    })
    .await;
    let progress = fire(&api, "deploy.rolled_back", json!({"incident": 2})).await;
    assert_eq!(count(&progress, "recalled"), 1, "{progress}");

    // A broken edit is refused, shown in /readyz and metrics, and logged.
    swap_in(
        &rules,
        &format!("{CLEANUP}{ROLLBACK}").replace("do: recall\n", "do: recal\n"),
    );
    let refused = wait::until(
        "the broken edit to be refused",
        Duration::from_secs(10),
        || async {
            let ready = readyz(&api).await;
            (ready["rules"]["valid"] == false)
                .then(|| ready.clone())
                .ok_or(ready.to_string())
        },
    )
    .await;
    let errors = refused["rules"]["errors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(errors.len(), 2, "{refused}");
    assert!(
        errors[0].as_str().unwrap().contains("main.yaml:5:")
            && errors[0].as_str().unwrap().contains("recal"),
        "{refused}"
    );
    let metrics = http()
        .get(format!("{}/metrics", api.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("recalld_rules_valid 0"), "{metrics}");
    assert!(
        metrics.contains(r#"recalld_rule_reloads_total{result="error"} 1"#),
        "{metrics}"
    );
    assert!(
        daemon.stderr().contains("rule change refused"),
        "{}",
        daemon.stderr()
    );

    // The previous rules still run.
    let progress = fire(&api, "incident.closed", json!({"id": 3})).await;
    assert_eq!(count(&progress, "recalled"), 1, "{progress}");
    let stats = vendors.stats().await;
    assert_eq!(count(&stats["engagelab"], "recalled"), 3, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_age_recalls_fire_after_a_kill_and_restart() {
    let vendors = SandboxProcess::start(&[]).await;
    let ids = vendors.seed("engagelab", 2, 0).await;
    let Folder { dir, rules_dir, .. } = folder_with_rules(
        "rules:\n  - name: otp-expiry\n    on: {sent: {tags: [otp]}, after: 3s}\n    do: recall\n",
    );
    let config = write_config(dir.path(), &rules_dir, &vendors.addr.to_string());
    let (mut first, api) = serve(&config, "info").await;
    let sent_at = now_ms();
    api.track(&[
        json!({"account": "el", "remote_id": ids[0], "tags": ["otp"], "sent_at": sent_at}),
        json!({"account": "el", "remote_id": ids[1], "tags": ["news"], "sent_at": sent_at}),
    ])
    .await;
    first.kill();
    let stats = vendors.stats().await;
    assert_eq!(
        count(&stats["engagelab"], "recalled"),
        0,
        "recalled before due: {stats}"
    );

    let (_second, api) = serve(&config, "info").await;
    let stats = wait::until(
        "the OTP to be recalled",
        Duration::from_secs(20),
        || async {
            let stats = vendors.stats().await;
            (count(&stats["engagelab"], "recalled") == 1)
                .then(|| stats.clone())
                .ok_or(stats.to_string())
        },
    )
    .await;
    assert!(now_ms() >= sent_at + 3_000, "recalled before its time");
    let otp = api.ledger("otp").await;
    let news = api.ledger("news").await;
    wait::until(
        "the ledger to say recalled",
        Duration::from_secs(10),
        || async {
            let otp = api.ledger("otp").await;
            (otp[0]["state"] == "recalled")
                .then_some(())
                .ok_or(otp[0].to_string())
        },
    )
    .await;
    assert_eq!(news[0]["state"], "sent", "{news:?}");
    assert_eq!(otp.len(), 1);
    assert_eq!(
        count(&stats["engagelab"], "duplicate_recalls"),
        0,
        "{stats}"
    );
}

#[test]
fn check_and_rules_test_from_the_command_line() {
    let Folder {
        dir,
        rules_dir,
        rules,
    } = folder_with_rules(&format!(
        "{CLEANUP}  - name: otp-expiry\n    on: {{sent: {{tags: [otp]}}, after: 25h}}\n    do: recall\n"
    ));
    let config = write_config(dir.path(), &rules_dir, "127.0.0.1:9");
    let config = config.to_str().unwrap();

    // Valid, with a warning: 25 h is past EngageLab's 1-day window.
    let (code, stdout, stderr) = run(&["check", "--config", config]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("warning") && stderr.contains("recorded as expired"),
        "{stderr}"
    );

    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        r#"{"name": "incident.closed", "payload": {"id": 42}}"#,
    )
    .unwrap();
    let (code, stdout, _) = run(&[
        "rules",
        "test",
        "--config",
        config,
        "--event",
        event.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("incident-cleanup") && stdout.contains(r#"{"tags":["incident-42"]}"#),
        "{stdout}"
    );
    let (code, stdout, _) = run(&[
        "rules",
        "test",
        "--config",
        config,
        "--event",
        event.to_str().unwrap(),
        "--name",
        "deploy",
    ]);
    assert_eq!(code, 1, "no rule listens to deploy: {stdout}");

    let message = dir.path().join("message.json");
    std::fs::write(
        &message,
        r#"{"account": "el", "remote_id": "m1", "tags": ["otp"], "sent_at": 0}"#,
    )
    .unwrap();
    let (code, stdout, _) = run(&[
        "rules",
        "test",
        "--config",
        config,
        "--message",
        message.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{stdout}");
    let verdicts: Value = serde_json::from_str(&stdout).expect("JSON verdicts");
    assert_eq!(verdicts[0]["rule"], "otp-expiry");
    assert_eq!(verdicts[0]["due_at_ms"], 25 * 3_600_000);
    assert!(
        verdicts[0]["note"]
            .as_str()
            .unwrap()
            .contains("recorded as expired"),
        "{verdicts}"
    );

    // Broken rules: every error located, exit 64, for both commands.
    let broken = format!(
        "{}  - name: otp-expiry\n    on: {{sent: {{tags: [otp]}}, after: soon}}\n    do: recall\n",
        CLEANUP.replace("select:", "selct:")
    );
    std::fs::write(&rules, broken).unwrap();
    let (code, _, stderr) = run(&["check", "--config", config]);
    assert_eq!(code, 64, "{stderr}");
    assert!(
        stderr.contains("main.yaml:4:5:") && stderr.contains("selct"),
        "{stderr}"
    );
    assert!(
        stderr.contains("main.yaml:7:38:") && stderr.contains("not a duration"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&[
        "rules",
        "test",
        "--config",
        config,
        "--event",
        event.to_str().unwrap(),
    ]);
    assert_eq!(code, 64, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_at_once() {
    let Folder {
        dir,
        rules_dir,
        rules,
    } = folder_with_rules(CLEANUP);
    // The files are looked at once an hour: only the signal can reload them.
    let config = write_config_polling(dir.path(), &rules_dir, "127.0.0.1:9", "1h");
    let (daemon, api) = serve(&config, "info").await;
    std::fs::write(&rules, format!("{CLEANUP}{ROLLBACK}")).unwrap();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &daemon.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
    wait::until(
        "SIGHUP to reload the rules",
        Duration::from_secs(10),
        || async {
            let ready = readyz(&api).await;
            (ready["rules"]["loaded"] == 2 && ready["rules"]["generation"] == 1)
                .then_some(())
                .ok_or(ready.to_string())
        },
    )
    .await;
    let answer = api
        .expect(
            StatusCode::ACCEPTED,
            Method::POST,
            "/v1/events/deploy.rolled_back",
            Some(&json!({"incident": 9})),
        )
        .await;
    // The new rule listens now (no message matches: its job is empty and done).
    assert_eq!(answer["jobs"][0]["rule"], "rollback-cleanup", "{answer}");
}
