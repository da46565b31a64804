//! Claims and batched results, checked in the tables themselves.

use std::collections::BTreeMap;

use plugin_api::OperationKind;
use serde_json::{Value, json};

use crate::store::*;

fn track(store: &SqliteStore, ids: &[(&str, &str)], tag: &str) -> impl Future<Output = ()> {
    let messages = ids
        .iter()
        .map(|(account, id)| NewMessage {
            account: (*account).into(),
            remote_id: (*id).into(),
            sent_at_ms: 1_000,
            tags: vec![tag.into()],
            meta: json!(null),
            age: Vec::new(),
        })
        .collect();
    let store = store.clone();
    async move {
        store.track(messages, None).await.unwrap();
    }
}

async fn recall(store: &SqliteStore, tag: &str) -> i64 {
    let spec = JobSpec {
        requested_by: "test".into(),
        reason: "because".into(),
        action: OperationKind::Recall,
        selector: serde_json::from_value(json!({"tags": [tag]})).unwrap(),
        params: json!(null),
        max_messages: 100,
        now_ms: 5_000,
    };
    store.create_job(spec, None).await.unwrap().job_id
}

fn result(task: &ClaimedTask, state: TaskState, at_ms: i64) -> TaskResult {
    TaskResult {
        task_id: task.task_id,
        job_id: task.job_id,
        message_id: task.message_id,
        action: task.action,
        account: task.message.account.clone(),
        state,
        attempts: task.attempts + 1,
        next_at_ms: at_ms + 1_000,
        error: matches!(state, TaskState::Failed | TaskState::Pending)
            .then(|| format!("{} went wrong", task.message.remote_id)),
        at_ms,
    }
}

