//! Admin rules (`rules/*.yaml`): event, age and schedule triggers.
//!
//! - [`load`] reads and validates rule files (every error, `file:line:col`).
//! - [`RuleSet`] answers the pure questions: which rules an event fires,
//!   when an age rule recalls a tracked message, when a schedule is next due.
//! - [`live`] keeps the rules in force and swaps them on a valid change.
//! - [`runner`] fires rules: age recalls when due, schedules on time, events
//!   on request; every firing becomes a persisted job.

mod check;
mod check_select;
mod load;
mod matcher;
mod model;
mod permit;
mod raw;
mod template;

pub mod live;
pub mod runner;
mod timers;

use std::collections::BTreeMap;
use std::path::PathBuf;

use plugin_api::OperationKind;
use sha2::{Digest, Sha256};

use crate::accounts::Accounts;
use crate::config::ConfigError;
use crate::host::PluginRegistry;

pub use load::load;
pub use matcher::{MessageView, matches};
pub use model::{FireContext, Rule, SelectTemplate, Trigger};
pub use template::Template;

/// Messages one firing may touch when a rule gives no `limit`.
pub const DEFAULT_RULE_LIMIT: u64 = crate::config::DEFAULT_MAX_MESSAGES;

/// What validation knows about each configured account. `None` when its
/// plugin could not be loaded (`recalld check` still reports the rest).
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub accounts: BTreeMap<String, Option<AccountFacts>>,
}

#[derive(Debug, Clone)]
pub struct AccountFacts {
    pub plugin: String,
    pub operations: Vec<OperationKind>,
    pub recall_window_secs: Option<u64>,
}

impl Env {
    /// From the config alone, with facts for accounts whose plugin the
    /// registry has (for `recalld check` and `recalld rules test`).
    pub fn from_config(config: &crate::config::Config, registry: Option<&PluginRegistry>) -> Env {
        Env {
            accounts: config
                .accounts
                .values()
                .map(|account| {
                    let facts = registry
                        .and_then(|r| r.get(&account.plugin))
                        .map(|plugin| AccountFacts::of(&plugin.manifest));
                    (account.name.clone(), facts)
                })
                .collect(),
        }
    }

    pub fn from_accounts(accounts: &Accounts) -> Env {
        Env {
            accounts: accounts
                .iter()
                .map(|(name, runtime)| {
                    (
                        name.clone(),
                        Some(AccountFacts::of(&runtime.plugin.manifest)),
                    )
                })
                .collect(),
        }
    }
}

impl AccountFacts {
    fn of(manifest: &plugin_api::Manifest) -> AccountFacts {
        AccountFacts {
            plugin: manifest.name.clone(),
            operations: manifest.operations.clone(),
            recall_window_secs: manifest.recall_window_secs,
        }
    }
}

/// A validated set of rules and the warnings `recalld check` shows.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub set: RuleSet,
    pub warnings: Vec<ConfigError>,
}

/// One age recall to schedule for a tracked message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgePlan {
    pub rule: String,
    pub version: String,
    pub due_at_ms: i64,
}

/// The rules in force. Immutable; a reload builds a new one.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    files: Vec<PathBuf>,
}

impl RuleSet {
    pub fn new(rules: Vec<Rule>, files: Vec<PathBuf>) -> RuleSet {
        RuleSet { rules, files }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    pub fn get(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    fn enabled(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().filter(|r| r.enabled)
    }

    /// Enabled rules that `POST /v1/events/{name}` fires, in file order.
    pub fn for_event<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
        self.enabled()
            .filter(move |r| matches!(&r.trigger, Trigger::Event { name: n } if n == name))
    }

    /// The age recalls a newly tracked message gets: one per enabled age
    /// rule whose `sent` selector matches it, due `after` its sending.
    pub fn plan_age(&self, message: MessageView<'_>) -> Vec<AgePlan> {
        self.enabled()
            .filter_map(|rule| match &rule.trigger {
                Trigger::Age { sent, after } if matches(sent, message) => Some(AgePlan {
                    rule: rule.name.clone(),
                    version: rule.version.clone(),
                    due_at_ms: message
                        .sent_at_ms
                        .saturating_add(i64::try_from(after.as_millis()).unwrap_or(i64::MAX)),
                }),
                _ => None,
            })
            .collect()
    }

    /// Whether any enabled age rule exists (tracking skips planning if not).
    pub fn has_age_rules(&self) -> bool {
        self.enabled()
            .any(|r| matches!(r.trigger, Trigger::Age { .. }))
    }

    /// Enabled age rules by name with their version: what pending age
    /// schedules must still agree with.
    pub fn age_versions(&self) -> BTreeMap<String, String> {
        self.enabled()
            .filter(|r| matches!(r.trigger, Trigger::Age { .. }))
            .map(|r| (r.name.clone(), r.version.clone()))
            .collect()
    }

    /// Enabled schedule rules.
    pub fn schedules(&self) -> impl Iterator<Item = &Rule> {
        self.enabled()
            .filter(|r| matches!(r.trigger, Trigger::Schedule { .. }))
    }
}

/// When a schedule rule is next due strictly after `after_ms` (UTC).
pub fn next_occurrence(rule: &Rule, after_ms: i64) -> Option<i64> {
    let Trigger::Schedule { cron, .. } = &rule.trigger else {
        return None;
    };
    let start = chrono::DateTime::from_timestamp_millis(after_ms)?;
    cron.find_next_occurrence(&start, false)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// A short digest of what a rule does. Description, position and file are
/// left out: moving or documenting a rule does not re-plan its schedules.
fn version_of(
    trigger: &Trigger,
    select: &SelectTemplate,
    action: OperationKind,
    limit: u64,
    enabled: bool,
) -> String {
    let trigger = match trigger {
        Trigger::Event { name } => format!("event:{name}"),
        Trigger::Age { sent, after } => format!(
            "age:{}:{}",
            serde_json::to_string(sent).unwrap_or_default(),
            after.as_millis()
        ),
        Trigger::Schedule { expression, .. } => format!("schedule:{expression}"),
    };
    let text = format!("{trigger}|{select:?}|{action}|{limit}|{enabled}");
    let digest = Sha256::digest(text.as_bytes());
    hex::encode(&digest[..8])
}

#[cfg(test)]
mod tests;
