//! The dispatcher's bookkeeping: claiming due tasks and recording the
//! results of attempts. Both take many tasks per operation and run bare in
//! their batch (no savepoint: they fail only when the database does), so
//! their fixed costs are paid once per batch of tasks, not once per task.

use std::collections::{BTreeMap, HashMap, HashSet};

use plugin_api::Message;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::progress::finish_job_if_done;
use super::recovery::SUSPECT_AT;
use super::states::{SETTLED, audit, message_state, parse_action, settled_state};
use super::{ClaimedTask, StoreError, TaskResult, TaskState};

/// Up to ?3 tasks of account ?1 due at ?2, through the `tasks_pending` index.
pub(super) const CLAIM: &str = "SELECT t.id, t.job_id, t.message_id, t.attempts, j.action, j.params, m.remote_id, m.sent_at, m.tags, m.meta, m.state, t.interrupted
     FROM tasks t JOIN jobs j ON j.id = t.job_id JOIN messages m ON m.id = t.message_id
     WHERE t.account = ?1 AND t.state = 'pending' AND t.next_at <= ?2
     ORDER BY t.next_at, t.id LIMIT ?3";

/// When account ?1's next pending task is due, through `tasks_pending`.
pub(super) const NEXT_DUE: &str =
    "SELECT min(next_at) FROM tasks WHERE account = ?1 AND state = 'pending'";

/// What the database thread remembers of the tasks handed out and not yet
/// finished. Hints, checked against the table before they keep a task back,
/// so an entry left behind by a claim whose batch rolled back does no harm.
#[derive(Debug, Default)]
pub(super) struct Busy {
    /// The message of each task out: message id → task id.
    messages: HashMap<i64, i64>,
    /// The one suspect out, if any: a task that was out at all but the
    /// last of the stops it may be out at (see `recovery.rs`).
    suspect: Option<i64>,
}

impl Busy {
    /// Forgets every task out (none is, once the table says so).
    pub(super) fn clear(&mut self) {
        *self = Busy::default();
    }
}

/// How long a task is put back when another task of its message is out (two
/// jobs over one message: a bot that retried its request, an event rule and
/// an age rule). Claimed again after that, it is recorded `already_done`
/// without a call if the other reached the vendor.
pub(super) const DEFER_MS: i64 = 1_000;

/// How long a suspect is put back while another suspect is out: suspects
/// are tried one at a time, one call each, so they follow each other closely.
pub(super) const SUSPECT_DEFER_MS: i64 = 50;

