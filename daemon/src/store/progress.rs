//! Jobs: when one is done, and how far one has got.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::states::parse_action;
use super::{Counts, ErrorCount, JobProgress, StoreError};

/// Marks job ?1 done at ?2 when it has no open task, as its kept counts
/// say: a few rows of `job_counts`, on every batch of results.
pub(super) const JOB_DONE: &str =
    "UPDATE jobs SET state = 'done', finished_at = ?2 WHERE id = ?1 AND state = 'running'
     AND NOT EXISTS (SELECT 1 FROM job_counts WHERE job_id = ?1 AND state = 'open' AND n > 0)";

/// Job ?1's tasks per account and state (`open`: pending or running), kept
/// by the writes themselves: a poll costs the same for ten tasks or a million.
pub(super) const COUNTS: &str = "SELECT account, state, n FROM job_counts WHERE job_id = ?1";

/// Job ?1's most frequent errors, from the index of tasks that have one.
pub(super) const ERRORS: &str = "SELECT last_error, count(*) FROM tasks INDEXED BY tasks_errors
     WHERE job_id = ?1 AND last_error IS NOT NULL GROUP BY last_error ORDER BY count(*) DESC LIMIT 20";

/// The rows of a query that yields (account, state, count).
pub(super) fn account_state_counts(
    query: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
) -> Result<Vec<(String, String, u64)>, StoreError> {
    let rows = query.query_map(params, |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Marks the job done at `at` when none of its tasks is pending or running.
pub(super) fn finish_job_if_done(
    conn: &Connection,
    job_id: i64,
    at: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(JOB_DONE)?
        .execute(params![job_id, at])?;
    Ok(())
}

/// Counts per state and account, and the most frequent errors.
pub(super) fn job_progress(
    conn: &Connection,
    job_id: i64,
) -> Result<Option<JobProgress>, StoreError> {
    let job = conn
        .prepare_cached("SELECT state, action, requested_by, reason, selector, created_at, finished_at FROM jobs WHERE id = ?1")?
        .query_row(params![job_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, Option<i64>>(6)?,
            ))
        })
        .optional()?;
    let Some((state, action, requested_by, reason, selector, created_at, finished_at)) = job else {
        return Ok(None);
    };
    let mut counts = Counts::default();
    let mut accounts: BTreeMap<String, Counts> = BTreeMap::new();
    let mut grouped = conn.prepare_cached(COUNTS)?;
    for (account, state, n) in account_state_counts(&mut grouped, params![job_id])? {
        counts.add(&state, n);
        accounts.entry(account).or_default().add(&state, n);
    }
    let mut errors = conn.prepare_cached(ERRORS)?;
    let errors = errors
        .query_map(params![job_id], |r| {
            Ok(ErrorCount {
                error: r.get(0)?,
                count: r.get::<_, i64>(1)? as u64,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Some(JobProgress {
        job_id,
        state,
        action: parse_action(&action),
        requested_by,
        reason,
        selector: serde_json::from_str(&selector).unwrap_or(serde_json::Value::Null),
        created_at_ms: created_at,
        finished_at_ms: finished_at,
        counts,
        accounts,
        errors,
    }))
}
