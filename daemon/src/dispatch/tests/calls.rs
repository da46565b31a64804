//! What reaches the vendor: two jobs over one message, a token fetched
//! before the rate limit, the window checked again once a call is admitted.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::super::testkit::{job_store, job_store_sent, recall_x};
use super::{Recaller, Running, dispatcher, done, vendor, vendor_with_tokens};
use crate::clock::now_ms;
use crate::store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_jobs_over_the_same_messages_call_the_vendor_once_per_message() {
    let n = 6;
    let (store, first) = job_store(n, &["a"], 1_000, 0).await;
    // The same request again (a bot that retried it under a new id).
    let second = store
        .inner
        .create_job(recall_x(n), None)
        .await
        .unwrap()
        .job_id;
    let (base_url, seen) = vendor(Duration::from_millis(20)).await;
    let plugin = Recaller {
        window_secs: None,
        tokens: false,
    };
    let running = Running::start(dispatcher(&store, plugin, &base_url, 10_000));

    let first = done(&store, first, Duration::from_secs(10)).await;
    let second = done(&store, second, Duration::from_secs(10)).await;
    assert_eq!(seen.calls.load(Ordering::SeqCst), n, "one call per message");
    assert_eq!(first.counts.recalled, n as u64, "{first:?}");
    assert_eq!(second.counts.already_recalled, n as u64, "{second:?}");
    let ledger = store.inner.messages(None, None, 0, 100).await.unwrap();
    assert!(ledger.iter().all(|m| m.state == "recalled"), "{ledger:?}");
    running.stop().await;
}

/// The most `arrivals` in any window of `per` starting at one of them.
fn most_in_any_window(arrivals: &[std::time::Instant], per: Duration) -> usize {
    (0..arrivals.len())
        .map(|i| {
            arrivals[i..]
                .iter()
                .take_while(|&&t| t - arrivals[i] < per)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_token_does_not_bunch_admitted_calls_above_the_limit() {
    // 5 calls a second; the token takes 300 ms. Admitted before the token,
    // the first calls would leave together with the next second's.
    let n = 12;
    let (store, job) = job_store(n, &["a"], 1_000, 0).await;
    let (base_url, seen) = vendor_with_tokens(Duration::ZERO, Duration::from_millis(300)).await;
    let plugin = Recaller {
        window_secs: None,
        tokens: true,
    };
    let running = Running::start(dispatcher(&store, plugin, &base_url, 5));

    let progress = done(&store, job, Duration::from_secs(10)).await;
    assert_eq!(progress.counts.recalled, n as u64, "{progress:?}");
    let arrivals = seen.arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), n);
    let most = most_in_any_window(&arrivals, Duration::from_secs(1));
    assert!(most <= 5, "{most} calls reached the vendor within 1 s");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_passes_its_window_while_waiting_for_the_limit_expires_without_a_call() {
    // One call a second, a one-second window, messages sent half a second
    // ago: the first call leaves at once, the second is admitted a second
    // later, past the window.
    let (store, job) = job_store_sent(2, &["a"], now_ms() - 500, 1_000, 0).await;
    let (base_url, seen) = vendor(Duration::ZERO).await;
    let plugin = Recaller {
        window_secs: Some(1),
        tokens: false,
    };
    let running = Running::start(dispatcher(&store, plugin, &base_url, 1));

    let progress = done(&store, job, Duration::from_secs(10)).await;
    assert_eq!(progress.counts.recalled, 1, "{progress:?}");
    assert_eq!(progress.counts.expired, 1, "{progress:?}");
    assert_eq!(seen.calls.load(Ordering::SeqCst), 1);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_of_an_account_the_config_no_longer_has_fail_so_their_job_ends() {
    // Two of the four messages are on `gone`, which the config does not have.
    let (store, job) = job_store(4, &["a", "gone"], 1_000, 0).await;
    let (base_url, seen) = vendor(Duration::ZERO).await;
    let plugin = Recaller {
        window_secs: None,
        tokens: false,
    };
    let dispatcher = dispatcher(&store, plugin, &base_url, 10_000);
    let running = Running::start(Arc::clone(&dispatcher));

    // Left from before the start.
    let progress = done(&store, job, Duration::from_secs(10)).await;
    assert_eq!(progress.counts.recalled, 2, "{progress:?}");
    assert_eq!(progress.counts.failed, 2, "{progress:?}");
    assert!(
        progress
            .errors
            .iter()
            .any(|e| e.error.contains("not configured")),
        "{progress:?}"
    );
    assert_eq!(seen.calls.load(Ordering::SeqCst), 2);

    // A new job over the old account's messages, once running.
    // (Those on `a` are recalled already.)
    let again = store.inner.create_job(recall_x(4), None).await.unwrap();
    assert_eq!(again.per_account.get("gone"), Some(&2));
    dispatcher.wake("gone");
    let progress = done(&store, again.job_id, Duration::from_secs(10)).await;
    assert_eq!(progress.counts.already_recalled, 2, "{progress:?}");
    assert_eq!(progress.counts.failed, 2, "{progress:?}");
    running.stop().await;
}
