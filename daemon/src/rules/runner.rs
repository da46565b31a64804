//! Firing rules. Every firing becomes a persisted job, exactly as a bot's
//! recall does; the dispatcher takes it from there. The timed loops (age
//! recalls, schedules) are in `timers.rs`.
//!
//! - Events: [`Firer::event`] renders each listening rule's selector with
//!   the payload and creates all their jobs in one transaction.
//! - Age rules: [`Firer::run_age`] sleeps until the earliest due age recall
//!   (persisted at track time), turns due recalls into jobs, and re-plans
//!   pending ones whenever the rules change.
//! - Schedules: [`Firer::run_schedules`] fires each cron rule when due. The
//!   last firing is persisted, so a firing missed while the daemon was down
//!   happens once at start (if the rule is unchanged).

use std::sync::Arc;

use plugin_api::OperationKind;
use serde::Serialize;

use super::permit::permit;
use super::{FireContext, Rule, RuleSet, Trigger};
use crate::accounts::Accounts;
use crate::accounts::unsupported_reached;
use crate::clock::now_ms;
use crate::config::Scopes;
use crate::metrics::Metrics;
use crate::store::{Delivery, JobCreated, JobSpec, Store, StoreError};

/// What `POST /v1/events/{name}` answers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EventOutcome {
    pub event: String,
    /// One per rule that fired.
    pub jobs: Vec<RuleJob>,
    /// Rules that listen to the event but could not fire, and why.
    pub refused: Vec<RuleRefusal>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleJob {
    pub rule: String,
    #[serde(flatten)]
    pub job: JobCreated,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleRefusal {
    pub rule: String,
    pub error: String,
}

/// Creates jobs for rules and tells the dispatcher.
pub struct Firer {
    pub(super) store: Arc<dyn Store>,
    accounts: Accounts,
    metrics: Arc<Metrics>,
    wake: Arc<dyn Fn(&str) + Send + Sync>,
}

impl Firer {
    pub fn new(
        store: Arc<dyn Store>,
        accounts: Accounts,
        metrics: Arc<Metrics>,
        wake: Arc<dyn Fn(&str) + Send + Sync>,
    ) -> Firer {
        Firer {
            store,
            accounts,
            metrics,
            wake,
        }
    }

    pub(super) fn created(&self, kind: &str, action: OperationKind, job: &JobCreated) {
        self.metrics.job_created(action.as_str());
        self.metrics.rule_job(kind);
        for account in job.per_account.keys() {
            (self.wake)(account);
        }
    }

    /// Fires every enabled rule listening to `name` for `client`. A rule is
    /// refused unless the client's `scopes` allow its action and what the
    /// payload chose (see `rules/permit.rs`); its jobs are capped by the client's
    /// `max_messages` and the rule's own `limit`. The delivery id is
    /// recorded with the jobs (or alone when none fired).
    pub async fn event(
        &self,
        rules: &RuleSet,
        name: &str,
        payload: &serde_json::Value,
        client: &str,
        scopes: &Scopes,
        delivery: Delivery,
    ) -> Result<EventOutcome, StoreError> {
        let now = now_ms();
        let mut outcome = EventOutcome {
            event: name.to_owned(),
            ..EventOutcome::default()
        };
        let mut specs = Vec::new();
        let mut names = Vec::new();
        let ctx = FireContext {
            event: Some(payload),
            now_ms: now,
        };
        for rule in rules.for_event(name) {
            let spec = match self.spec(rule, ctx, Some((client, scopes))).await {
                Ok(spec) => spec,
                Err(error) => {
                    outcome.refused.push(RuleRefusal {
                        rule: rule.name.clone(),
                        error,
                    });
                    continue;
                }
            };
            names.push(rule);
            specs.push(spec);
        }
        if specs.is_empty() {
            self.store.record_delivery(delivery).await?;
            return Ok(outcome);
        }
        let results = self.store.create_jobs(specs, Some(delivery), None).await?;
        for (rule, result) in names.into_iter().zip(results) {
            match result {
                Ok(job) => {
                    self.created("event", rule.action, &job);
                    outcome.jobs.push(RuleJob {
                        rule: rule.name.clone(),
                        job,
                    });
                }
                Err(e) => outcome.refused.push(RuleRefusal {
                    rule: rule.name.clone(),
                    error: refusal(rule, e),
                }),
            }
        }
        Ok(outcome)
    }

    /// The job an event or schedule rule would create now: for `client`
    /// (its name and scopes) when it sent the event, else for the rule.
    pub(super) async fn spec(
        &self,
        rule: &Rule,
        ctx: FireContext<'_>,
        client: Option<(&str, &Scopes)>,
    ) -> Result<JobSpec, String> {
        let selector = rule.select.render(ctx)?;
        selector
            .validate(|a| self.accounts.contains_key(a))
            .map_err(|e| e.to_string())?;
        if let Some((name, scopes)) = client {
            permit(name, scopes, rule, &selector).map_err(|refusal| refusal.message)?;
        }
        let (by, cap) = client.map_or_else(
            || (rule.actor(), u64::MAX),
            |(name, scopes)| (name.to_owned(), scopes.max_messages),
        );
        let lacking =
            unsupported_reached(self.store.as_ref(), &self.accounts, &selector, rule.action)
                .await
                .map_err(|e| refusal(rule, e))?;
        if !lacking.is_empty() {
            return Err(format!(
                "{} is not supported by account(s) {}; narrow select.accounts",
                rule.action,
                lacking.join(", ")
            ));
        }
        let reason = match &rule.trigger {
            Trigger::Event { name } => format!("event {name} (rule {})", rule.name),
            Trigger::Schedule { expression, .. } => {
                format!("schedule {expression} (rule {})", rule.name)
            }
            Trigger::Age { .. } => format!("rule {}", rule.name),
        };
        Ok(JobSpec {
            requested_by: by,
            reason,
            action: rule.action,
            selector,
            params: serde_json::Value::Null,
            max_messages: rule.limit.min(cap),
            now_ms: ctx.now_ms,
        })
    }
}

/// Why the store refused a rule's job, as `refused[].error` shows it. A
/// database error is logged and answered generically, as the API answers
/// one (its text can name tables, paths or values).
pub(super) fn refusal(rule: &Rule, error: StoreError) -> String {
    match error {
        StoreError::TooManyMessages { matched, cap } => format!(
            "the selector matches {matched} messages, more than the {cap} one firing may touch (rule {} limit {}, or the client's max_messages)",
            rule.name, rule.limit
        ),
        StoreError::Database(detail) => {
            tracing::error!(rule = %rule.name, "rule refused by a database error: {detail}");
            "internal error; see the daemon log".to_owned()
        }
        other => other.to_string(),
    }
}
