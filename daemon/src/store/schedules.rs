//! Rule firings in the SQLite store: age recalls scheduled at track time
//! (`schedules`), their turning into jobs when due, their re-planning when a
//! rule changes, several jobs from one event, and when each schedule rule
//! last fired (`rule_runs`). Every function runs inside the caller's
//! transaction on the database thread.

use std::collections::BTreeMap;

use plugin_api::OperationKind;
use rusqlite::{Connection, params};
use serde::Serialize;

use super::jobs::{self, Matched};
use super::ledger::insert_delivery;
use super::states::audit;
use super::{Delivery, JobCreated, JobSpec, Planner, StoreError};
use crate::rules::{AgePlan, MessageView};
use crate::selector::Selector;

/// A schedule rule's firing, recorded with its jobs.
#[derive(Debug, Clone)]
pub struct RuleRun {
    pub rule: String,
    /// The rule's version when it fired: a changed rule starts afresh.
    pub version: String,
    pub fired_at_ms: i64,
}

/// How a live age rule turns its due recalls into jobs.
#[derive(Debug, Clone)]
pub struct AgeFiring {
    pub version: String,
    pub action: OperationKind,
    /// Messages per job at most.
    pub limit: u64,
    pub reason: String,
    /// The rule's `on.sent`, kept as the job's selector snapshot.
    pub selector: Selector,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AgeFired {
    /// (rule, job) per job created.
    pub jobs: Vec<(String, JobCreated)>,
    /// Due recalls planned by a rule version no longer in force.
    pub stale: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Replanned {
    pub rescheduled: u64,
    pub cancelled: u64,
}

/// Inserts the age recalls of a message just tracked.
pub fn insert_plans(
    conn: &Connection,
    message_id: i64,
    plans: &[AgePlan],
    now: i64,
) -> Result<(), StoreError> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO schedules (rule, version, message_id, due_at, state, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'pending', ?5) ON CONFLICT (rule, message_id) DO NOTHING",
    )?;
    for plan in plans {
        insert.execute(params![
            plan.rule,
            plan.version,
            message_id,
            plan.due_at_ms,
            now
        ])?;
    }
    Ok(())
}

pub fn create_jobs(
    conn: &Connection,
    specs: &[JobSpec],
    delivery: Option<&Delivery>,
    run: Option<&RuleRun>,
) -> Result<Vec<Result<JobCreated, StoreError>>, StoreError> {
    if let Some(delivery) = delivery {
        insert_delivery(conn, delivery)?;
    }
    let mut results = Vec::with_capacity(specs.len());
    for spec in specs {
        conn.execute_batch("SAVEPOINT rule_job")?;
        let result = jobs::create(conn, spec);
        conn.execute_batch(if result.is_ok() {
            "RELEASE rule_job"
        } else {
            "ROLLBACK TO rule_job; RELEASE rule_job"
        })?;
        results.push(result);
    }
    if let Some(run) = run {
        conn.prepare_cached(
            "INSERT INTO rule_runs (rule, version, fired_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (rule) DO UPDATE SET version = excluded.version, fired_at = excluded.fired_at",
        )?
        .execute(params![run.rule, run.version, run.fired_at_ms])?;
    }
    Ok(results)
}

