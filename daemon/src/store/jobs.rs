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
use super::states::{audit, settled_state};
use super::{JobCreated, JobSpec, StoreError, TaskState, progress};

/// A matched message: (id, account, ledger state).
pub(super) type Matched = (i64, String, String);

/// A job for every message `spec.selector` matches, refused when more match
/// than `spec.max_messages`.
///
/// The tasks are written first and counted after, from their own rows: one
/// pass over the matched messages instead of two, and the count reads the
/// new rows in rowid order without sorting them (for 100,000 tasks ~15 ms
/// instead of ~80). The insert stops one row past the cap, so a refused job
/// writes at most that many rows before the caller's savepoint undoes them.
pub(super) fn create(conn: &Connection, spec: &JobSpec) -> Result<JobCreated, StoreError> {
    let (clause, values) = where_clause(&spec.selector);
    // Never act twice on the daemon's own account: a message this action
    // already reached is recorded as already done.
    let done = settled_state(spec.action).unwrap_or("");
    let job_id = insert_row(conn, spec, 0)?;
    let before: i64 = conn.query_row("SELECT coalesce(max(id), 0) FROM tasks", [], |r| r.get(0))?;
    // The selector's values come after the job's own five parameters, and
    // the limit after them.
    let mut insert = conn.prepare(&format!(
        "INSERT INTO tasks (job_id, message_id, account, state, next_at, updated_at)
         SELECT ?1, m.id, m.account, CASE WHEN m.state = ?2 THEN ?3 ELSE ?4 END, ?5, ?5
         FROM messages m WHERE {clause} ORDER BY m.id LIMIT ?"
    ))?;
    let limit = i64::try_from(spec.max_messages.saturating_add(1)).unwrap_or(i64::MAX);
    let mut bound: Vec<rusqlite::types::Value> = vec![
        job_id.into(),
        done.to_owned().into(),
        TaskState::AlreadyDone.as_str().to_owned().into(),
        TaskState::Pending.as_str().to_owned().into(),
        spec.now_ms.into(),
    ];
    bound.extend(values.iter().cloned());
    bound.push(limit.into());
    let inserted = insert.execute(params_from_iter(bound.iter()))? as u64;
    if inserted > spec.max_messages {
        let matched = conn.query_row(
            &format!("SELECT count(*) FROM messages m WHERE {clause}"),
            params_from_iter(values.iter()),
            |r| r.get::<_, i64>(0),
        )?;
        return Err(StoreError::TooManyMessages {
            matched: u64::try_from(matched).unwrap_or(0),
            cap: spec.max_messages,
        });
    }
    let tally = Tally::of_tasks(conn, job_id, before)?;
    if tally.total() != inserted {
        // Impossible inside one transaction; refuse rather than mislead.
        return Err(StoreError::Database(format!(
            "{inserted} tasks were written but {} were counted",
            tally.total()
        )));
    }
    conn.prepare_cached("UPDATE jobs SET total = ?2 WHERE id = ?1")?
        .execute(params![job_id, i64::try_from(inserted).unwrap_or(i64::MAX)])?;
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
    let done = settled_state(spec.action);
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
        tally.add(account, already, 1);
    }
    created(conn, spec, job_id, tally)
}

/// A new job's tasks per account: (open, already done).
#[derive(Default)]
struct Tally(BTreeMap<String, (u64, u64)>);

impl Tally {
    fn add(&mut self, account: &str, already: bool, n: u64) {
        if let Some((open, done)) = self.0.get_mut(account) {
            *if already { done } else { open } += n;
        } else {
            let counts = if already { (0, n) } else { (n, 0) };
            self.0.insert(account.to_owned(), counts);
        }
    }

    /// Job `job_id`'s tasks, all written after rowid `before`.
    fn of_tasks(conn: &Connection, job_id: i64, before: i64) -> Result<Tally, StoreError> {
        let mut query =
            conn.prepare_cached("SELECT account, state FROM tasks WHERE id > ?1 AND job_id = ?2")?;
        let mut rows = query.query(params![before, job_id])?;
        let already_done = TaskState::AlreadyDone.as_str();
        let mut tally = Tally::default();
        while let Some(row) = rows.next()? {
            let account = row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
            let state = row.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
            tally.add(account, state == already_done, 1);
        }
        Ok(tally)
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
