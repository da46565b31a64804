//! The tour's last step: an OTP push is sent and tracked, and the age rule
//! `otp-expiry` takes it back on its own, with no request from anyone.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use reqwest::{Method, StatusCode};
use sandbox::{SeedRequest, Vendor};
use serde_json::json;

use super::Tour;
use super::setup::OTP_AFTER_MS;
use crate::cli::recall::{SignedClient, expect};
use crate::clock::now_ms;

/// What the age-rule step saw.
#[derive(Debug, serde::Serialize)]
pub(super) struct AgeStep {
    pub(super) rule: &'static str,
    pub(super) account: &'static str,
    pub(super) remote_id: String,
    /// The ledger state at the end (`recalled` when it worked).
    pub(super) state: String,
    /// From sending to the ledger saying recalled.
    pub(super) after_sending_ms: i64,
    /// Whether the sandbox saw the push withdrawn.
    vendor_recalled: bool,
}

impl AgeStep {
    pub(super) fn ok(&self) -> bool {
        self.state == "recalled" && self.vendor_recalled && self.after_sending_ms >= OTP_AFTER_MS
    }
}

/// Sends and tracks one OTP push, then waits for the age rule to recall it.
pub(super) async fn age_rule_step(
    tour: &Tour,
    vendors: &sandbox::Sandbox,
    bot: &SignedClient,
) -> anyhow::Result<AgeStep> {
    let account = "jpush-main";
    let before = vendors.stats().jpush.recalled;
    let seeded = vendors.seed(&SeedRequest {
        count: 1,
        vendors: vec![Vendor::JPush],
        sent_ago_secs: 0,
    });
    let remote_id = seeded
        .jpush
        .first()
        .context("the sandbox seeded no push")?
        .clone();
    let sent_at = vendors.now_ms();
    let body = json!({"messages": [{"account": account, "remote_id": remote_id, "tags": ["otp"], "sent_at": sent_at}]});
    let (status, answer) = bot
        .send(Method::POST, "/v1/messages", serde_json::to_vec(&body)?)
        .await?;
    expect(status, answer, StatusCode::OK)?;
    tour.step(format!(
        "sent and tracked an OTP push ({account} {remote_id}, tag otp); age rule otp-expiry recalls it {}s after sending",
        OTP_AFTER_MS / 1000
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    let state = loop {
        let (status, answer) = bot
            .send(Method::GET, "/v1/messages?tag=otp&limit=10", Vec::new())
            .await?;
        let ledger = expect(status, answer, StatusCode::OK)?;
        let state = ledger["messages"][0]["state"]
            .as_str()
            .unwrap_or("missing")
            .to_owned();
        if state != "sent" || Instant::now() > deadline {
            break state;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let after_sending_ms = now_ms() - sent_at;
    let vendor_recalled = vendors.stats().jpush.recalled == before + 1;
    tour.step(format!(
        "age rule otp-expiry: the OTP is {state} {:.1}s after sending (vendor side: {})",
        after_sending_ms as f64 / 1000.0,
        if vendor_recalled {
            "withdrawn"
        } else {
            "NOT withdrawn"
        }
    ));
    Ok(AgeStep {
        rule: "otp-expiry",
        account,
        remote_id,
        state,
        after_sending_ms,
        vendor_recalled,
    })
}
