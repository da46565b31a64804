//! The timed side of firing rules: age recalls when they fall due, and
//! schedule rules on their cron times.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use plugin_api::OperationKind;
use tokio::sync::{Notify, watch};

use super::live::LiveRules;
use super::runner::{Firer, refusal};
use super::{FireContext, Rule, RuleSet, Trigger, next_occurrence};
use crate::clock::now_ms;
use crate::store::{AgeFiring, Planner, RuleRun};

/// Age recalls turned into jobs per store call at most.
const AGE_BATCH: u32 = 1_000;
/// The longest a loop sleeps without looking again.
const MAX_SLEEP: Duration = Duration::from_secs(60);

impl Firer {
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
            // A failed re-plan is retried after a sleep, not in a tight loop.
            let mut replan_failed = false;
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
                    Err(e) => {
                        tracing::error!("cannot re-plan age recalls: {e}");
                        replan_failed = true;
                    }
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
            if again || (replan && !replan_failed) {
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
        let spec = match self.spec(rule, ctx, None).await {
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
pub(super) fn planner(rules: &Arc<RuleSet>) -> Planner {
    let rules = Arc::clone(rules);
    Arc::new(move |message| rules.plan_age(message))
}
