//! `recalld demo`: the whole product in one command, with no vendor account.
//!
//! Starts the vendor sandbox and a daemon (temporary store, the four
//! first-party plugins loaded from beside the binary) on free loopback
//! ports; tracks a few hundred tagged messages the way a sending system
//! would; has a chat-ops bot send a signed recall-by-tag; follows it; prints
//! what happened per vendor and checks it against the sandbox's own count;
//! then tracks an OTP and watches an age rule recall it.
//!
//! This file is the tour, step by step; what it sets up (the daemon's
//! config, the plugins it needs) is in `setup`, the age-rule step in
//! `age_rule`, and the closing report in `summary`.

mod age_rule;
mod setup;
mod summary;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use reqwest::{Method, StatusCode};
use sandbox::{SeedRequest, Vendor};
use serde_json::{Value, json};

use super::recall::{Progress, SignedClient, expect, follow};
use crate::config::Config;
use crate::server::start;
use age_rule::age_rule_step;
use setup::{BOT_SECRET, OTP_RULE, TAG, demo_config, plugin_dir};
use summary::Summary;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Print a machine-readable JSON summary on stdout instead of the tour.
    #[arg(long)]
    pub json: bool,
    /// Messages per vendor.
    #[arg(long, default_value_t = 100)]
    pub per_vendor: usize,
    /// Where the plugin libraries are (default: beside the recalld binary).
    #[arg(long)]
    pub plugins: Option<PathBuf>,
    /// Latency the sandbox adds to each vendor call, in milliseconds.
    #[arg(long, default_value_t = 5)]
    pub latency_ms: u64,
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(demo(args))
}

/// Says what the tour is doing (not in `--json` mode).
struct Tour {
    quiet: bool,
    started: Instant,
}

impl Tour {
    fn step(&self, text: impl AsRef<str>) {
        if !self.quiet {
            eprintln!(
                "[{:>5.1}s] {}",
                self.started.elapsed().as_secs_f64(),
                text.as_ref()
            );
        }
    }
}

