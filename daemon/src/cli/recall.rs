//! `recalld recall --server URL --secret S --tag T [--dry-run] [--follow]`
//! (or `--job ID` to follow a job started before): the chat-ops client.
//! Signs `POST /v1/recalls`, prints the job (or the dry-run matches) and,
//! with `--follow`, polls the signed
//! `GET /v1/jobs/{id}` behind a progress bar until the job is done, then
//! prints a per-account summary.
//!
//! Exit status: 0 when the job ended with no failed message, 3 when some
//! failed, 1 on any error (refused request, unreachable server, timeout),
//! 2 for a command-line mistake (clap's usage error).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use super::sign::{fresh_id, headers_for};
use crate::api::{RecallAction, RecallRequest};
use crate::selector::Selector;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ActionArg {
    Recall,
    Cancel,
}

#[derive(Debug, Args)]
pub struct RecallArgs {
    /// The daemon's base URL, e.g. http://127.0.0.1:8787.
    #[arg(long)]
    pub server: String,
    /// The client secret (`whsec_...` for standard-webhooks). Prefer
    /// RECALLD_SECRET in the environment: arguments show up in `ps`.
    #[arg(long, env = "RECALLD_SECRET", hide_env_values = true)]
    pub secret: String,
    /// Signature scheme of this client.
    #[arg(long, default_value = "standard-webhooks", value_parser = ["standard-webhooks", "github"])]
    pub scheme: String,
    /// Select messages carrying this tag; repeat it to require every tag.
    #[arg(long = "tag", value_name = "TAG", required_unless_present = "job")]
    pub tags: Vec<String>,
    /// Follow the job with this id, started before, instead of starting one.
    #[arg(long, value_name = "ID", conflicts_with_all = ["tags", "accounts", "dry_run"])]
    pub job: Option<i64>,
    /// Only messages of this account (repeatable).
    #[arg(long = "account", value_name = "ACCOUNT")]
    pub accounts: Vec<String>,
    /// What to do to the selected messages.
    #[arg(long, value_enum, default_value_t = ActionArg::Recall)]
    pub action: ActionArg,
    /// Why, for the audit log.
    #[arg(long, default_value = "")]
    pub reason: String,
    /// Show what would be selected; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Follow the job with a progress bar until it is done.
    #[arg(long, conflicts_with = "dry_run")]
    pub follow: bool,
    /// How often `--follow` asks for progress.
    #[arg(long, default_value = "500ms", value_parser = crate::config::parse_duration)]
    pub interval: Duration,
    /// Stop following after this long (the job itself keeps running).
    #[arg(long, default_value = "1h", value_parser = crate::config::parse_duration)]
    pub timeout: Duration,
}

/// Exit status when the job finished but some messages failed (not 2:
/// clap exits 2 for usage errors).
pub const EXIT_SOME_FAILED: u8 = 3;

pub fn run(args: RecallArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut stdout = std::io::stdout().lock();
    runtime.block_on(recall(args, &mut stdout))
}

/// Signs and sends requests as one client.
pub(crate) struct SignedClient {
    http: reqwest::Client,
    base: String,
    secret: String,
    scheme: String,
}

impl SignedClient {
    fn new(args: &RecallArgs) -> anyhow::Result<SignedClient> {
        SignedClient::connect(&args.server, &args.secret, &args.scheme)
    }

    /// A client of `server` signing with `secret` under `scheme`.
    pub(crate) fn connect(
        server: &str,
        secret: &str,
        scheme: &str,
    ) -> anyhow::Result<SignedClient> {
        crate::api::install_crypto();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(SignedClient {
            http,
            base: server.trim_end_matches('/').to_owned(),
            secret: secret.to_owned(),
            scheme: scheme.to_owned(),
        })
    }

    /// Sends a signed request: status and JSON answer (`null` when not JSON).
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let now_secs = crate::clock::now_ms() / 1000;
        let headers = headers_for(&self.secret, &self.scheme, &fresh_id(), now_secs, &body)?;
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if !body.is_empty() {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("reading the answer of {url}"))?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }
}

