use super::*;
use serde_json::json;

fn msg(account: &str, id: &str, tags: &[&str]) -> NewMessage {
    NewMessage {
        account: account.into(),
        remote_id: id.into(),
        sent_at_ms: 1_000,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        meta: json!({"kind": "otp"}),
        age: Vec::new(),
    }
}

fn selector(v: serde_json::Value) -> Selector {
    serde_json::from_value(v).unwrap()
}

fn spec(sel: serde_json::Value, cap: u64) -> JobSpec {
    JobSpec {
        requested_by: "test".into(),
        reason: "because".into(),
        action: OperationKind::Recall,
        selector: selector(sel),
        params: json!(null),
        max_messages: cap,
        now_ms: 5_000,
    }
}

fn result(task: &ClaimedTask, state: TaskState) -> TaskResult {
    TaskResult {
        task_id: task.task_id,
        job_id: task.job_id,
        message_id: task.message_id,
        action: task.action,
        account: task.message.account.clone(),
        state,
        attempts: task.attempts + 1,
        next_at_ms: 6_000,
        error: (state == TaskState::Failed).then(|| "154004: not found".to_owned()),
        at_ms: 6_000,
    }
}

#[tokio::test]
async fn tracking_is_idempotent_and_tags_select() {
    let store = SqliteStore::open_in_memory().unwrap();
    let first = store
        .track(
            vec![
                msg("a", "1", &["x", "y"]),
                msg("a", "2", &["x"]),
                msg("b", "1", &["y"]),
            ],
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        first,
        TrackResult {
            inserted: 3,
            existing: 0
        }
    );
    let again = store
        .track(vec![msg("a", "1", &["z"])], None)
        .await
        .unwrap();
    assert_eq!(
        again,
        TrackResult {
            inserted: 0,
            existing: 1
        }
    );

    let all_of = store
        .preview(selector(json!({"tags": ["x", "y"]})), 10)
        .await
        .unwrap();
    assert_eq!(all_of.matched, 1);
    assert_eq!(all_of.sample[0].remote_id, "1");
    assert_eq!(
        all_of.sample[0].tags,
        vec!["x", "y"],
        "the first tracking wins"
    );
    let any_of = store
        .preview(selector(json!({"any_tags": ["x", "y"]})), 10)
        .await
        .unwrap();
    assert_eq!(any_of.matched, 3);
    assert_eq!(
        any_of.per_account,
        BTreeMap::from([("a".into(), 2), ("b".into(), 1)])
    );
    let narrowed = store
        .preview(selector(json!({"any_tags": ["y"], "accounts": ["b"]})), 10)
        .await
        .unwrap();
    assert_eq!(narrowed.matched, 1);
    let by_meta = store
        .preview(selector(json!({"meta": {"kind": "otp"}, "ids": ["2"]})), 10)
        .await
        .unwrap();
    assert_eq!(by_meta.matched, 1);
    let ledger = store.messages(Some("x".into()), None, 0, 10).await.unwrap();
    assert_eq!(ledger.len(), 2);
}

#[tokio::test]
async fn a_replayed_delivery_writes_nothing() {
    let store = SqliteStore::open_in_memory().unwrap();
    let delivery = Delivery {
        client: "bot".into(),
        id: "msg_1".into(),
        expires_at_ms: i64::MAX,
    };
    store
        .track(vec![msg("a", "1", &["x"])], Some(delivery.clone()))
        .await
        .unwrap();
    let replay = store
        .track(vec![msg("a", "2", &["x"])], Some(delivery.clone()))
        .await;
    assert!(matches!(replay, Err(StoreError::Replay)));
    assert_eq!(
        store
            .preview(selector(json!({"tags": ["x"]})), 10)
            .await
            .unwrap()
            .matched,
        1
    );
    // Another client may use the same id.
    let other = Delivery {
        client: "other".into(),
        ..delivery
    };
    store.record_delivery(other).await.unwrap();
}

