//! One verdict per rule: fires, refused (as the daemon would refuse the
//! firing), or does not match.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use plugin_api::OperationKind;
use serde::Serialize;
use serde_json::Value;

use super::MessageFile;
use crate::dispatch::past_window;
use crate::rules::{Env, FireContext, MessageView, Rule, RuleSet, Trigger};
use crate::selector::Selector;
use crate::store::{Preview, ReadOnlyLedger};

/// One rule's verdict.
#[derive(Debug, Serialize)]
pub(super) struct Verdict {
    pub rule: String,
    pub fires: bool,
    /// The rule listens but the daemon would refuse the firing (see `note`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub refused: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub select: Option<Selector>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<Preview>,
    /// Age rules: when the recall would be due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_at_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Verdict {
    fn of(rule: &Rule) -> Verdict {
        Verdict {
            rule: rule.name.clone(),
            fires: false,
            refused: false,
            select: None,
            matched: None,
            due_at_ms: None,
            note: None,
        }
    }

    fn refuse(mut self, why: impl std::fmt::Display) -> Verdict {
        self.refused = true;
        self.note = Some(format!("refused: {why}"));
        self
    }
}

/// Event rules: each listening rule fires (with its selector, counted in
/// the ledger when there is one) or is refused for the reasons the daemon
/// would refuse it.
pub(super) fn event_verdicts(
    rules: &RuleSet,
    env: &Env,
    ledger: Option<&ReadOnlyLedger>,
    name: &str,
    payload: &Value,
    now: i64,
) -> Vec<Verdict> {
    let ctx = FireContext {
        event: Some(payload),
        now_ms: now,
    };
    rules
        .rules()
        .iter()
        .filter(|r| matches!(&r.trigger, Trigger::Event { name: n } if n == name))
        .map(|rule| event_verdict(rule, ctx, env, ledger))
        .collect()
}

fn event_verdict(
    rule: &Rule,
    ctx: FireContext<'_>,
    env: &Env,
    ledger: Option<&ReadOnlyLedger>,
) -> Verdict {
    let mut verdict = Verdict::of(rule);
    if !rule.enabled {
        verdict.note = Some("disabled".into());
        return verdict;
    }
    let select = match rule.select.render(ctx) {
        Ok(select) => select,
        Err(e) => return verdict.refuse(e),
    };
    verdict.select = Some(select.clone());
    // The daemon's own checks (`Firer::spec`), in its order.
    if let Err(e) = select.validate(|a| env.accounts.contains_key(a)) {
        return verdict.refuse(e);
    }
    if let Some(ledger) = ledger {
        match ledger.preview(&select, 5) {
            Ok(preview) => verdict.matched = Some(preview),
            Err(e) => eprintln!(
                "recalld: warning: cannot count rule {} in the ledger: {e}",
                rule.name
            ),
        }
    }
    let reached: Vec<&str> = if !select.accounts.is_empty() {
        select.accounts.iter().map(String::as_str).collect()
    } else {
        verdict
            .matched
            .iter()
            .flat_map(|p| p.per_account.keys().map(String::as_str))
            .collect()
    };
    let lacking = unsupported(env, &reached, rule.action);
    if !lacking.is_empty() {
        let why = format!(
            "{} is not supported by account(s) {}; narrow select.accounts",
            rule.action,
            lacking.join(", ")
        );
        return verdict.refuse(why);
    }
    if let Some(preview) = verdict.matched.as_ref().filter(|p| p.matched > rule.limit) {
        let why = format!(
            "the selector matches {} messages, more than the {} one firing may touch (rule limit)",
            preview.matched, rule.limit
        );
        return verdict.refuse(why);
    }
    verdict.fires = true;
    verdict.note = Some(format!("{} at most {} message(s)", rule.action, rule.limit));
    verdict
}

/// The accounts among `reached` whose plugin is known and cannot do `action`.
fn unsupported(env: &Env, reached: &[&str], action: OperationKind) -> Vec<String> {
    reached
        .iter()
        .filter_map(|name| {
            let facts = env.accounts.get(*name)?.as_ref()?;
            (!facts.operations.contains(&action))
                .then(|| format!("{name} (plugin {})", facts.plugin))
        })
        .collect()
}

/// Age rules: which match the message and when each recall would be due.
pub(super) fn age_verdicts(
    rules: &RuleSet,
    env: &Env,
    message: &MessageFile,
    now: i64,
) -> Vec<Verdict> {
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
                // The dispatcher's own test, at the time the recall is due.
                let expired = if past_window(window, sent_at_ms, p.due_at_ms) {
                    "; past the account's recall window: it will be recorded as expired"
                } else {
                    ""
                };
                format!("{} at {}{expired}", rule.action, format_due(p.due_at_ms))
            });
            Verdict {
                fires: plan.is_some(),
                due_at_ms: plan.map(|p| p.due_at_ms),
                note: note.or(Some("does not match".into())),
                ..Verdict::of(rule)
            }
        })
        .collect()
}

/// Epoch milliseconds as RFC 3339, or as the number itself when RFC 3339
/// cannot say it (before 1970, from the year 10000 on).
pub(super) fn format_due(ms: i64) -> String {
    let time = u64::try_from(ms)
        .ok()
        .and_then(|ms| UNIX_EPOCH.checked_add(Duration::from_millis(ms)));
    let mut text = String::new();
    match time {
        Some(time) if write!(text, "{}", humantime::format_rfc3339_seconds(time)).is_ok() => text,
        _ => format!("{ms} ms after the Unix epoch"),
    }
}

#[cfg(test)]
mod tests {
    use super::format_due;

    #[test]
    fn due_times_rfc3339_cannot_say_are_printed_as_milliseconds() {
        assert_eq!(format_due(0), "1970-01-01T00:00:00Z");
        // 10000-01-01T00:00:00Z and later made `format!` panic.
        assert_eq!(
            format_due(253_402_300_800_000),
            "253402300800000 ms after the Unix epoch"
        );
        assert_eq!(
            format_due(i64::MAX),
            format!("{} ms after the Unix epoch", i64::MAX)
        );
        assert_eq!(format_due(-1), "-1 ms after the Unix epoch");
    }
}
