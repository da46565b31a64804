//! EngageLab: a message past its recall window, and a credential the vendor
//! refuses (reported without the secret).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use recalld_tests::api::count;
use recalld_tests::config::Account;
use reqwest::StatusCode;
use sandbox::Vendor;
use serde_json::json;

use crate::setup::{Setup, requests};

#[tokio::test(flavor = "multi_thread")]
async fn a_recall_past_the_window_is_expired_without_a_vendor_call() {
    let setup = Setup::start(sandbox::Config::default(), |vendor| {
        vec![Account::sandbox("el", "engagelab", vendor)]
    })
    .await;
    let stale = setup.seed(Vendor::EngageLab, 1, 90_000);
    let fresh = setup.seed(Vendor::EngageLab, 1, 0);
    setup
        .track(
            "el",
            &stale,
            "late",
            Some(setup.vendors.now_ms() - 90_000_000),
        )
        .await;
    setup.track("el", &fresh, "late", None).await;

    let job = setup.run_job("recall", "late").await;
    let stats = setup.vendors.stats().engagelab;
    let context = format!("job: {job}\nvendor: {stats:?}");
    assert_eq!(count(&job, "expired"), 1, "{context}");
    assert_eq!(count(&job, "recalled"), 1, "{context}");
    assert_eq!(count(&job, "failed"), 0, "{context}");
    // One withdraw: the fresh message's. None for the stale one.
    assert_eq!(requests(&stats, "withdraw"), 1, "{context}");
    assert_eq!(stats.recalled, 1, "{context}");
    let states: Vec<(String, String)> = setup
        .api
        .ledger("late")
        .await
        .iter()
        .map(|m| {
            (
                m["remote_id"].as_str().unwrap_or("?").to_owned(),
                m["state"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    assert!(
        states.contains(&(stale[0].clone(), "expired".to_owned())),
        "{states:?}"
    );
    assert!(
        states.contains(&(fresh[0].clone(), "recalled".to_owned())),
        "{states:?}"
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_credential_is_reported_without_the_secret() {
    const WRONG: &str = "el-wrong-secret-5d1e9a";
    let setup = Setup::start(sandbox::Config::default(), |vendor| {
        vec![
            Account::sandbox("el", "engagelab", vendor)
                .credentials(&format!("{{app_key: el-sandbox, master_secret: {WRONG}}}")),
        ]
    })
    .await;
    let ids = setup.seed(Vendor::EngageLab, 2, 0);
    setup.track("el", &ids, "refused", None).await;
    let job = setup.run_job("recall", "refused").await;
    assert_eq!(count(&job, "failed"), 2, "{job}");
    assert!(
        !job["errors"].as_array().is_none_or(Vec::is_empty),
        "the job names no error: {job}"
    );
    assert_eq!(setup.vendors.stats().engagelab.auth_failures, 2);
    let ledger = json!(setup.api.ledger("refused").await).to_string();
    for secret in [WRONG.to_owned(), B64.encode(format!("el-sandbox:{WRONG}"))] {
        assert!(
            !job.to_string().contains(&secret),
            "the job answer carries {secret:?}: {job}"
        );
        assert!(
            !ledger.contains(&secret),
            "the ledger carries {secret:?}: {ledger}"
        );
    }
    let (status, _) = setup
        .api
        .send(reqwest::Method::GET, "/v1/jobs/999", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    setup.stop().await;
}
