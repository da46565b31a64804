//! Age recalls, rule jobs and rule runs in the SQLite store.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::store::{NewMessage, SqliteStore, Store};

const TEN_MINUTES: i64 = 600_000;

fn plan(rule: &str, version: &str, due: i64) -> AgePlan {
    AgePlan {
        rule: rule.into(),
        version: version.into(),
        due_at_ms: due,
    }
}

fn otp(id: &str, sent_at: i64, plans: Vec<AgePlan>) -> NewMessage {
    NewMessage {
        account: "a".into(),
        remote_id: id.into(),
        sent_at_ms: sent_at,
        tags: vec!["otp".into()],
        meta: json!({}),
        age: plans,
    }
}

fn live(version: &str, limit: u64) -> BTreeMap<String, AgeFiring> {
    BTreeMap::from([(
        "otp-expiry".to_owned(),
        AgeFiring {
            version: version.into(),
            action: OperationKind::Recall,
            limit,
            reason: "age rule otp-expiry".into(),
            selector: serde_json::from_value(json!({"tags": ["otp"]})).unwrap(),
        },
    )])
}

/// Three OTPs: two due at 10 min after 1 s, one 10 min after 100 s.
async fn three_otps(store: &SqliteStore) {
    let messages = [("1", 1_000), ("2", 1_000), ("3", 100_000)]
        .into_iter()
        .map(|(id, sent)| otp(id, sent, vec![plan("otp-expiry", "v1", sent + TEN_MINUTES)]))
        .collect();
    store.track(messages, None).await.unwrap();
}

#[tokio::test]
async fn due_age_recalls_become_one_job_per_rule_and_fire_once() {
    let store = SqliteStore::open_in_memory().unwrap();
    three_otps(&store).await;
    // Tracking the same message again schedules nothing new.
    store
        .track(
            vec![otp("1", 1_000, vec![plan("otp-expiry", "v1", 5)])],
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        store.next_age_due().await.unwrap(),
        Some(1_000 + TEN_MINUTES)
    );
    let early = store
        .fire_age(TEN_MINUTES, live("v1", 100), 100)
        .await
        .unwrap();
    assert!(early.jobs.is_empty());
    let fired = store
        .fire_age(1_000 + TEN_MINUTES, live("v1", 100), 100)
        .await
        .unwrap();
    assert_eq!(fired.jobs.len(), 1);
    let (rule, job) = &fired.jobs[0];
    assert_eq!((rule.as_str(), job.matched), ("otp-expiry", 2));
    let progress = store.job(job.job_id).await.unwrap().unwrap();
    assert_eq!(progress.requested_by, "rule:otp-expiry");
    assert_eq!(progress.counts.pending, 2);
    let again = store
        .fire_age(1_000 + TEN_MINUTES, live("v1", 100), 100)
        .await
        .unwrap();
    assert!(again.jobs.is_empty());
    assert_eq!(
        store.next_age_due().await.unwrap(),
        Some(100_000 + TEN_MINUTES)
    );
    // The tasks are ordinary: the dispatcher claims them.
    let claimed = store
        .claim("a".into(), 1_000 + TEN_MINUTES, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
}

#[tokio::test]
async fn a_rule_limit_splits_due_recalls_into_several_jobs() {
    let store = SqliteStore::open_in_memory().unwrap();
    three_otps(&store).await;
    let fired = store
        .fire_age(i64::MAX / 2, live("v1", 1), 100)
        .await
        .unwrap();
    let sizes: Vec<u64> = fired.jobs.iter().map(|(_, j)| j.matched).collect();
    assert_eq!(sizes, [1, 1, 1]);
    // `max` bounds one call; the rest waits for the next.
    let store = SqliteStore::open_in_memory().unwrap();
    three_otps(&store).await;
    let fired = store
        .fire_age(i64::MAX / 2, live("v1", 10), 2)
        .await
        .unwrap();
    assert_eq!(fired.jobs[0].1.matched, 2);
    assert_eq!(
        store.next_age_due().await.unwrap(),
        Some(100_000 + TEN_MINUTES)
    );
}

#[tokio::test]
async fn recalls_of_a_changed_rule_wait_for_replanning() {
    let store = SqliteStore::open_in_memory().unwrap();
    three_otps(&store).await;
    let fired = store
        .fire_age(i64::MAX / 2, live("v2", 100), 100)
        .await
        .unwrap();
    assert_eq!((fired.jobs.len(), fired.stale), (0, 3));
    // v2 waits 20 minutes, and no longer matches message "3".
    let planner: Planner = Arc::new(|m: MessageView<'_>| {
        if m.remote_id == "3" {
            return Vec::new();
        }
        vec![plan("otp-expiry", "v2", m.sent_at_ms + 2 * TEN_MINUTES)]
    });
    let versions = BTreeMap::from([("otp-expiry".to_owned(), "v2".to_owned())]);
    let done = store
        .replan_age(versions.clone(), planner.clone(), 7)
        .await
        .unwrap();
    assert_eq!(
        done,
        Replanned {
            rescheduled: 2,
            cancelled: 1
        }
    );
    assert_eq!(
        store.next_age_due().await.unwrap(),
        Some(1_000 + 2 * TEN_MINUTES)
    );
    // Replanning again changes nothing.
    let done = store.replan_age(versions, planner, 8).await.unwrap();
    assert_eq!(done, Replanned::default());
    let fired = store
        .fire_age(1_000 + 2 * TEN_MINUTES, live("v2", 100), 100)
        .await
        .unwrap();
    assert_eq!((fired.jobs[0].1.matched, fired.stale), (2, 0));
    assert_eq!(store.next_age_due().await.unwrap(), None);
}

