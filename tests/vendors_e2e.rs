//! Each first-party plugin through the real host and dispatcher against the
//! vendor sandbox (issue 4): the daemon and the sandbox run in the test's
//! process, on loopback ports, and talk HTTP to each other.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use recalld::server::Running;
use recalld_tests::api::{Api, count, http};
use recalld_tests::config::{Account, config_yaml};
use recalld_tests::inprocess::{serve_sandbox, start_daemon};
use recalld_tests::wait;
use reqwest::StatusCode;
use sandbox::{Sandbox, SeedRequest, Vendor};
use serde_json::{Value, json};
use tempfile::TempDir;

/// How long any one job may take.
const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// A sandbox with `config` and a daemon with `accounts` against it
/// (in-memory store). The temporary directory holds the config file.
struct Setup {
    vendors: Sandbox,
    vendor_addr: String,
    daemon: Running,
    api: Api,
    _dir: TempDir,
}

impl Setup {
    async fn start(config: sandbox::Config, accounts: impl FnOnce(&str) -> Vec<Account>) -> Setup {
        let vendors = Sandbox::new(config);
        let vendor_addr = serve_sandbox(&vendors).await.to_string();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let yaml = config_yaml("sqlite::memory:", &accounts(&vendor_addr));
        let (daemon, api) = start_daemon(dir.path(), &yaml).await;
        Setup {
            vendors,
            vendor_addr,
            daemon,
            api,
            _dir: dir,
        }
    }

    /// Seeds `count` sent messages of `vendor`, `sent_ago_secs` ago (sandbox time).
    fn seed(&self, vendor: Vendor, count: usize, sent_ago_secs: u64) -> Vec<String> {
        let seeded = self.vendors.seed(&SeedRequest {
            count,
            vendors: vec![vendor],
            sent_ago_secs,
        });
        match vendor {
            Vendor::Feishu => seeded.feishu,
            Vendor::DingTalk => seeded.dingtalk,
            Vendor::EngageLab => seeded.engagelab,
            Vendor::JPush => seeded.jpush,
        }
    }

    /// Tracks `ids` of `account` with `tag`; sent now unless `sent_at` says otherwise.
    async fn track(&self, account: &str, ids: &[String], tag: &str, sent_at: Option<i64>) {
        let messages: Vec<Value> = ids
            .iter()
            .map(|id| {
                let mut m = json!({"account": account, "remote_id": id, "tags": [tag]});
                if let Some(at) = sent_at {
                    m["sent_at"] = json!(at);
                }
                m
            })
            .collect();
        self.api.track(&messages).await;
    }

    /// Runs `action` on everything tagged `tag` and waits for the job to end.
    async fn run_job(&self, action: &str, tag: &str) -> Value {
        let request = json!({"select": {"tags": [tag]}, "action": action, "reason": "e2e"});
        let (job_id, _) = self.api.recall(request).await;
        self.api.job_done(job_id, JOB_TIMEOUT).await
    }

    async fn stop(self) {
        drop(self.api); // its keep-alive connections would hold up the drain
        self.daemon.stop().await;
    }
}

fn requests(stats: &sandbox::VendorStats, endpoint: &str) -> u64 {
    stats
        .requests
        .get(endpoint)
        .copied()
        .unwrap_or_else(|| panic!("no endpoint {endpoint} in {stats:?}"))
}

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

const NOTIFICATIONS: &str = "/open-apis/helpdesk/v1/notifications";

/// Creates a helpdesk notification through the vendor API and schedules it an
/// hour ahead (state scheduled: approved, not sent yet); its id.
async fn scheduled_notification(client: &reqwest::Client, vendor: &str, now_ms: i64) -> String {
    let helpdesk = B64.encode("hd-sandbox:hd-token-sandbox");
    let call = |path: String, body: Value| {
        client
            .post(format!("http://{vendor}{NOTIFICATIONS}{path}"))
            .bearer_auth("u-sandbox")
            .header("x-lark-helpdesk-authorization", &helpdesk)
            .json(&body)
            .send()
    };
    let created = call(
        String::new(),
        json!({"job_name": "maintenance", "push_content": json!({"elements": []}).to_string(), "push_type": 0,
               "push_scope_type": 2, "user_list": [{"user_id": "ou_1"}]}),
    )
    .await
    .expect("create");
    let created: Value = created.json().await.expect("a JSON answer");
    let id = created["data"]["notification_id"]
        .as_str()
        .unwrap_or_else(|| panic!("create answered {created}"))
        .to_owned();
    for (op, body) in [
        ("submit_approve", json!({"reason": "e2e"})),
        (
            "execute_send",
            json!({"send_at": (now_ms + 3_600_000).to_string()}),
        ),
    ] {
        let answer: Value = call(format!("/{id}/{op}"), body)
            .await
            .expect(op)
            .json()
            .await
            .expect("JSON");
        assert_eq!(answer["code"], 0, "{op}: {answer}");
    }
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn feishu_helpdesk_recall_and_cancel_work_against_the_sandbox() {
    let setup = Setup::start(sandbox::Config::default(), |vendor| {
        vec![Account::sandbox("fs", "feishu-helpdesk", vendor)]
    })
    .await;

    // Sent notifications are recalled.
    let sent = setup.seed(Vendor::Feishu, 5, 0);
    setup.track("fs", &sent, "fs-recall", None).await;
    let job = setup.run_job("recall", "fs-recall").await;
    let stats = setup.vendors.stats().feishu;
    assert_eq!(
        (count(&job, "recalled"), count(&job, "failed")),
        (5, 0),
        "job: {job}\nvendor: {stats:?}"
    );
    assert_eq!(
        (stats.recalled, stats.duplicate_recalls),
        (5, 0),
        "{stats:?}"
    );

    // Scheduled ones are cancelled before they go out.
    let client = http();
    let mut scheduled = Vec::new();
    for _ in 0..3 {
        scheduled.push(
            scheduled_notification(&client, &setup.vendor_addr, setup.vendors.now_ms()).await,
        );
    }
    setup.track("fs", &scheduled, "fs-cancel", None).await;
    let job = setup.run_job("cancel", "fs-cancel").await;
    let stats = setup.vendors.stats().feishu;
    let context = format!("job: {job}\nvendor: {stats:?}");
    assert_eq!(
        (count(&job, "recalled"), count(&job, "failed")),
        (3, 0),
        "{context}"
    );
    assert_eq!(stats.cancelled, 3, "{context}");
    assert_eq!(stats.recalled, 5, "a cancel must not recall: {context}");
    for row in setup.api.ledger("fs-cancel").await {
        assert_eq!(row["state"], "cancelled", "{row}");
    }
    let helpdesk = B64.encode("hd-sandbox:hd-token-sandbox");
    for id in &scheduled {
        let answer: Value = client
            .get(format!("http://{}{NOTIFICATIONS}/{id}", setup.vendor_addr))
            .bearer_auth("u-sandbox")
            .header("x-lark-helpdesk-authorization", &helpdesk)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("JSON");
        assert_eq!(
            answer["data"]["notification"]["status"], 6,
            "{id} is not cancelled: {answer}"
        );
    }
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
