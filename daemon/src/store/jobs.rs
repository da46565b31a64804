//! Creating jobs: a selector resolved into one task per matched message,
//! inside the caller's transaction.
//!
//! A selected job's tasks are written by one `INSERT … SELECT`, so the
//! messages never travel through Rust: 100,000 tasks cost one statement,
//! not 100,000 round trips. Jobs over an explicit list of messages (age
//! rules) insert their tasks one by one.

use std::collections::BTreeMap;

use rusqlite::{Connection, params, params_from_iter};

use super::schema::OPEN;
use super::select::where_clause;
use super::sqlite::{audit, message_state};
use super::{JobCreated, JobSpec, StoreError, TaskState, progress};

/// A matched message: (id, account, ledger state).
pub(super) type Matched = (i64, String, String);

/// A job for every message `spec.selector` matches, refused when more match
/// than `spec.max_messages`.
pub(super) fn create(conn: &Connection, spec: &JobSpec) -> Result<JobCreated, StoreError> {
    let (clause, values) = where_clause(&spec.selector);
    // Never act twice on the daemon's own account: a message this action
    // already reached is recorded as already done.
    let done = message_state(spec.action, TaskState::Done).unwrap_or("");
    let mut tally = Tally::default();
    let mut counts = conn.prepare(&format!(
        "SELECT m.account, m.state, count(*) FROM messages m WHERE {clause} GROUP BY m.account, m.state"
    ))?;
    for (account, state, n) in
        progress::account_state_counts(&mut counts, params_from_iter(values.iter()))?
    {
        tally.add(account, state == done, n);
    }
    let count = tally.total();
    if count > spec.max_messages {
        return Err(StoreError::TooManyMessages {
            matched: count,
            cap: spec.max_messages,
        });
    }
    let job_id = insert_row(conn, spec, count)?;
    // The selector's values come after the job's own five parameters.
    let mut insert = conn.prepare(&format!(
        "INSERT INTO tasks (job_id, message_id, account, state, next_at, updated_at)
         SELECT ?1, m.id, m.account, CASE WHEN m.state = ?2 THEN ?3 ELSE ?4 END, ?5, ?5
         FROM messages m WHERE {clause} ORDER BY m.id"
    ))?;
    let mut bound: Vec<rusqlite::types::Value> = vec![
        job_id.into(),
        done.to_owned().into(),
        TaskState::AlreadyDone.as_str().to_owned().into(),
        TaskState::Pending.as_str().to_owned().into(),
        spec.now_ms.into(),
    ];
    bound.extend(values);
    let inserted = insert.execute(params_from_iter(bound.iter()))?;
    if inserted as u64 != count {
        // Impossible inside one transaction; refuse rather than mislead.
        return Err(StoreError::Database(format!(
            "the selector matched {count} messages but {inserted} tasks were written"
        )));
    }
    created(conn, spec, job_id, tally)
}

/// A job with one task per listed message.
pub(super) fn create_for(
    conn: &Connection,
    spec: &JobSpec,
    matched: &[Matched],
) -> Result<JobCreated, StoreError> {
    let count = matched.len() as u64;
    let job_id = insert_row(conn, spec, count)?;
    let done = message_state(spec.action, TaskState::Done);
    let mut insert = conn.prepare_cached(
        "INSERT INTO tasks (job_id, message_id, account, state, next_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    )?;
    let mut tally = Tally::default();
    for (message_id, account, state) in matched {
        let already = Some(state.as_str()) == done;
        let task_state = if already {
            TaskState::AlreadyDone
        } else {
            TaskState::Pending
        };
        insert.execute(params![
            job_id,
            message_id,
            account,
            task_state.as_str(),
            spec.now_ms
        ])?;
        tally.add(account.clone(), already, 1);
    }
    created(conn, spec, job_id, tally)
}

/// A new job's tasks per account: (open, already done).
#[derive(Default)]
struct Tally(BTreeMap<String, (u64, u64)>);

impl Tally {
    fn add(&mut self, account: String, already: bool, n: u64) {
        let (open, done) = self.0.entry(account).or_default();
        *if already { done } else { open } += n;
    }

    fn total(&self) -> u64 {
        self.0.values().map(|(open, done)| open + done).sum()
    }

    /// The job's rows of `job_counts`.
    fn write(&self, conn: &Connection, job_id: i64) -> Result<(), StoreError> {
        let mut insert = conn.prepare_cached(
            "INSERT INTO job_counts (job_id, account, state, n) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (account, &(open, done)) in &self.0 {
            for (state, n) in [(OPEN, open), (TaskState::AlreadyDone.as_str(), done)] {
                if n > 0 {
                    insert.execute(params![job_id, account, state, n as i64])?;
                }
            }
        }
        Ok(())
    }
}

/// The job's own row.
fn insert_row(conn: &Connection, spec: &JobSpec, count: u64) -> Result<i64, StoreError> {
    let selector = serde_json::to_string(&spec.selector).unwrap_or_default();
    let params_json = serde_json::to_string(&spec.params).unwrap_or_else(|_| "null".into());
    conn.prepare_cached(
        "INSERT INTO jobs (created_at, requested_by, reason, action, selector, params, state, total) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7)",
    )?
    .execute(params![
        spec.now_ms,
        spec.requested_by,
        spec.reason,
        spec.action.as_str(),
        selector,
        params_json,
        i64::try_from(count).unwrap_or(i64::MAX)
    ])?;
    Ok(conn.last_insert_rowid())
}

/// The audit record, and `done` at once when nothing is left to do.
fn created(
    conn: &Connection,
    spec: &JobSpec,
    job_id: i64,
    tally: Tally,
) -> Result<JobCreated, StoreError> {
    tally.write(conn, job_id)?;
    let count = tally.total();
    let detail = serde_json::json!({"action": spec.action, "reason": spec.reason, "selector": spec.selector, "matched": count});
    audit(
        conn,
        spec.now_ms,
        "job_created",
        Some(job_id),
        None,
        Some(&spec.requested_by),
        &detail.to_string(),
    )?;
    progress::finish_job_if_done(conn, job_id, spec.now_ms)?;
    Ok(JobCreated {
        job_id,
        matched: count,
        per_account: tally
            .0
            .into_iter()
            .map(|(account, (open, done))| (account, open + done))
            .collect(),
    })
}
