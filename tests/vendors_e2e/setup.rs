//! A sandbox and a daemon against it, both in the test's process, and the
//! few steps every vendor test takes: seed sent messages, track them, run a
//! job on them and wait for its end.

use std::time::Duration;

use recalld::server::Running;
use recalld_tests::api::Api;
use recalld_tests::config::{Account, config_yaml};
use recalld_tests::inprocess::{serve_sandbox, start_daemon};
use sandbox::{Sandbox, SeedRequest, Vendor};
use serde_json::{Value, json};
use tempfile::TempDir;

/// How long any one job may take.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// A sandbox with `config` and a daemon with `accounts` against it
/// (in-memory store). The temporary directory holds the config file.
pub struct Setup {
    pub vendors: Sandbox,
    pub vendor_addr: String,
    daemon: Running,
    pub api: Api,
    _dir: TempDir,
}

impl Setup {
    pub async fn start(
        config: sandbox::Config,
        accounts: impl FnOnce(&str) -> Vec<Account>,
    ) -> Setup {
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
    pub fn seed(&self, vendor: Vendor, count: usize, sent_ago_secs: u64) -> Vec<String> {
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
    pub async fn track(&self, account: &str, ids: &[String], tag: &str, sent_at: Option<i64>) {
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
    pub async fn run_job(&self, action: &str, tag: &str) -> Value {
        let request = json!({"select": {"tags": [tag]}, "action": action, "reason": "e2e"});
        let (job_id, _) = self.api.recall(request).await;
        self.api.job_done(job_id, JOB_TIMEOUT).await
    }

    pub async fn stop(self) {
        drop(self.api); // its keep-alive connections would hold up the drain
        self.daemon.stop().await;
    }
}

/// How many requests the sandbox counted at `endpoint` of one vendor.
pub fn requests(stats: &sandbox::VendorStats, endpoint: &str) -> u64 {
    stats
        .requests
        .get(endpoint)
        .copied()
        .unwrap_or_else(|| panic!("no endpoint {endpoint} in {stats:?}"))
}