/// Takes up to `limit` due tasks of `account`, oldest due first; they become
/// `running`. Never hands out two tasks of one message at once, nor one
/// whose message its action already reached:
/// - a task whose message another job has since recalled (or cancelled) is
///   recorded `already_done` here, without a vendor call;
/// - a task whose message has another task out waits [`DEFER_MS`];
/// - a suspect (a task out at [`SUSPECT_AT`] stops of the daemon) is handed
///   out only while no other suspect is out, else it waits
///   [`SUSPECT_DEFER_MS`]: a task that crashes the daemon then takes no
///   other suspect down with it, so only it runs out of tries (`recovery.rs`).
pub(super) fn claim(
    conn: &Connection,
    busy: &mut Busy,
    account: &str,
    now_ms: i64,
    limit: u32,
) -> Result<Vec<ClaimedTask>, StoreError> {
    let mut query = conn.prepare_cached(CLAIM)?;
    let mut running = conn.prepare_cached("SELECT state = 'running' FROM tasks WHERE id = ?1")?;
    let mut settled = Vec::new();
    let mut deferred = Vec::new();
    let mut tasks = Vec::new();
    // Is this task still out (running in the table)?
    let mut still_out = |task_id: i64| -> rusqlite::Result<bool> {
        Ok(running
            .query_row(params![task_id], |r| r.get::<_, bool>(0))
            .optional()?
            .unwrap_or(false))
    };
    // Messages handed out by this claim (not yet `running` in the table).
    let mut out = HashSet::new();
    // The suspect out, checked against the table once, when the first
    // suspect comes up.
    let mut suspect_out: Option<bool> = None;
    let mut suspect = None;
    let mut deferred_suspects = Vec::new();
    // The rows are read to the end before any is written: an update of the
    // index the query walks would make it seek again for every row.
    let mut rows = query.query(params![account, now_ms, limit])?;
    while let Some(r) = rows.next()? {
        let task_id: i64 = r.get(0)?;
        let message_id: i64 = r.get(2)?;
        let action = parse_action(&r.get::<_, String>(4)?);
        let state = r.get_ref(10)?;
        if settled_state(action).is_some_and(|done| state.as_str().ok() == Some(done)) {
            settled.push(TaskResult {
                task_id,
                job_id: r.get(1)?,
                message_id,
                action,
                account: account.to_owned(),
                state: TaskState::AlreadyDone,
                attempts: r.get(3)?,
                next_at_ms: now_ms,
                error: None,
                at_ms: now_ms,
            });
            continue;
        }
        let elsewhere = match busy.messages.get(&message_id) {
            Some(&other) if other != task_id => still_out(other)?,
            _ => false,
        };
        if elsewhere || out.contains(&message_id) {
            deferred.push(task_id);
            continue;
        }
        if r.get::<_, i64>(11)? >= SUSPECT_AT {
            let other_out = match suspect_out {
                Some(known) => known,
                None => {
                    let known = match busy.suspect {
                        Some(other) if other != task_id => still_out(other)?,
                        _ => false,
                    };
                    suspect_out = Some(known);
                    known
                }
            };
            if other_out {
                deferred_suspects.push(task_id);
                continue;
            }
            suspect_out = Some(true);
            suspect = Some(task_id);
        }
        out.insert(message_id);
        let params: String = r.get(5)?;
        let tags: String = r.get(8)?;
        let meta: String = r.get(9)?;
        tasks.push(ClaimedTask {
            task_id,
            job_id: r.get(1)?,
            message_id,
            attempts: r.get(3)?,
            action,
            params: serde_json::from_str(&params).unwrap_or(serde_json::Value::Null),
            message: Message {
                account: account.to_owned(),
                remote_id: r.get(6)?,
                sent_at_ms: r.get(7)?,
                tags: serde_json::from_str(&tags).unwrap_or_default(),
                meta: serde_json::from_str(&meta).unwrap_or(serde_json::Value::Null),
            },
        });
    }
    drop(rows);
    let mut mark =
        conn.prepare_cached("UPDATE tasks SET state = 'running', updated_at = ?2 WHERE id = ?1")?;
    for task in &tasks {
        mark.execute(params![task.task_id, now_ms])?;
        busy.messages.insert(task.message_id, task.task_id);
    }
    if suspect.is_some() {
        busy.suspect = suspect;
    }
    let mut defer = conn.prepare_cached("UPDATE tasks SET next_at = ?2 WHERE id = ?1")?;
    for task_id in deferred {
        defer.execute(params![task_id, now_ms.saturating_add(DEFER_MS)])?;
    }
    for task_id in deferred_suspects {
        defer.execute(params![task_id, now_ms.saturating_add(SUSPECT_DEFER_MS)])?;
    }
    if !settled.is_empty() {
        finish(conn, busy, &settled)?;
    }
    Ok(tasks)
}

/// What [`failed`] reads of a task, from `tasks t JOIN jobs j`.
pub(super) const FAILED_COLUMNS: &str =
    "t.id, t.job_id, t.message_id, t.account, t.attempts, j.action";

/// The task in a row of [`FAILED_COLUMNS`], failed at `now_ms` with the
/// error `why` gives for its account.
pub(super) fn failed(
    r: &rusqlite::Row<'_>,
    now_ms: i64,
    why: impl FnOnce(&str) -> String,
) -> rusqlite::Result<TaskResult> {
    let account: String = r.get(3)?;
    Ok(TaskResult {
        task_id: r.get(0)?,
        job_id: r.get(1)?,
        message_id: r.get(2)?,
        action: parse_action(&r.get::<_, String>(5)?),
        error: Some(why(&account)),
        account,
        state: TaskState::Failed,
        attempts: r.get(4)?,
        next_at_ms: now_ms,
        at_ms: now_ms,
    })
}

