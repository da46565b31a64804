//! `recalld rules test --config F --event E.json | --message M.json`: which
//! rules fire and what they would select, without acting. With a SQLite
//! ledger on disk, the selection is counted there (read only).
//!
//! Exit status: 0 when at least one rule fires, 1 when none does, 64 when
//! the config or the rules are invalid.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::EXIT_CONFIG;
use crate::config::{Config, StoreUrl};
use crate::dispatch::past_window;
use crate::rules::{Env, FireContext, MessageView, RuleSet, Trigger};
use crate::selector::{Millis, Selector};
use crate::store::{Preview, SqliteStore, Store as _};

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Show which rules an event or a tracked message would fire (dry run).
    Test(TestArgs),
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("input").required(true).args(["event", "message"]))]
pub struct TestArgs {
    #[arg(long)]
    pub config: PathBuf,
    /// An event: `{"name": "incident.closed", "payload": {...}}`, or with
    /// `--name` the payload alone.
    #[arg(long)]
    pub event: Option<PathBuf>,
    /// The event's name, when `--event` holds only the payload.
    #[arg(long, requires = "event")]
    pub name: Option<String>,
    /// A message as `POST /v1/messages` tracks it (for age rules).
    #[arg(long)]
    pub message: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventFile {
    name: String,
    #[serde(default)]
    payload: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageFile {
    account: String,
    remote_id: String,
    #[serde(default)]
    sent_at: Option<Millis>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default = "empty_object")]
    meta: Value,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// One rule's verdict.
#[derive(Debug, Serialize)]
struct Verdict {
    rule: String,
    fires: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    select: Option<Selector>,
    #[serde(skip_serializing_if = "Option::is_none")]
    matched: Option<Preview>,
    /// Age rules: when the recall would be due.
    #[serde(skip_serializing_if = "Option::is_none")]
    due_at_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

pub fn run(command: RulesCommand) -> anyhow::Result<ExitCode> {
    let RulesCommand::Test(args) = command;
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let registry = crate::host::PluginRegistry::from_sources(&config.plugins).ok();
    let env = Env::from_config(&config, registry.as_ref());
    let rules = match crate::rules::load(&config.rules.files, &env) {
        Ok(loaded) => loaded.set,
        Err(errors) => {
            for error in errors {
                eprintln!("{error}");
            }
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let now = crate::clock::now_ms();
    let verdicts = match (&args.event, &args.message) {
        (Some(path), _) => {
            let (name, payload) = read_event(path, args.name.as_deref())?;
            let verdicts = event_verdicts(&rules, &name, &payload, now);
            let runtime = tokio::runtime::Builder::new_current_thread().build()?;
            runtime.block_on(count_in_ledger(&config.store, verdicts))?
        }
        (None, Some(path)) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
            let message: MessageFile = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a message", path.display()))?;
            age_verdicts(&rules, &env, &message, now)
        }
        (None, None) => unreachable!("clap requires --event or --message"),
    };
    print(&verdicts, args.json)?;
    let fired = verdicts.iter().any(|v| v.fires);
    Ok(if fired {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn read_event(path: &Path, name: Option<&str>) -> anyhow::Result<(String, Value)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let (name, payload) = match name {
        Some(name) => (
            name.to_owned(),
            serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?,
        ),
        None => {
            let file: EventFile = serde_json::from_str(&text).with_context(|| {
                format!("{}: expected {{\"name\": ..., \"payload\": {{...}}}} (or give --name and the payload alone)", path.display())
            })?;
            (file.name, file.payload)
        }
    };
    anyhow::ensure!(
        payload.is_object(),
        "{}: the event payload must be a JSON object",
        path.display()
    );
    Ok((name, payload))
}

/// Event rules: each listening rule fires (with its selector) or is refused.
fn event_verdicts(rules: &RuleSet, name: &str, payload: &Value, now: i64) -> Vec<Verdict> {
    let ctx = FireContext {
        event: Some(payload),
        now_ms: now,
    };
    rules
        .rules()
        .iter()
        .filter(|r| matches!(&r.trigger, Trigger::Event { name: n } if n == name))
        .map(|rule| {
            let mut verdict = Verdict {
                rule: rule.name.clone(),
                fires: false,
                select: None,
                matched: None,
                due_at_ms: None,
                note: None,
            };
            if !rule.enabled {
                verdict.note = Some("disabled".into());
                return verdict;
            }
            match rule.select.render(ctx) {
                Ok(select) => {
                    verdict.fires = true;
                    verdict.note =
                        Some(format!("{} at most {} message(s)", rule.action, rule.limit));
                    verdict.select = Some(select);
                }
                Err(e) => verdict.note = Some(format!("refused: {e}")),
            }
            verdict
        })
        .collect()
}

/// Age rules: which match the message and when each recall would be due.
fn age_verdicts(rules: &RuleSet, env: &Env, message: &MessageFile, now: i64) -> Vec<Verdict> {
    let sent_at_ms = message.sent_at.map_or(now, |t| t.0);
    let view = MessageView {
        account: &message.account,
        remote_id: &message.remote_id,
        sent_at_ms,
        tags: &message.tags,
        meta: &message.meta,
    };
    let window = env
        .accounts
        .get(&message.account)
        .cloned()
        .flatten()
        .and_then(|f| f.recall_window_secs);
    let plans = rules.plan_age(view);
    rules
        .rules()
        .iter()
        .filter(|r| r.enabled && matches!(r.trigger, Trigger::Age { .. }))
        .map(|rule| {
            let plan = plans.iter().find(|p| p.rule == rule.name);
            let note = plan.map(|p| {
                let due = humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH
                        + std::time::Duration::from_millis(u64::try_from(p.due_at_ms).unwrap_or(0)),
                );
                // The dispatcher's own test, at the time the recall is due.
                let expired = if past_window(window, sent_at_ms, p.due_at_ms) {
                    "; past the account's recall window: it will be recorded as expired"
                } else {
                    ""
                };
                format!("{} at {due}{expired}", rule.action)
            });
            Verdict {
                rule: rule.name.clone(),
                fires: plan.is_some(),
                select: None,
                matched: None,
                due_at_ms: plan.map(|p| p.due_at_ms),
                note: note.or(Some("does not match".into())),
            }
        })
        .collect()
}

/// Counts each firing rule's selection in the ledger, when there is one on disk.
async fn count_in_ledger(
    store: &StoreUrl,
    mut verdicts: Vec<Verdict>,
) -> anyhow::Result<Vec<Verdict>> {
    let StoreUrl::Sqlite(path) = store else {
        return Ok(verdicts);
    };
    if !path.exists() {
        return Ok(verdicts);
    }
    let ledger = SqliteStore::open(path)
        .with_context(|| format!("cannot open the ledger {}", path.display()))?;
    for verdict in &mut verdicts {
        if let Some(select) = &verdict.select {
            verdict.matched = Some(ledger.preview(select.clone(), 5).await?);
        }
    }
    Ok(verdicts)
}

fn print(verdicts: &[Verdict], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(verdicts)?);
        return Ok(());
    }
    if verdicts.is_empty() {
        println!("no rule listens");
    }
    for v in verdicts {
        let mark = if v.fires { "fires  " } else { "no     " };
        println!("{mark} {}: {}", v.rule, v.note.as_deref().unwrap_or(""));
        if let Some(select) = &v.select {
            println!("         select {}", serde_json::to_string(select)?);
        }
        if let Some(preview) = &v.matched {
            println!(
                "         matches {} message(s) in the ledger now {:?}",
                preview.matched, preview.per_account
            );
        }
    }
    Ok(())
}
