//! Raw rules to typed rules: triggers, actions, limits and what the rule's
//! accounts can do. Selectors are checked in `check_select`.

use std::path::Path;
use std::time::Duration;

use plugin_api::OperationKind;
use serde_saphyr::{Location, Spanned};

use super::Env;
use super::load::at;
use super::model::{Rule, SelectTemplate, Trigger};
use super::raw::{RawRule, RawSelect, RawTrigger};
use crate::config::{ConfigError, parse_duration};

/// The longest an age rule may wait: longer is a typo, and its due times
/// would run past what the ledger and the CLI can show.
const MAX_AFTER: Duration = Duration::from_secs(10 * 365 * 86_400);

/// Raw to typed for one file, collecting errors and warnings.
pub(super) struct Checker<'a> {
    pub file: &'a Path,
    pub env: &'a Env,
    pub errors: &'a mut Vec<ConfigError>,
    pub warnings: &'a mut Vec<ConfigError>,
}

pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl Checker<'_> {
    pub(super) fn error(&mut self, location: Location, message: impl Into<String>) {
        self.errors.push(at(self.file, location, message));
    }

    fn warn(&mut self, location: Location, message: impl Into<String>) {
        self.warnings.push(at(self.file, location, message));
    }

    pub(super) fn rule(&mut self, raw: RawRule, location: Location) -> Option<Rule> {
        let before = self.errors.len();
        let name = raw.name.value.clone();
        if !valid_name(&name) {
            self.error(
                raw.name.referenced,
                format!("rule name {name:?} must be 1-128 letters, digits, '_', '-' or '.'"),
            );
        }
        let action = match raw.action.value.as_str() {
            "recall" => OperationKind::Recall,
            "cancel" => OperationKind::Cancel,
            other => {
                self.error(
                    raw.action.referenced,
                    format!("rule {name}: do: {other:?} is not an action; write recall or cancel"),
                );
                OperationKind::Recall
            }
        };
        let limit = match &raw.limit {
            Some(limit) if limit.value == 0 => {
                self.error(
                    limit.referenced,
                    format!("rule {name}: limit must be at least 1"),
                );
                1
            }
            Some(limit) => limit.value,
            None => super::DEFAULT_RULE_LIMIT,
        };
        let (trigger, select) = self.trigger(&name, raw.on, raw.select)?;
        if self.errors.len() > before {
            return None;
        }
        let enabled = raw.enabled.unwrap_or(true);
        if enabled {
            self.check_accounts(&name, &trigger, &select, action, location);
        }
        let version = super::version_of(&trigger, &select, action, limit, enabled);
        Some(Rule {
            name,
            description: raw.description.unwrap_or_default(),
            enabled,
            trigger,
            select,
            action,
            limit,
            version,
            file: self.file.to_owned(),
            line: location.line(),
            column: location.column(),
        })
    }

    fn trigger(
        &mut self,
        name: &str,
        on: Spanned<RawTrigger>,
        select: Option<Spanned<RawSelect>>,
    ) -> Option<(Trigger, SelectTemplate)> {
        let raw = on.value;
        let given = [
            raw.event.is_some(),
            raw.sent.is_some(),
            raw.schedule.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            self.error(
                on.referenced,
                format!(
                    "rule {name}: on: give exactly one of event, sent (with after) or schedule"
                ),
            );
            return None;
        }
        if let (Some(after), None) = (&raw.after, &raw.sent) {
            self.error(
                after.referenced,
                format!("rule {name}: on.after belongs to age rules (on.sent)"),
            );
        }
        if let Some(event) = raw.event {
            if !valid_name(&event.value) {
                self.error(
                    event.referenced,
                    format!(
                        "rule {name}: on.event {:?} must be letters, digits, '_', '-' or '.' (it is a URL path segment)",
                        event.value
                    ),
                );
            }
            let select = self.required_select(name, select, on.referenced, true)?;
            return Some((Trigger::Event { name: event.value }, select));
        }
        if let Some(sent) = raw.sent {
            if let Some(select) = &select {
                self.error(
                    select.referenced,
                    format!(
                        "rule {name}: an age rule acts on the message that matched on.sent; remove select"
                    ),
                );
            }
            let Some(after) = raw.after else {
                self.error(
                    sent.referenced,
                    format!("rule {name}: on.sent needs on.after (e.g. after: 10m)"),
                );
                return None;
            };
            let after_value = match parse_duration(&after.value) {
                Ok(d) if !d.is_zero() && d <= MAX_AFTER => d,
                Ok(d) if d.is_zero() => {
                    self.error(
                        after.referenced,
                        format!("rule {name}: on.after must be longer than 0"),
                    );
                    return None;
                }
                Ok(_) => {
                    self.error(
                        after.referenced,
                        format!(
                            "rule {name}: on.after must be at most {} (10 years)",
                            humantime::format_duration(MAX_AFTER)
                        ),
                    );
                    return None;
                }
                Err(e) => {
                    self.error(after.referenced, format!("rule {name}: on.after: {e}"));
                    return None;
                }
            };
            if sent.value.older_than.is_some() || sent.value.newer_than.is_some() {
                self.error(
                    sent.referenced,
                    format!("rule {name}: on.sent: older_than and newer_than are for select; an age rule waits `after`"),
                );
            }
            let template = self.select(name, "on.sent", sent.value, sent.referenced, false)?;
            let selector = self.literal_selector(name, &template, sent.referenced)?;
            return Some((
                Trigger::Age {
                    sent: selector,
                    after: after_value,
                },
                SelectTemplate::default(),
            ));
        }
        let schedule = raw.schedule?;
        let cron = match croner::parser::CronParser::new().parse(schedule.value.trim()) {
            Ok(cron) => cron,
            Err(e) => {
                self.error(
                    schedule.referenced,
                    format!(
                        "rule {name}: on.schedule {:?} is not a cron expression: {e} (write e.g. \"0 3 * * *\", evaluated in UTC)",
                        schedule.value
                    ),
                );
                return None;
            }
        };
        // Parsing alone accepts days that never come ("0 0 30 2 *") and
        // years gone by (a seventh field); the timers would skip them.
        let from = chrono::DateTime::from_timestamp_millis(crate::clock::now_ms())?;
        if cron.find_next_occurrence(&from, false).is_err() {
            self.error(
                schedule.referenced,
                format!(
                    "rule {name}: on.schedule {:?} never comes again (no such day, or a year gone by)",
                    schedule.value
                ),
            );
            return None;
        }
        let select = self.required_select(name, select, on.referenced, false)?;
        Some((
            Trigger::Schedule {
                expression: schedule.value.trim().to_owned(),
                cron: Box::new(cron),
            },
            select,
        ))
    }

    fn required_select(
        &mut self,
        name: &str,
        select: Option<Spanned<RawSelect>>,
        on: Location,
        event: bool,
    ) -> Option<SelectTemplate> {
        let Some(select) = select else {
            self.error(on, format!("rule {name}: needs a select"));
            return None;
        };
        self.select(name, "select", select.value, select.referenced, event)
    }

    /// Actions an account's plugin lacks, and age rules longer than a
    /// recall window: errors when the rule names the account, warnings when
    /// it could only reach it.
    fn check_accounts(
        &mut self,
        name: &str,
        trigger: &Trigger,
        select: &SelectTemplate,
        action: OperationKind,
        location: Location,
    ) {
        let named: Vec<String> = match trigger {
            Trigger::Age { sent, .. } => sent.accounts.clone(),
            _ => select
                .accounts
                .iter()
                .filter(|t| !t.has_refs())
                .filter_map(|t| t.render(None).ok())
                .collect(),
        };
        let reachable: Vec<(&String, &super::AccountFacts)> = self
            .env
            .accounts
            .iter()
            .filter(|(account, _)| named.is_empty() || named.contains(account))
            .filter_map(|(account, facts)| facts.as_ref().map(|f| (account, f)))
            .collect();
        for (account, facts) in &reachable {
            if !facts.operations.contains(&action) {
                let message = format!(
                    "rule {name}: account {account} (plugin {}) cannot {action}",
                    facts.plugin
                );
                if named.is_empty() {
                    let message = format!(
                        "{message}; firings that match its messages will be refused; narrow select.accounts"
                    );
                    self.warnings.push(at(self.file, location, message));
                } else {
                    self.error(location, message);
                }
            }
            // The dispatcher's own test, for a recall `after` its sending.
            let after_ms =
                |after: &std::time::Duration| i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
            if let (Trigger::Age { after, .. }, Some(window)) = (trigger, facts.recall_window_secs)
                && crate::dispatch::past_window(Some(window), 0, after_ms(after))
            {
                self.warn(
                    location,
                    format!(
                        "rule {name}: after {} is longer than account {account}'s recall window ({}); its recalls will be recorded as expired",
                        humantime::format_duration(*after),
                        humantime::format_duration(std::time::Duration::from_secs(window))
                    ),
                );
            }
        }
    }
}