pub fn rule_runs(conn: &Connection) -> Result<BTreeMap<String, RuleRun>, StoreError> {
    let mut query = conn.prepare_cached("SELECT rule, version, fired_at FROM rule_runs")?;
    let rows = query.query_map([], |r| {
        let rule: String = r.get(0)?;
        let run = RuleRun {
            rule: rule.clone(),
            version: r.get(1)?,
            fired_at_ms: r.get(2)?,
        };
        Ok((rule, run))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn next_age_due(conn: &Connection) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT min(due_at) FROM schedules WHERE state = 'pending'")?
        .query_row([], |r| r.get(0))?)
}

pub fn fire_age(
    conn: &Connection,
    now: i64,
    live: &BTreeMap<String, AgeFiring>,
    max: u32,
) -> Result<AgeFired, StoreError> {
    let mut due = conn.prepare_cached(
        "SELECT s.id, s.rule, s.version, m.id, m.account, m.state FROM schedules s
         JOIN messages m ON m.id = s.message_id
         WHERE s.state = 'pending' AND s.due_at <= ?1 ORDER BY s.due_at, s.id LIMIT ?2",
    )?;
    let rows: Vec<(i64, String, String, i64, String, String)> = due
        .query_map(params![now, max], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    let mut fired = AgeFired::default();
    let mut groups: BTreeMap<&str, Vec<(i64, Matched)>> = BTreeMap::new();
    for (schedule, rule, version, message, account, state) in rows {
        match live.get(&rule) {
            Some(firing) if firing.version == version => {
                let rule = live.get_key_value(&rule).map_or("", |(k, _)| k.as_str());
                groups
                    .entry(rule)
                    .or_default()
                    .push((schedule, (message, account, state)));
            }
            _ => fired.stale += 1,
        }
    }
    let mut mark = conn.prepare_cached(
        "UPDATE schedules SET state = 'fired', job_id = ?2, updated_at = ?3 WHERE id = ?1",
    )?;
    for (rule, due) in groups {
        let firing = &live[rule];
        for chunk in due.chunks(usize::try_from(firing.limit.max(1)).unwrap_or(usize::MAX)) {
            let spec = JobSpec {
                requested_by: format!("rule:{rule}"),
                reason: firing.reason.clone(),
                action: firing.action,
                selector: firing.selector.clone(),
                params: serde_json::Value::Null,
                max_messages: firing.limit,
                now_ms: now,
            };
            let matched: Vec<Matched> = chunk.iter().map(|(_, m)| m.clone()).collect();
            let created = jobs::create_for(conn, &spec, &matched)?;
            for (schedule, _) in chunk {
                mark.execute(params![schedule, created.job_id, now])?;
            }
            fired.jobs.push((rule.to_owned(), created));
        }
    }
    Ok(fired)
}

/// A pending age recall with its message, as re-planning reads it.
struct PendingAge {
    id: i64,
    rule: String,
    version: String,
    account: String,
    remote_id: String,
    sent_at: i64,
    tags: String,
    meta: String,
}

pub fn replan_age(
    conn: &Connection,
    live: &BTreeMap<String, String>,
    plan: &Planner,
    now: i64,
) -> Result<Replanned, StoreError> {
    let mut pending = conn.prepare_cached(
        "SELECT s.id, s.rule, s.version, m.account, m.remote_id, m.sent_at, m.tags, m.meta
         FROM schedules s JOIN messages m ON m.id = s.message_id WHERE s.state = 'pending'",
    )?;
    let rows: Vec<PendingAge> = pending
        .query_map([], |r| {
            Ok(PendingAge {
                id: r.get(0)?,
                rule: r.get(1)?,
                version: r.get(2)?,
                account: r.get(3)?,
                remote_id: r.get(4)?,
                sent_at: r.get(5)?,
                tags: r.get(6)?,
                meta: r.get(7)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut done = Replanned::default();
    let mut reschedule = conn.prepare_cached(
        "UPDATE schedules SET version = ?2, due_at = ?3, updated_at = ?4 WHERE id = ?1",
    )?;
    let mut cancel = conn.prepare_cached(
        "UPDATE schedules SET state = 'cancelled', updated_at = ?2 WHERE id = ?1",
    )?;
    for row in rows {
        if live.get(&row.rule) == Some(&row.version) {
            continue;
        }
        let tags: Vec<String> = serde_json::from_str(&row.tags).unwrap_or_default();
        let meta: serde_json::Value = serde_json::from_str(&row.meta).unwrap_or_default();
        let message = MessageView {
            account: &row.account,
            remote_id: &row.remote_id,
            sent_at_ms: row.sent_at,
            tags: &tags,
            meta: &meta,
        };
        match plan(message).into_iter().find(|p| p.rule == row.rule) {
            Some(new) => {
                reschedule.execute(params![row.id, new.version, new.due_at_ms, now])?;
                done.rescheduled += 1;
            }
            None => {
                cancel.execute(params![row.id, now])?;
                done.cancelled += 1;
            }
        }
    }
    if done != Replanned::default() {
        let detail = serde_json::to_string(&done).unwrap_or_default();
        audit(conn, now, "age_replanned", None, None, None, &detail)?;
    }
    Ok(done)
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
