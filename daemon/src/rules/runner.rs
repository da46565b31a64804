//! Firing rules. Every firing becomes a persisted job, exactly as a bot's
//! recall does; the dispatcher takes it from there.
//!
//! - Events: [`Firer::event`] renders each listening rule's selector with
//!   the payload and creates all their jobs in one transaction.
//! - Age rules: [`Firer::run_age`] sleeps until the earliest due age recall
//!   (persisted at track time), turns due recalls into jobs, and re-plans
//!   pending ones whenever the rules change.
//! - Schedules: [`Firer::run_schedules`] fires each cron rule when due. The
//!   last firing is persisted, so a firing missed while the daemon was down
//!   happens once at start (if the rule is unchanged).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use plugin_api::OperationKind;
use serde::Serialize;
use tokio::sync::{Notify, watch};

use super::live::LiveRules;
use super::{FireContext, Rule, RuleSet, Trigger, next_occurrence};
use crate::accounts::Accounts;
use crate::api::unsupported;
use crate::clock::now_ms;
use crate::metrics::Metrics;
use crate::selector::Selector;
use crate::store::{AgeFiring, Delivery, JobCreated, JobSpec, Planner, RuleRun, Store, StoreError};

/// Age recalls turned into jobs per store call at most.
const AGE_BATCH: u32 = 1_000;
/// The longest a loop sleeps without looking again.
const MAX_SLEEP: Duration = Duration::from_secs(60);

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
    store: Arc<dyn Store>,
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

    fn created(&self, kind: &str, action: OperationKind, job: &JobCreated) {
        self.metrics.job_created(action.as_str());
        self.metrics.rule_job(kind);
        for account in job.per_account.keys() {
            (self.wake)(account);
        }
    }

    /// Refuses a selector that reaches accounts whose plugin cannot do
    /// `action` (looking at the ledger only when some account lacks it).
    async fn check_supported(
        &self,
        selector: &Selector,
        action: OperationKind,
    ) -> Result<(), String> {
        let named = selector.accounts.iter().map(String::as_str);
        let candidates: Vec<&str> = if selector.accounts.is_empty() {
            self.accounts.keys().map(String::as_str).collect()
        } else {
            named.collect()
        };
        let mut lacking = unsupported(&self.accounts, candidates.into_iter(), action);
        if !lacking.is_empty() && selector.accounts.is_empty() {
            let preview = self
                .store
                .preview(selector.clone(), 0)
                .await
                .map_err(|e| e.to_string())?;
            lacking = unsupported(
                &self.accounts,
                preview.per_account.keys().map(String::as_str),
                action,
            );
        }
        if lacking.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{action} is not supported by account(s) {}; narrow select.accounts",
                lacking.join(", ")
            ))
        }
    }

    /// Fires every enabled rule listening to `name`. `cap` is the calling
    /// client's `max_messages`; each rule's own `limit` applies too. The
    /// delivery id is recorded with the jobs (or alone when none fired).
    pub async fn event(
        &self,
        rules: &RuleSet,
        name: &str,
        payload: &serde_json::Value,
        client: &str,
        cap: u64,
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
            let spec = match self.spec(rule, ctx, cap, client).await {
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

    /// The job an event or schedule rule would create now.
    async fn spec(
        &self,
        rule: &Rule,
        ctx: FireContext<'_>,
        cap: u64,
        by: &str,
    ) -> Result<JobSpec, String> {
        let selector = rule.select.render(ctx)?;
        selector
            .validate(|a| self.accounts.contains_key(a))
            .map_err(|e| e.to_string())?;
        self.check_supported(&selector, rule.action).await?;
        let reason = match &rule.trigger {
            Trigger::Event { name } => format!("event {name} (rule {})", rule.name),
            Trigger::Schedule { expression, .. } => {
                format!("schedule {expression} (rule {})", rule.name)
            }
            Trigger::Age { .. } => format!("rule {}", rule.name),
        };
        Ok(JobSpec {
            requested_by: by.to_owned(),
            reason,
            action: rule.action,
            selector,
            params: serde_json::Value::Null,
            max_messages: rule.limit.min(cap),
            now_ms: ctx.now_ms,
        })
    }

    /// Turns due age recalls into jobs until `shutdown`. `tracked` wakes it
    /// when new age recalls were scheduled.
    pub async fn run_age(
        self: Arc<Self>,
        live: Arc<LiveRules>,
        tracked: Arc<Notify>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut changes = live.subscribe();
        let mut replan = true;
        loop {
            let rules = live.current();
            if replan {
                replan = false;
                match self
                    .store
                    .replan_age(rules.age_versions(), planner(&rules), now_ms())
                    .await
                {
                    Ok(done) if done.rescheduled + done.cancelled > 0 => {
                        tracing::info!(
                            rescheduled = done.rescheduled,
                            cancelled = done.cancelled,
                            "age recalls re-planned for changed rules"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!("cannot re-plan age recalls: {e}"),
                }
            }
            let fired = self
                .store
                .fire_age(now_ms(), firings(&rules), AGE_BATCH)
                .await;
            let mut again = false;
            match fired {
                Ok(fired) => {
                    let count: u64 = fired.jobs.iter().map(|(_, j)| j.matched).sum();
                    for (rule, job) in &fired.jobs {
                        let action = rules.get(rule).map_or(OperationKind::Recall, |r| r.action);
                        self.created("age", action, job);
                        tracing::info!(rule = %rule, job_id = job.job_id, messages = job.matched, "age rule fired");
                    }
                    again = count >= u64::from(AGE_BATCH);
                    replan = fired.stale > 0;
                }
                Err(e) => tracing::error!("cannot fire age recalls: {e}"),
            }
            if again || replan {
                continue;
            }
            let wait = match self.store.next_age_due().await {
                Ok(Some(due)) => {
                    Duration::from_millis(u64::try_from(due - now_ms()).unwrap_or(0)).min(MAX_SLEEP)
                }
                Ok(None) => MAX_SLEEP,
                Err(e) => {
                    tracing::error!("cannot read the next age recall: {e}");
                    MAX_SLEEP
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = tracked.notified() => {}
                _ = changes.changed() => replan = true,
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// Fires schedule rules on time until `shutdown`.
    pub async fn run_schedules(
        self: Arc<Self>,
        live: Arc<LiveRules>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut changes = live.subscribe();
        let mut runs = match self.store.rule_runs().await {
            Ok(runs) => runs,
            Err(e) => {
                tracing::error!("cannot read when schedule rules last fired: {e}");
                BTreeMap::new()
            }
        };
        // Per (rule, version): the time from which its next firing counts.
        let mut since: BTreeMap<(String, String), i64> = BTreeMap::new();
        loop {
            let rules = live.current();
            let now = now_ms();
            let mut next_wake: Option<i64> = None;
            for rule in rules.schedules() {
                let key = (rule.name.clone(), rule.version.clone());
                let base = *since.entry(key.clone()).or_insert_with(|| {
                    runs.get(&rule.name)
                        .filter(|run| run.version == rule.version)
                        .map_or(now, |run| run.fired_at_ms)
                });
                let Some(due) = next_occurrence(rule, base) else {
                    continue;
                };
                if due > now {
                    next_wake = Some(next_wake.map_or(due, |w| w.min(due)));
                    continue;
                }
                self.fire_schedule(rule, now).await;
                since.insert(key, now);
                runs.insert(
                    rule.name.clone(),
                    RuleRun {
                        rule: rule.name.clone(),
                        version: rule.version.clone(),
                        fired_at_ms: now,
                    },
                );
                if let Some(next) = next_occurrence(rule, now) {
                    next_wake = Some(next_wake.map_or(next, |w| w.min(next)));
                }
            }
            let wait = next_wake.map_or(MAX_SLEEP, |at| {
                Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)).min(MAX_SLEEP)
            });
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = changes.changed() => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    async fn fire_schedule(&self, rule: &Rule, now: i64) {
        let ctx = FireContext {
            event: None,
            now_ms: now,
        };
        let run = RuleRun {
            rule: rule.name.clone(),
            version: rule.version.clone(),
            fired_at_ms: now,
        };
        let spec = match self.spec(rule, ctx, u64::MAX, &rule.actor()).await {
            Ok(spec) => vec![spec],
            Err(e) => {
                tracing::error!(rule = %rule.name, "schedule rule refused: {e}");
                Vec::new()
            }
        };
        match self.store.create_jobs(spec, None, Some(run)).await {
            Ok(results) => {
                for result in results {
                    match result {
                        Ok(job) => {
                            self.created("schedule", rule.action, &job);
                            tracing::info!(rule = %rule.name, job_id = job.job_id, messages = job.matched, "schedule rule fired");
                        }
                        Err(e) => {
                            tracing::error!(rule = %rule.name, "schedule rule refused: {}", refusal(rule, e))
                        }
                    }
                }
            }
            Err(e) => tracing::error!(rule = %rule.name, "cannot fire schedule rule: {e}"),
        }
    }
}

fn refusal(rule: &Rule, error: StoreError) -> String {
    match error {
        StoreError::TooManyMessages { matched, cap } => format!(
            "the selector matches {matched} messages, more than the {cap} one firing may touch (rule {} limit {}, or the client's max_messages)",
            rule.name, rule.limit
        ),
        other => other.to_string(),
    }
}

/// How each enabled age rule turns due recalls into jobs.
fn firings(rules: &RuleSet) -> BTreeMap<String, AgeFiring> {
    rules
        .rules()
        .iter()
        .filter(|r| r.enabled)
        .filter_map(|rule| match &rule.trigger {
            Trigger::Age { sent, after } => Some((
                rule.name.clone(),
                AgeFiring {
                    version: rule.version.clone(),
                    action: rule.action,
                    limit: rule.limit,
                    reason: format!(
                        "age rule {}: {} after sending",
                        rule.name,
                        humantime::format_duration(*after)
                    ),
                    selector: sent.clone(),
                },
            )),
            _ => None,
        })
        .collect()
}

/// The rules in force as the store's re-planning function.
fn planner(rules: &Arc<RuleSet>) -> Planner {
    let rules = Arc::clone(rules);
    Arc::new(move |message| rules.plan_age(message))
}
