//! The key guarantee (issue 5): after `kill -9` in the middle of a job, a
//! restart with the same config resumes it; every message ends recalled, none
//! is recalled twice by the daemon's own doing beyond the calls that were in
//! flight at the kill, and those count as already recalled, not failed.
//! Both daemons log at debug level in JSON, and no secret may be in the logs
//! (issue 8).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use recalld_tests::api::{BOT_SECRET, count, now_ms};
use recalld_tests::config::{Account, config_yaml, file_store};
use recalld_tests::daemon::serve;
use recalld_tests::vendors::SandboxProcess;
use recalld_tests::wait;
use serde_json::{Value, json};

/// Messages recalled by the job.
const N: u64 = 2_000;
/// Vendor calls the account makes at once: the most that can be in flight when the daemon dies.
const CONCURRENCY: u64 = 8;
const TAG: &str = "crash-resume";
/// A master secret recognisable in any log.
const MASTER_SECRET: &str = "el-master-3f9d2c71b8e4";

/// The configured secrets and the forms they travel in.
fn secrets() -> Vec<String> {
    let key = B64.decode(&BOT_SECRET["whsec_".len()..]).expect("base64");
    vec![
        BOT_SECRET.to_owned(),
        BOT_SECRET["whsec_".len()..].to_owned(),
        String::from_utf8(key).expect("a UTF-8 key"),
        MASTER_SECRET.to_owned(),
        B64.encode(format!("el-sandbox:{MASTER_SECRET}")),
    ]
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in secrets() {
        let leaks: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(&secret))
            .take(3)
            .collect();
        assert!(
            leaks.is_empty(),
            "secret {secret:?} is in {what}:\n{}",
            leaks.join("\n")
        );
    }
}

fn done(progress: &Value) -> u64 {
    count(progress, "recalled") + count(progress, "already_recalled")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_killed_mid_way_resumes_and_recalls_each_message_once() {
    // The vendor, slow enough (20 ms a call) that the job takes seconds.
    let vendors = SandboxProcess::start(&["--latency-ms", "20"]).await;
    vendors
        .configure(json!({"engagelab": {"master_secret": MASTER_SECRET}}))
        .await;
    let ids = vendors.seed("engagelab", N as usize, 0).await;

    let dir = tempfile::tempdir().expect("a temporary directory");
    let account = Account::sandbox("el", "engagelab", &vendors.addr.to_string())
        .credentials(&format!(
            "{{app_key: el-sandbox, master_secret: {MASTER_SECRET}}}"
        ))
        .with(&format!(
            "concurrency: {CONCURRENCY}, rate_limit: {{requests: 200, per: 1s}}"
        ));
    let config = dir.path().join("recalld.yaml");
    std::fs::write(&config, config_yaml(&file_store(dir.path()), &[account]))
        .expect("writing the config");

    let (mut first, api) = serve(&config, "debug").await;
    let sent_at = now_ms();
    let messages: Vec<Value> = ids
        .iter()
        .map(|id| json!({"account": "el", "remote_id": id, "tags": [TAG], "sent_at": sent_at}))
        .collect();
    api.track(&messages).await;
    let request =
        json!({"select": {"tags": [TAG]}, "action": "recall", "reason": "e2e: crash resume"});
    let (job_id, matched) = api.recall(request).await;
    assert_eq!(matched, N);

    // Some but not all done, and calls in flight (the vendor has seen more
    // calls than the daemon has recorded: the limiter lets calls through in
    // bursts, and a kill between two bursts would test nothing): then the
    // daemon dies without a word.
    let before = wait::until(
        "a fifth of the job done, with calls in flight",
        Duration::from_secs(60),
        || async {
            let progress = api.job(job_id).await;
            let calls = count(&vendors.stats().await["engagelab"]["requests"], "withdraw");
            if done(&progress) >= N / 5 && calls > done(&progress) {
                Ok(progress)
            } else {
                Err(format!("{calls} calls; {progress}"))
            }
        },
    )
    .await;
    first.kill();
    let at_kill = vendors.stats().await["engagelab"].clone();
    assert!(
        done(&before) < N && count(&at_kill, "recalled") < N,
        "the job ended before the kill: {before}; vendor: {at_kill}"
    );

    // Same config, same store: the job goes on.
    let (mut second, api) = serve(&config, "debug").await;
    let progress = api.job_done(job_id, Duration::from_secs(120)).await;
    let vendor = vendors.stats().await["engagelab"].clone();
    let context = format!(
        "job before the kill: {before}\njob: {progress}\nvendor at the kill: {at_kill}\nvendor: {vendor}"
    );

    assert_eq!(count(&progress, "total"), N, "{context}");
    assert_eq!(count(&progress, "failed"), 0, "{context}");
    assert_eq!(count(&progress, "expired"), 0, "{context}");
    assert_eq!(count(&progress, "pending"), 0, "{context}");
    assert_eq!(
        count(&vendor, "recalled"),
        N,
        "every message recalled at the vendor: {context}"
    );
    let duplicates = count(&vendor, "duplicate_recalls");
    assert!(
        duplicates <= CONCURRENCY,
        "{duplicates} repeat recalls, more than the {CONCURRENCY} calls that can be in flight: {context}"
    );
    assert_eq!(
        count(&progress, "already_recalled"),
        duplicates,
        "each repeat call is reported as already recalled: {context}"
    );
    assert_eq!(
        count(&progress, "recalled") + count(&progress, "already_recalled"),
        N,
        "{context}"
    );

    let ledger = api.ledger(TAG).await;
    assert_eq!(ledger.len() as u64, N);
    let not_recalled: Vec<&Value> = ledger
        .iter()
        .filter(|m| m["state"] != "recalled")
        .take(5)
        .collect();
    assert!(
        not_recalled.is_empty(),
        "ledger rows not recalled: {not_recalled:?}"
    );

    second.kill();
    assert_no_secret("the first daemon's log", &first.stderr());
    assert_no_secret("the second daemon's log", &second.stderr());
    assert_no_secret("the job's progress", &progress.to_string());
}