async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let tour = Tour {
        quiet: args.json,
        started: Instant::now(),
    };
    let plugins = plugin_dir(&args)?;
    let temp = tempfile::tempdir().context("creating a temporary directory")?;

    // 1. The vendor sandbox, with sent messages to take back.
    let vendors = sandbox::Sandbox::new(sandbox::Config {
        latency_ms: args.latency_ms,
        ..Default::default()
    });
    let (stop_sandbox, sandbox_stopped) = tokio::sync::oneshot::channel::<()>();
    let (vendor_addr, sandbox_task) =
        sandbox::serve(vendors.clone(), ([127, 0, 0, 1], 0).into(), async {
            let _ = sandbox_stopped.await;
        })
        .await?;
    tour.step(format!("vendor sandbox (Feishu, DingTalk, EngageLab, JPush) on http://{vendor_addr}, {} ms latency", args.latency_ms));
    let seeded = vendors.seed(&SeedRequest::new(args.per_vendor));
    let stale = vendors.seed(&SeedRequest {
        count: 1,
        vendors: vec![Vendor::DingTalk],
        sent_ago_secs: 25 * 3600,
    });
    let sent_at = vendors.now_ms();
    let ids: BTreeMap<&str, &Vec<String>> = [
        ("feishu", &seeded.feishu),
        ("dingtalk-main", &seeded.dingtalk),
        ("engagelab-sgp", &seeded.engagelab),
        ("jpush-main", &seeded.jpush),
    ]
    .into();

    // Someone already withdrew a few EngageLab pushes in the vendor console.
    let http = reqwest::Client::new();
    let console = seeded.engagelab.iter().take(3);
    for id in console.clone() {
        http.delete(format!("http://{vendor_addr}/v4/push/withdraw/{id}"))
            .basic_auth("el-sandbox", Some("el-secret"))
            .send()
            .await?
            .error_for_status()?;
    }
    tour.step(format!(
        "sent {} messages per vendor; one DingTalk message 25 h ago (past its 24 h window); 3 EngageLab pushes already withdrawn by hand",
        args.per_vendor
    ));

    // 2. The daemon, with one age rule.
    std::fs::create_dir(temp.path().join("rules"))?;
    std::fs::write(temp.path().join("rules/otp-expiry.yaml"), OTP_RULE)?;
    let text = demo_config(temp.path(), &plugins, vendor_addr);
    let config_path = temp.path().join("recalld.yaml");
    std::fs::write(&config_path, &text)?;
    let config = Config::parse(&config_path, &text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let daemon = start(config).await?;
    let server = format!("http://{}", daemon.addr);
    tour.step(format!(
        "recalld on {server}, store {}, plugins from {}",
        temp.path().join("recalld.db").display(),
        plugins.display()
    ));

    // 3. The sending system tracks what it sent (signed, in batches of 100).
    let bot = SignedClient::connect(&server, BOT_SECRET, "standard-webhooks")?;
    let mut messages: Vec<Value> = Vec::new();
    for (account, list) in &ids {
        for (i, id) in list.iter().enumerate() {
            messages.push(json!({"account": account, "remote_id": id, "tags": [TAG], "sent_at": sent_at, "meta": {"n": i}}));
        }
    }
    for id in &stale.dingtalk {
        messages.push(json!({"account": "dingtalk-main", "remote_id": id, "tags": [TAG], "sent_at": sent_at - 25 * 3_600_000}));
    }
    for chunk in messages.chunks(100) {
        let body = serde_json::to_vec(&json!({ "messages": chunk }))?;
        let (status, answer) = bot.send(Method::POST, "/v1/messages", body).await?;
        expect(status, answer, StatusCode::OK)?;
    }
    tour.step(format!(
        "tracked {} messages tagged {TAG} across 4 vendors (signed POST /v1/messages)",
        messages.len()
    ));

    // 4. The on-call bot asks for everything tagged incident-42 back.
    let body = serde_json::to_vec(
        &json!({"select": {"tags": [TAG]}, "action": "recall", "reason": "demo: wrong announcement"}),
    )?;
    let (status, answer) = bot.send(Method::POST, "/v1/recalls", body).await?;
    let answer = expect(status, answer, StatusCode::ACCEPTED)?;
    let job_id = answer["job_id"]
        .as_i64()
        .context("no job_id in the answer")?;
    let matched = answer["matched"].as_u64().unwrap_or(0);
    tour.step(format!(
        "on-call bot: signed POST /v1/recalls {{tags: [{TAG}]}} -> job {job_id}, {matched} messages"
    ));
    let progress: Progress = if args.json {
        poll_quietly(&bot, job_id).await?
    } else {
        follow(
            &bot,
            job_id,
            matched,
            Duration::from_millis(200),
            Duration::from_secs(120),
        )
        .await?
    };

    // 5. What happened, per vendor, checked against the vendors' own count.
    let stats = vendors.stats();
    let vendor_stats = [
        ("feishu", &stats.feishu),
        ("dingtalk-main", &stats.dingtalk),
        ("engagelab-sgp", &stats.engagelab),
        ("jpush-main", &stats.jpush),
    ];
    let duplicates: u64 = vendor_stats.iter().map(|(_, s)| s.duplicate_recalls).sum();
    let console_duplicates = 3; // the daemon's calls on the 3 pushes withdrawn by hand

    // 6. An OTP push, and the age rule that takes it back.
    let age = age_rule_step(&tour, &vendors, &bot).await?;
    let elapsed = tour.started.elapsed().as_secs_f64();
    drop(bot); // close its keep-alive connections before the server drains
    daemon.stop().await;
    let _ = stop_sandbox.send(());
    let _ = sandbox_task.await;

    let summary = Summary {
        job_id,
        matched,
        progress: &progress,
        vendor_stats: &vendor_stats,
        duplicates,
        console_duplicates,
        age: &age,
        elapsed,
    };
    if args.json {
        summary.print_json()?;
    } else {
        summary.print_text()?;
    }
    Ok(if summary.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Follows a job without a progress bar (for `--json`).
async fn poll_quietly(bot: &SignedClient, job_id: i64) -> anyhow::Result<Progress> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(120);
    loop {
        let (status, answer) = bot
            .send(Method::GET, &format!("/v1/jobs/{job_id}"), Vec::new())
            .await?;
        let progress: Progress = serde_json::from_value(expect(status, answer, StatusCode::OK)?)?;
        if progress.state == "done" {
            return Ok(progress);
        }
        if Instant::now() > deadline {
            bail!(
                "job {job_id} did not finish within 120 s (followed for {} ms)",
                started.elapsed().as_millis()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
