//! `recalld rules test --config F --event E.json | --message M.json`: which
//! rules fire and what they would select, without acting. With a SQLite
//! ledger on disk, the selection is counted there, read only: the file is
//! opened read-only, never created, migrated or written.
//!
//! Exit status: 0 when at least one rule fires, 1 when none does (refused
//! firings included), 64 when the config or the rules are invalid, 65 when
//! the event or message file is not valid, 66 when it cannot be read.

mod verdicts;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::Value;

use super::{EXIT_CONFIG, EXIT_DATAERR, EXIT_NOINPUT};
use crate::config::{Config, StoreUrl};
use crate::rules::Env;
use crate::selector::Millis;
use crate::store::ReadOnlyLedger;
use verdicts::{Verdict, age_verdicts, event_verdicts};

/// Exit status when no rule fires.
pub const EXIT_NONE_FIRES: u8 = 1;

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

/// An `--event` or `--message` file that cannot be used.
#[derive(Debug)]
enum InputError {
    /// Missing or unreadable (EX_NOINPUT).
    Unreadable(String),
    /// Read, but not what it should be (EX_DATAERR).
    Invalid(String),
}

impl InputError {
    fn exit(self) -> ExitCode {
        let (code, message) = match self {
            InputError::Unreadable(m) => (EXIT_NOINPUT, m),
            InputError::Invalid(m) => (EXIT_DATAERR, m),
        };
        eprintln!("recalld: {message}");
        ExitCode::from(code)
    }
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
            let (name, payload) = match read_event(path, args.name.as_deref()) {
                Ok(event) => event,
                Err(e) => return Ok(e.exit()),
            };
            let ledger = open_ledger(&config.store);
            event_verdicts(&rules, &env, ledger.as_ref(), &name, &payload, now)
        }
        (None, Some(path)) => {
            let message = match read_message(path) {
                Ok(message) => message,
                Err(e) => return Ok(e.exit()),
            };
            age_verdicts(&rules, &env, &message, now)
        }
        (None, None) => unreachable!("clap requires --event or --message"),
    };
    print(&verdicts, args.json)?;
    let fired = verdicts.iter().any(|v| v.fires);
    Ok(if fired {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_NONE_FIRES)
    })
}

fn read_input(path: &Path) -> Result<String, InputError> {
    std::fs::read_to_string(path).map_err(|e| {
        let message = format!("{}: {e}", path.display());
        if e.kind() == std::io::ErrorKind::InvalidData {
            InputError::Invalid(message)
        } else {
            InputError::Unreadable(message)
        }
    })
}

fn read_event(path: &Path, name: Option<&str>) -> Result<(String, Value), InputError> {
    let text = read_input(path)?;
    let invalid = |what: &str, e: serde_json::Error| {
        InputError::Invalid(format!("{}: {what}: {e}", path.display()))
    };
    let (name, payload) = match name {
        Some(name) => (
            name.to_owned(),
            serde_json::from_str(&text).map_err(|e| invalid("not JSON", e))?,
        ),
        None => {
            let file: EventFile = serde_json::from_str(&text).map_err(|e| {
                invalid(
                    "expected {\"name\": ..., \"payload\": {...}} (or give --name and the payload alone)",
                    e,
                )
            })?;
            (file.name, file.payload)
        }
    };
    if !payload.is_object() {
        return Err(InputError::Invalid(format!(
            "{}: the event payload must be a JSON object",
            path.display()
        )));
    }
    Ok((name, payload))
}

fn read_message(path: &Path) -> Result<MessageFile, InputError> {
    let text = read_input(path)?;
    serde_json::from_str(&text)
        .map_err(|e| InputError::Invalid(format!("{}: not a message: {e}", path.display())))
}

/// The config's SQLite ledger, read only, when there is one on disk. One
/// that cannot be read is reported and the selections go uncounted.
fn open_ledger(store: &StoreUrl) -> Option<ReadOnlyLedger> {
    let StoreUrl::Sqlite(path) = store else {
        return None;
    };
    if !path.exists() {
        return None;
    }
    ReadOnlyLedger::open(path)
        .map_err(|e| {
            eprintln!(
                "recalld: warning: cannot read the ledger {}: {e}; selections are not counted",
                path.display()
            );
        })
        .ok()
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
        let mark = match (v.fires, v.refused) {
            (true, _) => "fires  ",
            (false, true) => "refused",
            (false, false) => "no     ",
        };
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