/// The audit records of kind `attempts`: (job, detail) in insertion order.
fn attempts_audit(path: &std::path::Path) -> Vec<(i64, Value)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut query = conn
        .prepare("SELECT job_id, detail FROM audit WHERE kind = 'attempts' ORDER BY id")
        .unwrap();
    query
        .query_map([], |r| {
            let detail: String = r.get(1)?;
            Ok((r.get(0)?, serde_json::from_str(&detail).unwrap()))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn a_batch_of_results_records_every_one_and_audits_each_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let store = SqliteStore::open(&path).unwrap();
    let ids = [
        ("a", "1"),
        ("a", "2"),
        ("a", "3"),
        ("a", "4"),
        ("b", "5"),
        ("b", "6"),
    ];
    track(&store, &ids, "x").await;
    let job = recall(&store, "x").await;
    let mut claimed = store.claim("a".into(), 5_000, 10).await.unwrap();
    claimed.extend(store.claim("b".into(), 5_000, 10).await.unwrap());
    assert_eq!(claimed.len(), 6);
    let states = [
        TaskState::Done,
        TaskState::Failed,
        TaskState::Pending,
        TaskState::Expired,
        TaskState::AlreadyDone,
        TaskState::Done,
    ];
    let results: Vec<TaskResult> = claimed
        .iter()
        .zip(states)
        .enumerate()
        .map(|(i, (task, state))| result(task, state, 6_000 + i as i64))
        .collect();
    store.finish(results.clone()).await.unwrap();

    let progress = store.job(job).await.unwrap().unwrap();
    assert_eq!(progress.state, "running", "one task is to be retried");
    let c = progress.counts;
    assert_eq!(
        (
            c.recalled,
            c.failed,
            c.pending,
            c.expired,
            c.already_recalled
        ),
        (2, 1, 1, 1, 1)
    );
    let ledger: Vec<String> = store
        .messages(Some("x".into()), None, 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.state)
        .collect();
    assert_eq!(
        ledger,
        [
            "recalled",
            "recall_failed",
            "sent",
            "expired",
            "recalled",
            "recalled"
        ]
    );
    assert_eq!(
        store.next_due("a".into()).await.unwrap(),
        Some(7_002),
        "the retry waits for its next_at"
    );

    // One record per account for the batch, listing every attempt.
    let audit = attempts_audit(&path);
    assert_eq!(audit.len(), 2, "{audit:?}");
    let mut seen = BTreeMap::new();
    for (audit_job, detail) in &audit {
        assert_eq!(*audit_job, job);
        let attempts = detail["results"].as_array().unwrap();
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for attempt in attempts {
            *counts
                .entry(attempt["state"].as_str().unwrap().into())
                .or_default() += 1;
            seen.insert(
                attempt["task"].as_i64().unwrap(),
                (detail["account"].clone(), attempt.clone()),
            );
        }
        assert_eq!(detail["counts"], json!(counts), "{detail}");
    }
    assert_eq!(seen.len(), results.len(), "{audit:?}");
    for r in &results {
        let (account, attempt) = &seen[&r.task_id];
        assert_eq!(account, &json!(r.account));
        assert_eq!(attempt["state"], json!(r.state));
        assert_eq!(attempt["attempts"], json!(r.attempts));
        assert_eq!(attempt["at"], json!(r.at_ms));
        assert_eq!(
            attempt.get("error").cloned(),
            r.error.as_ref().map(|e| json!(e))
        );
    }
}

#[tokio::test]
async fn a_job_is_done_exactly_when_its_last_task_ends() {
    let store = SqliteStore::open_in_memory().unwrap();
    track(&store, &[("a", "1"), ("a", "2"), ("a", "3")], "x").await;
    let first = recall(&store, "x").await;
    let tasks = store.claim("a".into(), 5_000, 10).await.unwrap();
    let state = |job| {
        let store = store.clone();
        async move { store.job(job).await.unwrap().unwrap() }
    };

    store
        .finish(vec![result(&tasks[0], TaskState::Done, 6_000)])
        .await
        .unwrap();
    assert_eq!(state(first).await.state, "running");
    // A retry is not an end.
    store
        .finish(vec![result(&tasks[1], TaskState::Pending, 6_100)])
        .await
        .unwrap();
    assert_eq!(state(first).await.state, "running");
    let retried = store.claim("a".into(), 7_100, 10).await.unwrap();
    assert_eq!(retried.len(), 1);

    // A second job, and one batch ending the first job but not the second.
    track(&store, &[("b", "4"), ("b", "5")], "y").await;
    let second = recall(&store, "y").await;
    let other = store.claim("b".into(), 5_000, 10).await.unwrap();
    store
        .finish(vec![
            result(&tasks[2], TaskState::Failed, 7_300),
            result(&other[0], TaskState::Done, 7_400),
            result(&retried[0], TaskState::Done, 7_200),
        ])
        .await
        .unwrap();
    let done = state(first).await;
    assert_eq!(
        (done.state.as_str(), done.finished_at_ms),
        ("done", Some(7_300)),
        "finished when its last task ended"
    );
    let running = state(second).await;
    assert_eq!(
        (running.state.as_str(), running.finished_at_ms),
        ("running", None)
    );

    store
        .finish(vec![result(&other[1], TaskState::Expired, 7_500)])
        .await
        .unwrap();
    let done = state(second).await;
    assert_eq!(
        (done.state.as_str(), done.finished_at_ms),
        ("done", Some(7_500))
    );
}

/// A `job_counts` row: (job, account, state, n).
type CountRow = (i64, String, String, i64);

/// Tasks per (job, account, bucket), counted from the tasks themselves and
/// as `job_counts` keeps them (rows of 0 left out).
fn counted(path: &std::path::Path) -> (Vec<CountRow>, Vec<CountRow>) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let rows = |sql: &str| -> Vec<CountRow> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    (
        rows("SELECT job_id, account, CASE WHEN state IN ('pending', 'running') THEN 'open' ELSE state END, count(*)
              FROM tasks GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"),
        rows("SELECT job_id, account, state, n FROM job_counts WHERE n != 0 ORDER BY 1, 2, 3"),
    )
}

#[tokio::test]
async fn the_kept_counts_match_the_tasks_through_claims_results_retries_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let store = SqliteStore::open(&path).unwrap();
    let ids: Vec<(String, String)> = (0..60)
        .map(|i| (["a", "b", "c"][i % 3].to_owned(), i.to_string()))
        .collect();
    let refs: Vec<(&str, &str)> = ids.iter().map(|(a, i)| (a.as_str(), i.as_str())).collect();
    track(&store, &refs[..40], "x").await;
    let mut jobs = vec![recall(&store, "x").await];
    let mut rng = fastrand::Rng::with_seed(5);
    let mut now = 5_000;
    let mut ended: Vec<TaskResult> = Vec::new();
    for step in 0..40 {
        now += 2_000;
        if step == 15 {
            // A second job over the same messages and new ones: those the
            // first already recalled start as already done.
            track(&store, &refs[30..], "x").await;
            jobs.push(recall(&store, "x").await);
        }
        if step % 10 == 9 {
            store.recover(now).await.unwrap();
        }
        let account = ["a", "b", "c"][rng.usize(..3)];
        let claimed = store
            .claim(account.into(), now, rng.u32(1..8))
            .await
            .unwrap();
        let results: Vec<TaskResult> = claimed
            .iter()
            .map(|task| {
                let state = [
                    TaskState::Done,
                    TaskState::Pending,
                    TaskState::Failed,
                    TaskState::Expired,
                    TaskState::AlreadyDone,
                ][rng.usize(..5)];
                result(task, state, now)
            })
            .collect();
        // Sometimes a result comes again for a task that has ended: it
        // changes nothing.
        let mut batch = results.clone();
        if let Some(old) = ended.get(rng.usize(..ended.len().max(1))) {
            let mut again = old.clone();
            again.state = TaskState::Failed;
            batch.push(again);
        }
        store.finish(batch).await.unwrap();
        ended.extend(results.into_iter().filter(|r| r.state.is_terminal()));
        let (tasks, kept) = counted(&path);
        assert_eq!(kept, tasks, "after step {step}");
        for &job in &jobs {
            let progress = store.job(job).await.unwrap().unwrap();
            let c = &progress.counts;
            let total = tasks
                .iter()
                .filter(|t| t.0 == job)
                .map(|t| t.3 as u64)
                .sum::<u64>();
            assert_eq!(c.total, total);
            assert_eq!(
                c.recalled + c.already_recalled + c.expired + c.failed + c.pending,
                total
            );
        }
    }
    assert!(
        ended.len() > 20,
        "the sequence ended tasks: {}",
        ended.len()
    );
    let (tasks, _) = counted(&path);
    assert!(
        tasks
            .iter()
            .any(|t| t.0 == jobs[1] && t.2 == "already_done"),
        "{tasks:?}"
    );
}

mod interrupted;
mod settled;
