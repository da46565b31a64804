//! DingTalk: its access token expiring under the daemon's cache, and its
//! "busy" answer, which the plugin tries at most three times.

use std::time::Duration;

use recalld_tests::api::count;
use recalld_tests::config::Account;
use sandbox::Vendor;

use crate::setup::{Setup, requests};

#[tokio::test(flavor = "multi_thread")]
async fn dingtalk_gets_a_new_token_when_the_vendor_expired_the_cached_one() {
    let setup = Setup::start(sandbox::Config::default(), |vendor| {
        vec![Account::sandbox("ding", "dingtalk", vendor)]
    })
    .await;
    let first = setup.seed(Vendor::DingTalk, 20, 0);
    setup.track("ding", &first, "before", None).await;
    let job = setup.run_job("recall", "before").await;
    assert_eq!(
        (count(&job, "recalled"), count(&job, "failed")),
        (20, 0),
        "{job}"
    );
    assert_eq!(requests(&setup.vendors.stats().dingtalk, "gettoken"), 1);

    // Two hours later for the vendor: its token is dead, though the daemon's
    // cache (on the daemon's clock) still holds it as valid.
    setup.vendors.advance_clock(Duration::from_secs(7201));
    let second = setup.seed(Vendor::DingTalk, 20, 0);
    setup.track("ding", &second, "after", None).await;
    let job = setup.run_job("recall", "after").await;
    let stats = setup.vendors.stats().dingtalk;
    let context = format!("job: {job}\nvendor: {stats:?}");
    assert_eq!(count(&job, "recalled"), 20, "{context}");
    assert_eq!(count(&job, "failed"), 0, "{context}");
    assert_eq!(stats.recalled, 40, "{context}");
    assert_eq!(stats.duplicate_recalls, 0, "{context}");
    assert!(
        stats.auth_failures >= 1,
        "the expired token was never refused: {context}"
    );
    assert!(
        requests(&stats, "gettoken") >= 2,
        "no new token was fetched: {context}"
    );
    setup.stop().await;
}

/// vendors.md: DingTalk's `-1` (busy) is tried at most three times. The
/// daemon tells the plugin which attempt an answer is for (ABI 1.1), and the
/// plugin gives up at the third, though the daemon would try eight times.
#[tokio::test(flavor = "multi_thread")]
async fn dingtalk_busy_is_tried_three_times_then_failed() {
    let config = sandbox::Config {
        faults: sandbox::FaultConfig {
            dingtalk: Some(sandbox::FaultRules {
                endpoints: Some(vec!["recall".into()]),
                server_error: sandbox::FaultRule {
                    fraction: 0.0,
                    next: 10,
                },
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let setup = Setup::start(config, |vendor| {
        vec![Account::sandbox("ding", "dingtalk", vendor)]
    })
    .await;
    let ids = setup.seed(Vendor::DingTalk, 1, 0);
    setup.track("ding", &ids, "busy", None).await;
    let job = setup.run_job("recall", "busy").await;
    let stats = setup.vendors.stats().dingtalk;
    let context = format!("job: {job}\nvendor: {stats:?}");
    assert_eq!(count(&job, "failed"), 1, "{context}");
    assert_eq!(requests(&stats, "recall"), 3, "{context}");
    setup.stop().await;
}
