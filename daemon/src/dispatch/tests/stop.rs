//! A graceful stop takes one grace period, whatever hangs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use warp::Filter as _;

use super::super::testkit::{job_store, until};
use super::{Recaller, Running, dispatcher_with};
use crate::config::DispatchConfig;

/// A vendor that answers the first `quick` calls at once and holds the
/// others far longer than any test waits; how many calls it saw.
async fn vendor_that_hangs_after(quick: usize) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let route = warp::any().then(move || {
        let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            if n > quick {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            "{}"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (format!("http://{addr}"), calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_and_last_writes_that_both_hang_share_one_grace_period() {
    // No result can be written (the gate stays shut): the recorder hangs on
    // the first two answers, and the calls after them hang at the vendor.
    let (store, _job) = job_store(12, &["a"], 0, 0).await;
    let (base_url, calls) = vendor_that_hangs_after(2).await;
    let grace = Duration::from_millis(800);
    let config = DispatchConfig {
        shutdown_grace: grace,
        ..DispatchConfig::default()
    };
    let plugin = Recaller {
        window_secs: None,
        tokens: false,
    };
    let running = Running::start(dispatcher_with(&store, plugin, &base_url, 10_000, config));
    until(
        "answered calls waiting for their write, and calls hanging",
        || calls.load(Ordering::SeqCst) > 2 && store.entered.load(Ordering::SeqCst) >= 1,
    )
    .await;

    let started = Instant::now();
    running.stop().await;
    let took = started.elapsed();
    // Before the grace period was shared, the lanes waited one for their
    // calls and the recorder another for its writes.
    assert!(
        took < grace + grace / 2,
        "the stop took {took:?} with a grace period of {grace:?}"
    );
    assert!(took >= grace, "the hanging calls get their grace: {took:?}");
}