/// The answer if it has the expected status; otherwise the server's error.
pub(crate) fn expect(status: StatusCode, answer: Value, want: StatusCode) -> anyhow::Result<Value> {
    if status == want {
        return Ok(answer);
    }
    let code = answer["error"]["code"].as_str().unwrap_or("unknown");
    let message = answer["error"]["message"]
        .as_str()
        .unwrap_or("(no error message)");
    bail!("the server answered {status}: {code}: {message}")
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(default)]
pub(crate) struct Counts {
    pub(crate) total: u64,
    pub(crate) recalled: u64,
    pub(crate) already_recalled: u64,
    pub(crate) expired: u64,
    pub(crate) failed: u64,
    pub(crate) pending: u64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Progress {
    pub(crate) state: String,
    #[serde(flatten)]
    pub(crate) counts: Counts,
    #[serde(default)]
    pub(crate) accounts: BTreeMap<String, Counts>,
    #[serde(default)]
    pub(crate) errors: Vec<ErrorCount>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ErrorCount {
    pub(crate) error: String,
    pub(crate) count: u64,
}

/// The command, writing its report to `out`.
pub async fn recall(args: RecallArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let client = SignedClient::new(&args)?;
    if let Some(job_id) = args.job {
        return follow_to_the_end(&client, job_id, 0, &args, out).await;
    }
    let request = RecallRequest {
        select: Selector {
            tags: args.tags.clone(),
            accounts: args.accounts.clone(),
            ..Selector::default()
        },
        action: match args.action {
            ActionArg::Recall => RecallAction::Recall,
            ActionArg::Cancel => RecallAction::Cancel,
        },
        dry_run: args.dry_run,
        reason: args.reason.clone(),
    };
    let (status, answer) = client
        .send(Method::POST, "/v1/recalls", serde_json::to_vec(&request)?)
        .await?;
    if args.dry_run {
        let answer = expect(status, answer, StatusCode::OK)?;
        print_dry_run(&answer, out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let answer = expect(status, answer, StatusCode::ACCEPTED)?;
    let job_id = answer["job_id"]
        .as_i64()
        .context("the answer has no job_id")?;
    let matched = answer["matched"].as_u64().unwrap_or(0);
    writeln!(out, "job {job_id}: {matched} message(s) matched")?;
    if !args.follow {
        // `--follow` again would start a second job.
        writeln!(
            out,
            "follow it with: recalld recall --server {} --job {job_id}, or GET /v1/jobs/{job_id}",
            args.server
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    follow_to_the_end(&client, job_id, matched, &args, out).await
}

/// Follows job `job_id` until it is done, prints the summary; the exit status.
async fn follow_to_the_end(
    client: &SignedClient,
    job_id: i64,
    matched: u64,
    args: &RecallArgs,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let progress = follow(client, job_id, matched, args.interval, args.timeout).await?;
    print_summary(&progress, out)?;
    Ok(if progress.counts.failed > 0 {
        ExitCode::from(EXIT_SOME_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_dry_run(answer: &Value, out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(
        out,
        "dry run: {} message(s) would be selected",
        answer["matched"].as_u64().unwrap_or(0)
    )?;
    if let Some(per_account) = answer["per_account"].as_object() {
        for (account, n) in per_account {
            writeln!(out, "  {account:<24} {n}")?;
        }
    }
    let sample = answer["sample"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !sample.is_empty() {
        writeln!(out, "sample:")?;
        for row in sample {
            let account = row["account"].as_str().unwrap_or("?");
            let remote_id = row["remote_id"].as_str().unwrap_or("?");
            let state = row["state"].as_str().unwrap_or("?");
            writeln!(out, "  {account:<24} {remote_id:<32} {state}")?;
        }
    }
    Ok(())
}

/// Polls the job until it is done (or `timeout` passes), driving a bar on stderr.
pub(crate) async fn follow(
    client: &SignedClient,
    job_id: i64,
    matched: u64,
    interval: Duration,
    timeout: Duration,
) -> anyhow::Result<Progress> {
    let bar = indicatif::ProgressBar::new(matched);
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} [{bar:40}] {pos}/{len} {msg} ({elapsed})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    let deadline = Instant::now() + timeout;
    loop {
        let (status, answer) = client
            .send(Method::GET, &format!("/v1/jobs/{job_id}"), Vec::new())
            .await?;
        let progress: Progress = serde_json::from_value(expect(status, answer, StatusCode::OK)?)
            .context("the job progress has an unexpected shape")?;
        let c = progress.counts;
        bar.set_length(c.total);
        bar.set_position(c.total - c.pending);
        bar.set_message(format!(
            "recalled {}, already {}, expired {}, failed {}",
            c.recalled, c.already_recalled, c.expired, c.failed
        ));
        if progress.state == "done" {
            bar.finish();
            return Ok(progress);
        }
        if Instant::now() >= deadline {
            bar.abandon();
            bail!(
                "job {job_id} is still running after {}; it goes on without us",
                humantime::format_duration(timeout)
            );
        }
        tokio::time::sleep(interval).await;
    }
}

pub(crate) fn print_summary(progress: &Progress, out: &mut impl Write) -> anyhow::Result<()> {
    let row = |out: &mut dyn Write, name: &str, c: &Counts| {
        writeln!(
            out,
            "{name:<24} {:>9} {:>17} {:>8} {:>7}",
            c.recalled, c.already_recalled, c.expired, c.failed
        )
    };
    writeln!(
        out,
        "{:<24} {:>9} {:>17} {:>8} {:>7}",
        "account", "recalled", "already recalled", "expired", "failed"
    )?;
    for (account, counts) in &progress.accounts {
        row(out, account, counts)?;
    }
    row(out, "total", &progress.counts)?;
    if !progress.errors.is_empty() {
        writeln!(out, "errors:")?;
        for e in &progress.errors {
            writeln!(out, "  {:>5} x {}", e.count, e.error)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
