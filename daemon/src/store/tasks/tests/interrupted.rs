//! Tasks out when the daemon stopped: a graceful stop hands them back as
//! they were; after a crash they are tried again, those out at all but the
//! last allowed stop are suspects, tried one at a time, and one out at
//! `MAX_INTERRUPTED` stops fails instead of crashing the daemon forever.

use super::{recall, result, track};
use crate::store::recovery::SUSPECT_AT;
use crate::store::tasks::SUSPECT_DEFER_MS;
use crate::store::*;

fn ids(claimed: &[ClaimedTask]) -> Vec<&str> {
    claimed
        .iter()
        .map(|t| t.message.remote_id.as_str())
        .collect()
}

#[tokio::test]
async fn a_task_out_at_every_stop_fails_at_the_last_and_its_job_ends() {
    let store = SqliteStore::open_in_memory().unwrap();
    track(&store, &[("a", "1")], "x").await;
    let job = recall(&store, "x").await;
    for stop in 1..MAX_INTERRUPTED {
        assert_eq!(
            ids(&store.claim("a".into(), 5_000, 10).await.unwrap()),
            ["1"]
        );
        let recovered = store.recover(5_000).await.unwrap();
        assert_eq!(
            recovered,
            Recovered {
                resumed: 1,
                failed: 0
            },
            "stop {stop}"
        );
    }
    assert_eq!(store.claim("a".into(), 5_000, 10).await.unwrap().len(), 1);
    let recovered = store.recover(6_000).await.unwrap();
    assert_eq!(
        recovered,
        Recovered {
            resumed: 0,
            failed: 1
        }
    );
    assert!(store.claim("a".into(), 9_000, 10).await.unwrap().is_empty());
    let progress = store.job(job).await.unwrap().unwrap();
    assert_eq!(progress.state, "done", "{progress:?}");
    assert_eq!(progress.counts.failed, 1, "{progress:?}");
    let error = &progress.errors[0].error;
    assert!(
        error.contains(&format!("stopped {MAX_INTERRUPTED} times")),
        "{error}"
    );
}

const FOUR: [(&str, &str); 4] = [("a", "1"), ("a", "2"), ("a", "3"), ("a", "4")];

#[tokio::test]
async fn after_one_crash_the_tasks_out_are_tried_again_all_at_once() {
    let store = SqliteStore::open_in_memory().unwrap();
    track(&store, &FOUR, "x").await;
    recall(&store, "x").await;
    assert_eq!(store.claim("a".into(), 5_000, 3).await.unwrap().len(), 3);
    assert_eq!(store.recover(5_000).await.unwrap().resumed, 3);
    let claimed = store.claim("a".into(), 5_000, 10).await.unwrap();
    assert_eq!(ids(&claimed), ["1", "2", "3", "4"]);
}

#[tokio::test]
async fn suspects_are_out_one_at_a_time_beside_the_other_tasks() {
    let store = SqliteStore::open_in_memory().unwrap();
    track(&store, &FOUR, "x").await;
    recall(&store, "x").await;
    // The same three tasks out at the crashes that make them suspects.
    for _ in 0..SUSPECT_AT {
        assert_eq!(store.claim("a".into(), 5_000, 3).await.unwrap().len(), 3);
        assert_eq!(store.recover(5_000).await.unwrap().resumed, 3);
    }

    // One suspect out, and the task that was never out; the other two
    // suspects wait.
    let claimed = store.claim("a".into(), 5_000, 10).await.unwrap();
    assert_eq!(ids(&claimed), ["1", "4"]);
    let later = 5_000 + SUSPECT_DEFER_MS;
    assert!(store.claim("a".into(), later, 10).await.unwrap().is_empty());

    // (That claim put them back again.) The suspect's result frees the
    // place for the next one.
    store
        .finish(vec![result(&claimed[0], TaskState::Done, later)])
        .await
        .unwrap();
    let later = later + SUSPECT_DEFER_MS;
    let claimed = store.claim("a".into(), later, 10).await.unwrap();
    assert_eq!(ids(&claimed), ["2"]);
}

#[tokio::test]
async fn a_graceful_stop_hands_tasks_back_as_they_were() {
    let store = SqliteStore::open_in_memory().unwrap();
    track(&store, &[("a", "1"), ("a", "2")], "x").await;
    let job = recall(&store, "x").await;
    for _ in 0..=MAX_INTERRUPTED {
        assert_eq!(store.claim("a".into(), 5_000, 10).await.unwrap().len(), 2);
        assert_eq!(store.release().await.unwrap(), 2);
    }
    // Not suspects: both are handed out at once, and nothing failed.
    assert_eq!(store.claim("a".into(), 5_000, 10).await.unwrap().len(), 2);
    let progress = store.job(job).await.unwrap().unwrap();
    assert_eq!(progress.counts.failed, 0, "{progress:?}");
}