#[tokio::test]
async fn a_removed_rule_cancels_its_pending_recalls() {
    let store = SqliteStore::open_in_memory().unwrap();
    three_otps(&store).await;
    let nothing: Planner = Arc::new(|_: MessageView<'_>| Vec::new());
    let done = store.replan_age(BTreeMap::new(), nothing, 9).await.unwrap();
    assert_eq!(
        done,
        Replanned {
            rescheduled: 0,
            cancelled: 3
        }
    );
    assert_eq!(store.next_age_due().await.unwrap(), None);
}

fn job_spec(tag: &str, cap: u64) -> JobSpec {
    JobSpec {
        requested_by: "bot".into(),
        reason: "event".into(),
        action: OperationKind::Recall,
        selector: serde_json::from_value(json!({"tags": [tag]})).unwrap(),
        params: json!(null),
        max_messages: cap,
        now_ms: 5_000,
    }
}

#[tokio::test]
async fn jobs_of_one_event_are_refused_one_by_one_and_a_replay_refuses_all() {
    let store = SqliteStore::open_in_memory().unwrap();
    three_otps(&store).await;
    let delivery = Delivery {
        client: "bot".into(),
        id: "msg_1".into(),
        expires_at_ms: i64::MAX,
    };
    let run = RuleRun {
        rule: "nightly".into(),
        version: "v1".into(),
        fired_at_ms: 5_000,
    };
    let results = store
        .create_jobs(
            vec![job_spec("otp", 2), job_spec("otp", 3)],
            Some(delivery.clone()),
            Some(run),
        )
        .await
        .unwrap();
    assert!(matches!(
        results[0],
        Err(StoreError::TooManyMessages { matched: 3, cap: 2 })
    ));
    let created = results[1].as_ref().unwrap();
    assert_eq!(created.matched, 3);
    // The refused job left nothing behind: job ids stay dense.
    assert_eq!(created.job_id, 1);
    assert!(store.job(2).await.unwrap().is_none());
    let runs = store.rule_runs().await.unwrap();
    assert_eq!(
        (
            runs["nightly"].version.as_str(),
            runs["nightly"].fired_at_ms
        ),
        ("v1", 5_000)
    );
    let replay = store
        .create_jobs(vec![job_spec("otp", 3)], Some(delivery), None)
        .await;
    assert!(matches!(replay, Err(StoreError::Replay)));
    assert!(store.job(2).await.unwrap().is_none());
}

#[tokio::test]
async fn pending_age_recalls_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        three_otps(&store).await;
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.next_age_due().await.unwrap(),
        Some(1_000 + TEN_MINUTES)
    );
    let fired = store
        .fire_age(i64::MAX / 2, live("v1", 100), 100)
        .await
        .unwrap();
    assert_eq!(fired.jobs[0].1.matched, 3);
    let progress = store.job(fired.jobs[0].1.job_id).await.unwrap().unwrap();
    assert_eq!(progress.counts.pending, 3);
}
