//! A plugin that crashes the daemon on one message must not crash it at
//! every start forever: the task is failed once it was out at
//! `MAX_INTERRUPTED` stops, and the rest of its job is recalled. (The
//! daemon's `Restart=always` supervisor is played by this test.)

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use recalld::store::MAX_INTERRUPTED;
use recalld_tests::api::{BOT_SECRET, count, now_ms};
use recalld_tests::cdylib;
use recalld_tests::config::file_store;
use recalld_tests::daemon::serve;
use recalld_tests::process::{Process, recalld};
use serde_json::{Value, json};
use warp::Filter;

/// The message the fixture plugin aborts on, tracked last.
const POISON: &str = "abort";
const OTHERS: usize = 19;
const SIGABRT: i32 = 6;

/// A vendor on loopback that answers every `POST /recall/{id}` with 200 and
/// counts the calls per id.
async fn vendor() -> (String, Arc<Mutex<BTreeMap<String, u32>>>) {
    let calls = Arc::new(Mutex::new(BTreeMap::new()));
    let seen = Arc::clone(&calls);
    let route = warp::post()
        .and(warp::path!("recall" / String))
        .map(move |id: String| {
            *seen.lock().unwrap().entry(id).or_insert(0) += 1;
            "ok"
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (format!("http://{addr}"), calls)
}

fn config(dir: &Path, vendor: &str) -> std::path::PathBuf {
    let plugin = cdylib("fixture-plugin", "fixture_plugin");
    let text = format!(
        "listen: 127.0.0.1:0\nstore: \"{}\"\nplugins:\n  paths: [\"{}\"]\naccounts:\n  \
         fx: {{plugin: fixture, base_url: \"{vendor}\", credentials: {{key: k}}, concurrency: 4}}\n\
         clients:\n  e2e-bot:\n    secrets: [\"{BOT_SECRET}\"]\n    \
         scopes: {{actions: [recall, track, read], tags: [\"*\"], max_messages: 1000}}\n",
        file_store(dir),
        plugin.display()
    );
    let path = dir.join("recalld.yaml");
    std::fs::write(&path, text).expect("writing the config");
    path
}

/// Waits for a daemon to die of the plugin's abort.
async fn aborts(mut daemon: Process, start: u32) {
    let status = daemon.exit(Duration::from_secs(60)).await;
    assert_eq!(
        status.signal(),
        Some(SIGABRT),
        "start {start} should have died of the plugin's abort: {status}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_that_crashes_the_daemon_fails_after_three_stops_and_the_rest_is_recalled() {
    let (base_url, calls) = vendor().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = config(dir.path(), &base_url);

    let (first, api) = serve(&config, "info").await;
    let sent_at = now_ms();
    let mut messages: Vec<Value> = (0..OTHERS)
        .map(|i| json!({"account": "fx", "remote_id": format!("m-{i}"), "tags": ["x"], "sent_at": sent_at}))
        .collect();
    messages.push(json!({"account": "fx", "remote_id": POISON, "tags": ["x"], "sent_at": sent_at}));
    api.track(&messages).await;
    let (job_id, matched) = api
        .recall(json!({"select": {"tags": ["x"]}, "action": "recall", "reason": "e2e: crash loop"}))
        .await;
    assert_eq!(matched, OTHERS as u64 + 1);
    aborts(first, 1).await;

    // Restarted as a supervisor would: it dies again while the task is
    // still tried.
    for start in 2..=MAX_INTERRUPTED {
        let mut command = recalld(&["--log-format", "json", "serve", "--config"]);
        command.arg(&config).current_dir(dir.path());
        aborts(Process::spawn("recalld serve", command), start).await;
    }

    // The next start gives up on it, and the job ends.
    let (mut last, api) = serve(&config, "info").await;
    let progress = api.job_done(job_id, Duration::from_secs(60)).await;
    let calls = calls.lock().unwrap().clone();
    let context = format!("job: {progress}\nvendor calls: {calls:?}");
    assert_eq!(count(&progress, "failed"), 1, "{context}");
    assert_eq!(count(&progress, "recalled"), OTHERS as u64, "{context}");
    let errors = progress["errors"].to_string();
    assert!(
        errors.contains(&format!("stopped {MAX_INTERRUPTED} times")),
        "{context}"
    );
    assert_eq!(calls.len(), OTHERS, "each other message called: {context}");
    assert!(!calls.contains_key(POISON), "{context}");
    let ledger = api.ledger("x").await;
    let poison = ledger
        .iter()
        .find(|m| m["remote_id"] == POISON)
        .expect("the poison message is in the ledger");
    assert_eq!(poison["state"], "recall_failed", "{poison}");
    last.kill();
    assert!(
        last.stderr().contains("a plugin crash?"),
        "the start that gave up says so"
    );
}
