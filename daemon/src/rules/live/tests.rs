//! Hot reload: debounced polls, and changes that would drop rules because
//! a file was caught mid-write are refused.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::rules::timers::planner;
use crate::rules::{Env, MessageView};
use crate::store::{NewMessage, SqliteStore, Store};

const AGE: &str =
    "rules:\n  - name: otp-expiry\n    on: {sent: {tags: [otp]}, after: 10m}\n    do: recall\n";

/// A folder with `rules.yaml` holding `text`, and live rules from it.
fn live_rules(text: &str) -> (tempfile::TempDir, std::path::PathBuf, Arc<LiveRules>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yaml");
    std::fs::write(&file, text).unwrap();
    let glob = dir.path().join("*.yaml").to_string_lossy().into_owned();
    let live = LiveRules::start(vec![glob], Env::default(), Arc::new(Metrics::new()))
        .unwrap_or_else(|e| panic!("{e:?}"));
    (dir, file, live)
}

/// What the age runner does after every reload: re-plan pending age
/// recalls for the rules in force. The earliest one still pending.
async fn replan_and_next_due(live: &LiveRules, store: &SqliteStore) -> Option<i64> {
    let rules = live.current();
    store
        .replan_age(
            rules.age_versions(),
            planner(&rules),
            crate::clock::now_ms(),
        )
        .await
        .unwrap();
    store.next_age_due().await.unwrap()
}

/// Tracks one OTP message sent at `sent_at`, with the age recalls the rules plan.
async fn track_otp(live: &LiveRules, store: &SqliteStore, sent_at: i64) {
    let tags = vec!["otp".to_owned()];
    let meta = json!({});
    let view = MessageView {
        account: "a",
        remote_id: "1",
        sent_at_ms: sent_at,
        tags: &tags,
        meta: &meta,
    };
    let age = live.current().plan_age(view);
    assert_eq!(age.len(), 1, "the age rule plans a recall");
    let message = NewMessage {
        account: "a".into(),
        remote_id: "1".into(),
        sent_at_ms: sent_at,
        tags,
        meta,
        age,
    };
    store.track(vec![message], None).await.unwrap();
}

#[tokio::test]
async fn a_briefly_emptied_rule_file_cancels_no_pending_age_recall() {
    let (_dir, file, live) = live_rules(AGE);
    let store = SqliteStore::open_in_memory().unwrap();
    let sent_at = crate::clock::now_ms();
    track_otp(&live, &store, sent_at).await;
    let due = Some(sent_at + 600_000);
    assert_eq!(replan_and_next_due(&live, &store).await, due);

    // An editor truncates the file before writing it again.
    std::fs::write(&file, "").unwrap();
    let errors = live.reload(false).expect_err("an emptied file is refused");
    assert!(errors[0].message.contains("empty"), "{errors:?}");
    assert_eq!(live.current().rules().len(), 1);
    assert!(!live.status().valid);
    assert_eq!(replan_and_next_due(&live, &store).await, due);

    std::fs::write(&file, AGE).unwrap();
    assert!(live.reload(false).unwrap());
    assert!(live.status().valid);
    assert_eq!(replan_and_next_due(&live, &store).await, due);
}

#[test]
fn a_glob_that_matched_files_and_matches_none_now_is_refused() {
    let (_dir, file, live) = live_rules(AGE);
    std::fs::remove_file(&file).unwrap();
    let errors = live.reload(true).expect_err("a vanished file is refused");
    assert!(errors[0].message.contains("matches none now"), "{errors:?}");
    assert_eq!(live.current().rules().len(), 1);
    // Back again: accepted.
    std::fs::write(&file, AGE).unwrap();
    assert!(live.reload(false).unwrap());
}

#[test]
fn every_rule_can_still_be_removed_on_purpose() {
    let (_dir, file, live) = live_rules(AGE);
    std::fs::write(&file, "rules: []\n").unwrap();
    assert!(live.reload(false).unwrap());
    assert!(live.current().rules().is_empty());
}

#[test]
fn the_watcher_loads_a_change_once_it_is_seen_twice_unchanged() {
    let (_dir, file, live) = live_rules(AGE);
    assert!(!live.poll().unwrap(), "nothing changed");
    let renamed = AGE.replace("otp-expiry", "otp-expiry-2");
    std::fs::write(&file, "rules:\n").unwrap();
    assert!(!live.poll().unwrap(), "first sight: wait");
    std::fs::write(&file, &renamed).unwrap();
    assert!(!live.poll().unwrap(), "changed again: wait again");
    assert!(live.poll().unwrap(), "unchanged since the last poll: load");
    assert_eq!(live.current().rules()[0].name, "otp-expiry-2");
    assert!(!live.poll().unwrap(), "loaded already");
}