/// Fails every pending task of an account not in `served`: after a config
/// change dropped or renamed an account, its tasks would wait forever for a
/// lane that does not exist, and their jobs would never be done. Returns how
/// many failed.
pub(super) fn fail_unserved(
    conn: &Connection,
    busy: &mut Busy,
    served: &[String],
    now_ms: i64,
) -> Result<u64, StoreError> {
    let placeholders = vec!["?"; served.len()].join(", ");
    let mut query = conn.prepare(&format!(
        "SELECT {FAILED_COLUMNS} FROM tasks t JOIN jobs j ON j.id = t.job_id
         WHERE t.state = 'pending' AND t.account NOT IN ({placeholders})"
    ))?;
    let unserved = query
        .query_map(rusqlite::params_from_iter(served), |r| {
            failed(r, now_ms, |account| {
                format!("account {account:?} is not configured: no lane serves it")
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    finish(conn, busy, &unserved)?;
    Ok(unserved.len() as u64)
}

/// One attempt as the audit log keeps it.
#[derive(Serialize)]
struct Attempt<'a> {
    task: i64,
    /// `pending`: to be retried.
    state: TaskState,
    attempts: u32,
    at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// The audit record of one job's attempts on one account in one batch.
#[derive(Serialize)]
struct Attempts<'a> {
    account: &'a str,
    /// How many attempts ended in each state.
    counts: BTreeMap<&'static str, u64>,
    results: Vec<Attempt<'a>>,
}

/// Records attempt results: each task's state, its message's ledger state,
/// one audit record per job and account listing every attempt, and the jobs
/// that have nothing left to do become `done`.
///
/// A task that has ended never changes again: a result for one (which the
/// dispatcher never sends) is ignored.
pub(super) fn finish(
    conn: &Connection,
    busy: &mut Busy,
    results: &[TaskResult],
) -> Result<(), StoreError> {
    let mut update = conn.prepare_cached(
        "UPDATE tasks SET state = ?2, attempts = ?3, next_at = ?4, last_error = ?5, updated_at = ?6
         WHERE id = ?1 AND state IN ('pending', 'running')",
    )?;
    // A settled message stays settled: a later job's failure on it (a
    // cancel after the recall, say) does not undo what the vendor did.
    let mut ledger = conn.prepare_cached(
        "UPDATE messages SET state = ?2
         WHERE id = ?1 AND (state NOT IN (?3, ?4) OR ?2 IN (?3, ?4))",
    )?;
    let mut audited: BTreeMap<(i64, &str), (i64, Attempts<'_>)> = BTreeMap::new();
    // Jobs with a task that ended, and when the last of them did.
    let mut ended: BTreeMap<i64, i64> = BTreeMap::new();
    // Tasks that left the open bucket, per job, account and state.
    let mut closed: BTreeMap<(i64, &str, &str), i64> = BTreeMap::new();
    for r in results {
        // The attempt is over, whatever it ended in.
        if busy.messages.get(&r.message_id) == Some(&r.task_id) {
            busy.messages.remove(&r.message_id);
        }
        if busy.suspect == Some(r.task_id) {
            busy.suspect = None;
        }
        let changed = update.execute(params![
            r.task_id,
            r.state.as_str(),
            r.attempts,
            r.next_at_ms,
            r.error,
            r.at_ms
        ])?;
        if changed == 0 {
            continue;
        }
        if let Some(state) = message_state(r.action, r.state) {
            ledger.execute(params![r.message_id, state, SETTLED[0], SETTLED[1]])?;
        }
        let (at, record) = audited
            .entry((r.job_id, r.account.as_str()))
            .or_insert_with(|| {
                let record = Attempts {
                    account: &r.account,
                    counts: BTreeMap::new(),
                    results: Vec::new(),
                };
                (r.at_ms, record)
            });
        *at = (*at).max(r.at_ms);
        *record.counts.entry(r.state.as_str()).or_default() += 1;
        record.results.push(Attempt {
            task: r.task_id,
            state: r.state,
            attempts: r.attempts,
            at: r.at_ms,
            error: r.error.as_deref(),
        });
        if r.state.is_terminal() {
            let last = ended.entry(r.job_id).or_insert(r.at_ms);
            *last = (*last).max(r.at_ms);
            *closed
                .entry((r.job_id, r.account.as_str(), r.state.as_str()))
                .or_default() += 1;
        }
    }
    count_closed(conn, &closed)?;
    for ((job_id, _), (at, record)) in &audited {
        let detail = serde_json::to_string(record)
            .map_err(|e| StoreError::Database(format!("cannot write an audit record: {e}")))?;
        audit(conn, *at, "attempts", Some(*job_id), None, None, &detail)?;
    }
    for (job_id, at) in ended {
        finish_job_if_done(conn, job_id, at)?;
    }
    Ok(())
}

/// Moves the counts of tasks that ended out of their job's open bucket.
fn count_closed(
    conn: &Connection,
    closed: &BTreeMap<(i64, &str, &str), i64>,
) -> Result<(), StoreError> {
    let mut open = conn.prepare_cached(
        "UPDATE job_counts SET n = n - ?3 WHERE job_id = ?1 AND account = ?2 AND state = 'open'",
    )?;
    let mut ended = conn.prepare_cached(
        "INSERT INTO job_counts (job_id, account, state, n) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (job_id, account, state) DO UPDATE SET n = n + excluded.n",
    )?;
    for (&(job_id, account, state), &n) in closed {
        open.execute(params![job_id, account, n])?;
        ended.execute(params![job_id, account, state, n])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
