//! Tasks the daemon handed out and never finished: handed back at a graceful
//! stop, recovered at the next start after a crash.
//!
//! A crash leaves the tasks that were out `running`, with no way to tell
//! which of them had their call made. Each is tried again (the vendor's
//! already-recalled answer absorbs a repeated call) and counted as
//! interrupted once more. A task that crashes the daemon itself (a plugin
//! that aborts on one message, say) would make it crash at every start, so a
//! task out at [`MAX_INTERRUPTED`] stops is failed instead.
//!
//! Tasks out at `MAX_INTERRUPTED - 1` stops are *suspects*: the claim hands
//! out one suspect at a time (`tasks.rs`), beside any number of other tasks.
//! The culprit is out at every crash it causes, so no task has been out at
//! more of them than it; once it is a suspect, no other suspect is out with
//! it again, and it alone reaches the last stop. Tasks out at one crash only
//! (after a plain `kill -9`, all of them) are tried again at full speed.

use rusqlite::{Connection, params};

use super::StoreError;
use super::tasks::{Busy, FAILED_COLUMNS, failed, finish};

/// How many stops of the daemon a task may be out at, with no result
/// recorded, before it is failed rather than tried again.
pub const MAX_INTERRUPTED: u32 = 3;

/// Out at this many stops, a task is a suspect, tried one at a time.
pub(super) const SUSPECT_AT: i64 = MAX_INTERRUPTED as i64 - 1;

/// What a start did with the tasks the last run left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Handed back, to be tried again.
    pub resumed: u64,
    /// Failed: out at [`MAX_INTERRUPTED`] stops.
    pub failed: u64,
}

/// At a graceful stop: the tasks out go back to `pending` as they were (their
/// calls ended or were never made).
pub(super) fn release(conn: &Connection, busy: &mut Busy) -> Result<u64, StoreError> {
    busy.clear();
    Ok(conn.execute(
        "UPDATE tasks SET state = 'pending' WHERE state = 'running'",
        [],
    )? as u64)
}

/// At a start: every task left out by the last run was interrupted once
/// more; it goes back to `pending`, or fails once out at
/// [`MAX_INTERRUPTED`] stops.
pub(super) fn recover(
    conn: &Connection,
    busy: &mut Busy,
    now_ms: i64,
) -> Result<Recovered, StoreError> {
    busy.clear();
    // One pass over the table: the column values on the right are the ones
    // before the update.
    let mut update = conn.prepare(
        "UPDATE tasks SET interrupted = interrupted + 1,
             state = CASE WHEN interrupted + 1 < ?1 THEN 'pending' ELSE state END
         WHERE state = 'running'
         RETURNING id, state = 'running'",
    )?;
    let mut resumed = 0;
    let mut spent = Vec::new();
    for row in update.query_map(params![MAX_INTERRUPTED], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, bool>(1)?))
    })? {
        match row? {
            (task_id, true) => spent.push(task_id),
            (_, false) => resumed += 1,
        }
    }
    let mut task = conn.prepare_cached(&format!(
        "SELECT {FAILED_COLUMNS} FROM tasks t JOIN jobs j ON j.id = t.job_id WHERE t.id = ?1"
    ))?;
    let given_up = spent
        .into_iter()
        .map(|task_id| {
            task.query_row(params![task_id], |r| {
                failed(r, now_ms, |_| {
                    format!(
                        "the daemon stopped {MAX_INTERRUPTED} times while this task was out, \
                         with no result recorded (did the plugin crash on it?); not tried again"
                    )
                })
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    finish(conn, busy, &given_up)?;
    Ok(Recovered {
        resumed,
        failed: given_up.len() as u64,
    })
}
