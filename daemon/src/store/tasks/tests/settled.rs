//! Two jobs over one message: what the first did to it at the vendor is
//! never undone or repeated by the second.

use plugin_api::OperationKind;
use serde_json::json;

use super::{recall, result, track};
use crate::store::tasks::DEFER_MS;
use crate::store::*;

async fn state_of(store: &SqliteStore, remote_id: &str) -> String {
    let rows = store.messages(None, None, 0, 100).await.unwrap();
    rows.into_iter()
        .find(|m| m.remote_id == remote_id)
        .expect("the message is tracked")
        .state
}

#[tokio::test]
async fn a_message_another_job_recalled_is_already_done_at_the_claim_without_a_call() {
    let store = SqliteStore::open_in_memory().unwrap();
    track(&store, &[("a", "1"), ("a", "2")], "x").await;
    let first = recall(&store, "x").await;
    let second = recall(&store, "x").await;

    // The first job's two tasks come first (same due time, lower ids).
    let claimed = store.claim("a".into(), 5_000, 2).await.unwrap();
    assert!(claimed.iter().all(|t| t.job_id == first));
    let results = vec![
        result(&claimed[0], TaskState::Done, 6_000),
        result(&claimed[1], TaskState::Failed, 6_000),
    ];
    store.finish(results).await.unwrap();

    // Message 1 is recalled: the second job's task for it is recorded
    // already done and not handed out; message 2's is.
    let claimed = store.claim("a".into(), 7_000, 10).await.unwrap();
    let handed: Vec<_> = claimed
        .iter()
        .map(|t| t.message.remote_id.as_str())
        .collect();
    assert_eq!(handed, ["2"]);
    let progress = store.job(second).await.unwrap().unwrap();
    assert_eq!(progress.counts.already_recalled, 1, "{progress:?}");
    assert_eq!(progress.counts.pending, 1, "{progress:?}");
    assert_eq!(state_of(&store, "1").await, "recalled");
}

#[tokio::test]
async fn two_tasks_of_one_message_are_never_out_at_once() {
    let store = SqliteStore::open_in_memory().unwrap();
    track(&store, &[("a", "1"), ("a", "2")], "x").await;
    let first = recall(&store, "x").await;
    let second = recall(&store, "x").await;
    // One claim sees all four tasks, and hands out one per message.
    let claimed = store.claim("a".into(), 5_000, 10).await.unwrap();
    let out: Vec<_> = claimed
        .iter()
        .map(|t| (t.job_id, t.message.remote_id.as_str()))
        .collect();
    assert_eq!(out, [(first, "1"), (first, "2")]);
    // The others wait their turn, and are not handed out while the first
    // ones are out.
    assert_eq!(
        store.next_due("a".into()).await.unwrap(),
        Some(5_000 + DEFER_MS)
    );
    let again = store.claim("a".into(), 5_000 + DEFER_MS, 10).await.unwrap();
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(
        store.next_due("a".into()).await.unwrap(),
        Some(5_000 + 2 * DEFER_MS)
    );

    // Message 1 was recalled, message 2's recall failed: the second job
    // gets message 1 done without a call and message 2 to try.
    store
        .finish(vec![
            result(&claimed[0], TaskState::Done, 6_000),
            result(&claimed[1], TaskState::Failed, 6_000),
        ])
        .await
        .unwrap();
    let later = store
        .claim("a".into(), 5_000 + 2 * DEFER_MS, 10)
        .await
        .unwrap();
    let out: Vec<_> = later
        .iter()
        .map(|t| (t.job_id, t.message.remote_id.as_str()))
        .collect();
    assert_eq!(out, [(second, "2")]);
    let progress = store.job(second).await.unwrap().unwrap();
    assert_eq!(progress.counts.already_recalled, 1, "{progress:?}");
}

#[tokio::test]
async fn a_later_failure_does_not_undo_a_recall_in_the_ledger() {
    let store = SqliteStore::open_in_memory().unwrap();
    track(&store, &[("a", "1")], "x").await;
    recall(&store, "x").await;
    let claimed = store.claim("a".into(), 5_000, 10).await.unwrap();
    store
        .finish(vec![result(&claimed[0], TaskState::Done, 6_000)])
        .await
        .unwrap();
    // A cancel that fails on the recalled message (its result written as
    // if a call had been made) leaves it recalled.
    let cancel = JobSpec {
        requested_by: "test".into(),
        reason: "too late".into(),
        action: OperationKind::Cancel,
        selector: serde_json::from_value(json!({"tags": ["x"]})).unwrap(),
        params: json!(null),
        max_messages: 10,
        now_ms: 7_000,
    };
    store.create_job(cancel, None).await.unwrap();
    let claimed = store.claim("a".into(), 7_000, 10).await.unwrap();
    assert_eq!(claimed[0].action, OperationKind::Cancel);
    for state in [TaskState::Pending, TaskState::Failed] {
        store
            .finish(vec![result(&claimed[0], state, 8_000)])
            .await
            .unwrap();
        assert_eq!(state_of(&store, "1").await, "recalled");
    }
}

#[tokio::test]
async fn an_updated_message_is_updated_again_by_a_new_update_job() {
    let store = SqliteStore::open_in_memory().unwrap();
    track(&store, &[("a", "1")], "x").await;
    let update = |text: &str| JobSpec {
        requested_by: "test".into(),
        reason: "typo".into(),
        action: OperationKind::Update,
        selector: serde_json::from_value(json!({"ids": ["1"], "accounts": ["a"]})).unwrap(),
        params: json!({"text": text}),
        max_messages: 10,
        now_ms: 5_000,
    };
    store.create_job(update("first"), None).await.unwrap();
    let claimed = store.claim("a".into(), 5_000, 10).await.unwrap();
    store
        .finish(vec![result(&claimed[0], TaskState::Done, 6_000)])
        .await
        .unwrap();
    assert_eq!(state_of(&store, "1").await, "updated");

    let second = store.create_job(update("second"), None).await.unwrap();
    let progress = store.job(second.job_id).await.unwrap().unwrap();
    assert_eq!(progress.counts.pending, 1, "{progress:?}");
    let claimed = store.claim("a".into(), 7_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].params, json!({"text": "second"}));
}