#[tokio::test]
async fn a_job_runs_from_claim_to_done_with_progress() {
    let store = SqliteStore::open_in_memory().unwrap();
    store
        .track(
            vec![
                msg("a", "1", &["x"]),
                msg("a", "2", &["x"]),
                msg("b", "3", &["x"]),
            ],
            None,
        )
        .await
        .unwrap();
    let created = store
        .create_job(spec(json!({"tags": ["x"]}), 10), None)
        .await
        .unwrap();
    assert_eq!(created.matched, 3);

    let claimed = store.claim("a".into(), 5_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(
        store.claim("a".into(), 5_000, 10).await.unwrap().is_empty(),
        "claimed tasks are not handed out twice"
    );
    store
        .finish(vec![
            result(&claimed[0], TaskState::Done),
            result(&claimed[1], TaskState::Failed),
        ])
        .await
        .unwrap();

    let progress = store.job(created.job_id).await.unwrap().unwrap();
    assert_eq!(progress.state, "running");
    assert_eq!(
        (
            progress.counts.recalled,
            progress.counts.failed,
            progress.counts.pending
        ),
        (1, 1, 1)
    );
    assert_eq!(progress.accounts["a"].total, 2);
    assert_eq!(progress.errors[0].error, "154004: not found");

    let b = store.claim("b".into(), 5_000, 10).await.unwrap();
    store
        .finish(vec![result(&b[0], TaskState::AlreadyDone)])
        .await
        .unwrap();
    let progress = store.job(created.job_id).await.unwrap().unwrap();
    assert_eq!(progress.state, "done");
    assert_eq!(progress.counts.already_recalled, 1);
    assert_eq!(progress.finished_at_ms, Some(6_000));
    let ledger = store.messages(None, Some("a".into()), 0, 10).await.unwrap();
    assert_eq!(ledger[0].state, "recalled");
    assert_eq!(ledger[1].state, "recall_failed");
}

#[tokio::test]
async fn retries_wait_for_next_at() {
    let store = SqliteStore::open_in_memory().unwrap();
    store
        .track(vec![msg("a", "1", &["x"])], None)
        .await
        .unwrap();
    store
        .create_job(spec(json!({"tags": ["x"]}), 10), None)
        .await
        .unwrap();
    let claimed = store.claim("a".into(), 5_000, 10).await.unwrap();
    let mut retry = result(&claimed[0], TaskState::Pending);
    retry.next_at_ms = 9_000;
    store.finish(vec![retry]).await.unwrap();
    assert!(store.claim("a".into(), 8_999, 10).await.unwrap().is_empty());
    assert_eq!(store.next_due("a".into()).await.unwrap(), Some(9_000));
    let again = store.claim("a".into(), 9_000, 10).await.unwrap();
    assert_eq!(again[0].attempts, 1);
}

#[tokio::test]
async fn the_cap_refuses_the_whole_job_and_writes_nothing() {
    let store = SqliteStore::open_in_memory().unwrap();
    store
        .track(
            (0..5).map(|i| msg("a", &i.to_string(), &["x"])).collect(),
            None,
        )
        .await
        .unwrap();
    let refused = store
        .create_job(spec(json!({"tags": ["x"]}), 4), None)
        .await;
    assert!(matches!(
        refused,
        Err(StoreError::TooManyMessages { matched: 5, cap: 4 })
    ));
    assert!(store.claim("a".into(), 5_000, 10).await.unwrap().is_empty());
    assert!(store.job(1).await.unwrap().is_none());
}

#[tokio::test]
async fn a_message_already_recalled_is_never_recalled_again() {
    let store = SqliteStore::open_in_memory().unwrap();
    store
        .track(vec![msg("a", "1", &["x"])], None)
        .await
        .unwrap();
    store
        .create_job(spec(json!({"tags": ["x"]}), 10), None)
        .await
        .unwrap();
    let claimed = store.claim("a".into(), 5_000, 10).await.unwrap();
    store
        .finish(vec![result(&claimed[0], TaskState::Done)])
        .await
        .unwrap();
    let second = store
        .create_job(spec(json!({"tags": ["x"]}), 10), None)
        .await
        .unwrap();
    assert!(store.claim("a".into(), 5_000, 10).await.unwrap().is_empty());
    let progress = store.job(second.job_id).await.unwrap().unwrap();
    assert_eq!(
        (progress.state.as_str(), progress.counts.already_recalled),
        ("done", 1)
    );
}

#[tokio::test]
async fn running_tasks_are_pending_again_after_a_crash_and_data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .track(vec![msg("a", "1", &["x"])], None)
            .await
            .unwrap();
        store
            .create_job(spec(json!({"tags": ["x"]}), 10), None)
            .await
            .unwrap();
        assert_eq!(store.claim("a".into(), 5_000, 10).await.unwrap().len(), 1);
    }
    let store = SqliteStore::open(&path).unwrap();
    assert!(store.claim("a".into(), 5_000, 10).await.unwrap().is_empty());
    assert_eq!(store.recover(5_000).await.unwrap().resumed, 1);
    assert_eq!(store.claim("a".into(), 5_000, 10).await.unwrap().len(), 1);
}
