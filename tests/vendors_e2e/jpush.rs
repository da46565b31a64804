//! JPush: the vendor's own rate limit, answered with `X-Rate-Limit-Reset`.

use std::time::Duration;

use recalld_tests::api::{count, http};
use recalld_tests::config::Account;
use recalld_tests::wait;
use sandbox::Vendor;
use serde_json::json;

use crate::setup::{JOB_TIMEOUT, Setup};

/// JPush allows 600 calls a minute; the account's own limit is set far above
/// it, so the vendor's 2002/429 answer with `X-Rate-Limit-Reset` is what slows
/// the account down. The sandbox clock is frozen and moved by hand, so the
/// minute passes without waiting for it.
#[tokio::test(flavor = "multi_thread")]
async fn jpush_rate_limit_answers_are_honoured_and_nothing_fails() {
    const N: usize = 700;
    const CONCURRENCY: u64 = 16;
    let config = sandbox::Config {
        frozen_clock: true,
        ..Default::default()
    };
    let setup = Setup::start(config, |vendor| {
        vec![Account::sandbox("jp", "jpush", vendor).with(&format!(
            "concurrency: {CONCURRENCY}, rate_limit: {{requests: 2000, per: 1s}}"
        ))]
    })
    .await;

    // Open the vendor's minute with one call, then move to its last second:
    // the reset the daemon is told to wait for is 1 s, not 60.
    let opened = http()
        .delete(format!("http://{}/v3/push/1", setup.vendor_addr))
        .basic_auth("jp-sandbox", Some("jp-secret"))
        .send()
        .await
        .expect("the sandbox answers");
    assert_eq!(
        opened
            .headers()
            .get("x-rate-limit-remaining")
            .and_then(|v| v.to_str().ok()),
        Some("599")
    );
    setup.vendors.advance_clock(Duration::from_secs(59));

    let ids = setup.seed(Vendor::JPush, N, 0);
    setup.track("jp", &ids, "burst", None).await;
    let (job_id, matched) = setup
        .api
        .recall(json!({"select": {"tags": ["burst"]}, "action": "recall"}))
        .await;
    assert_eq!(matched, N as u64);
    let limited = wait::until("the vendor to refuse a call", JOB_TIMEOUT, || async {
        let stats = setup.vendors.stats().jpush;
        if stats.rate_limited > 0 {
            Ok(stats.rate_limited)
        } else {
            Err(format!("{stats:?}"))
        }
    })
    .await;
    assert!(limited > 0);
    // The minute ends; the next call opens a new window.
    setup.vendors.advance_clock(Duration::from_secs(2));

    let job = setup.api.job_done(job_id, JOB_TIMEOUT).await;
    let stats = setup.vendors.stats().jpush;
    let context = format!("job: {job}\nvendor: {stats:?}");
    assert_eq!(count(&job, "recalled"), N as u64, "{context}");
    assert_eq!(count(&job, "failed"), 0, "{context}");
    assert_eq!(stats.recalled, N as u64, "{context}");
    assert_eq!(stats.duplicate_recalls, 0, "{context}");
    assert!(stats.rate_limited >= 1, "{context}");
    // The account paused on the first refusal: only calls already on their
    // way (at most the concurrency, once per reset) were refused, not a retry storm.
    assert!(
        stats.rate_limited <= 2 * CONCURRENCY,
        "{} refused calls: the account kept calling: {context}",
        stats.rate_limited
    );
    setup.stop().await;
}
