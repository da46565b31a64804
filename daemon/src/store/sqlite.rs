//! The embedded store: one database thread owns the connection and runs
//! every operation in batches. Each batch is one transaction (group commit);
//! each operation inside it is a savepoint, so one failure rolls back only
//! its own writes. Replies leave only after the batch has committed, so an
//! answer always describes durable state.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use plugin_api::{Message, OperationKind};
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use tokio::sync::{mpsc, oneshot};

use super::schedules;
use super::schema::{PRAGMAS, SCHEMA};
use super::select::where_clause;
use super::*;

/// Operations waiting for the database thread; beyond this, callers wait.
const QUEUE: usize = 16_384;
/// Operations per transaction at most.
const BATCH: usize = 1_024;

type Reply = Box<dyn FnOnce(bool) + Send>;
type Op = Box<dyn FnOnce(&Connection) -> Reply + Send>;

/// SQLite behind a group-commit database thread.
#[derive(Clone)]
pub struct SqliteStore {
    ops: mpsc::Sender<Op>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Database(format!("{}: {e}", dir.display())))?;
        }
        Self::start(Connection::open(path)?)
    }

    /// A private in-memory database (tests, dry runs).
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        Self::start(Connection::open_in_memory()?)
    }

    fn start(conn: Connection) -> Result<SqliteStore, StoreError> {
        conn.execute_batch(PRAGMAS)?;
        conn.execute_batch(SCHEMA)?;
        let (ops, rx) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("recalld-store".into())
            .spawn(move || database_thread(conn, rx))
            .map_err(|e| StoreError::Database(format!("cannot start the database thread: {e}")))?;
        Ok(SqliteStore { ops })
    }

    /// Runs `f` on the database thread inside the current batch.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let op: Op = Box::new(move |conn| {
            let result = savepoint(conn, f);
            Box::new(move |committed| {
                let result = match result {
                    Ok(_) if !committed => Err(StoreError::Database(
                        "the transaction did not commit".into(),
                    )),
                    other => other,
                };
                let _ = tx.send(result);
            })
        });
        self.ops.send(op).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

fn savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.execute_batch("SAVEPOINT op")?;
    let result = f(conn);
    let end = if result.is_ok() {
        "RELEASE op"
    } else {
        "ROLLBACK TO op; RELEASE op"
    };
    conn.execute_batch(end)?;
    result
}

fn database_thread(conn: Connection, mut rx: mpsc::Receiver<Op>) {
    while let Some(first) = rx.blocking_recv() {
        let mut ops = vec![first];
        while ops.len() < BATCH {
            match rx.try_recv() {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            tracing::error!("store: cannot begin a transaction: {e}");
            for op in ops {
                drop(op);
            }
            continue;
        }
        let replies: Vec<Reply> = ops.into_iter().map(|op| op(&conn)).collect();
        let committed = match conn.execute_batch("COMMIT") {
            Ok(()) => true,
            Err(e) => {
                tracing::error!("store: commit failed: {e}");
                let _ = conn.execute_batch("ROLLBACK");
                false
            }
        };
        for reply in replies {
            reply(committed);
        }
    }
}

pub(super) fn insert_delivery(conn: &Connection, delivery: &Delivery) -> Result<(), StoreError> {
    let inserted = conn
        .prepare_cached("INSERT INTO deliveries (client, id, expires_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")?
        .execute(params![delivery.client, delivery.id, delivery.expires_at_ms])?;
    if inserted == 0 {
        Err(StoreError::Replay)
    } else {
        Ok(())
    }
}

pub(super) fn audit(
    conn: &Connection,
    at: i64,
    kind: &str,
    job: Option<i64>,
    task: Option<i64>,
    actor: Option<&str>,
    detail: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT INTO audit (at, kind, job_id, task_id, actor, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
        .execute(params![at, kind, job, task, actor, detail])?;
    Ok(())
}

fn parse_action(text: &str) -> OperationKind {
    match text {
        "cancel" => OperationKind::Cancel,
        "update" => OperationKind::Update,
        _ => OperationKind::Recall,
    }
}

/// The ledger state a message reaches when a task of `action` ends in `state`.
fn message_state(action: OperationKind, state: TaskState) -> Option<&'static str> {
    Some(match (action, state) {
        (OperationKind::Recall, TaskState::Done | TaskState::AlreadyDone) => "recalled",
        (OperationKind::Cancel, TaskState::Done | TaskState::AlreadyDone) => "cancelled",
        (OperationKind::Update, TaskState::Done | TaskState::AlreadyDone) => "updated",
        (_, TaskState::Expired) => "expired",
        (OperationKind::Recall, TaskState::Failed) => "recall_failed",
        (OperationKind::Cancel, TaskState::Failed) => "cancel_failed",
        _ => return None,
    })
}

fn row_to_message(row: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRow> {
    let tags: String = row.get(4)?;
    let meta: String = row.get(5)?;
    Ok(MessageRow {
        id: row.get(0)?,
        account: row.get(1)?,
        remote_id: row.get(2)?,
        sent_at_ms: row.get(3)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        meta: serde_json::from_str(&meta).unwrap_or(serde_json::Value::Null),
        state: row.get(6)?,
    })
}

const MESSAGE_COLUMNS: &str = "m.id, m.account, m.remote_id, m.sent_at, m.tags, m.meta, m.state";

impl Store for SqliteStore {
    fn track(
        &self,
        messages: Vec<NewMessage>,
        delivery: Option<Delivery>,
    ) -> StoreFuture<'_, TrackResult> {
        Box::pin(self.run(move |conn| {
            if let Some(delivery) = &delivery {
                insert_delivery(conn, delivery)?;
            }
            let now = crate::clock::now_ms();
            let mut result = TrackResult::default();
            let mut insert = conn.prepare_cached(
                "INSERT INTO messages (account, remote_id, sent_at, tags, meta, tracked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (account, remote_id) DO NOTHING",
            )?;
            let mut tag = conn.prepare_cached("INSERT OR IGNORE INTO message_tags (tag, message_id) VALUES (?1, ?2)")?;
            for message in &messages {
                let tags = serde_json::to_string(&message.tags).unwrap_or_else(|_| "[]".into());
                let meta = serde_json::to_string(&message.meta).unwrap_or_else(|_| "null".into());
                let changed = insert.execute(params![message.account, message.remote_id, message.sent_at_ms, tags, meta, now])?;
                if changed == 0 {
                    result.existing += 1;
                    continue;
                }
                result.inserted += 1;
                let id = conn.last_insert_rowid();
                for t in &message.tags {
                    tag.execute(params![t, id])?;
                }
                if !message.age.is_empty() {
                    schedules::insert_plans(conn, id, &message.age, now)?;
                }
            }
            Ok(result)
        }))
    }

    fn record_delivery(&self, delivery: Delivery) -> StoreFuture<'_, ()> {
        Box::pin(self.run(move |conn| insert_delivery(conn, &delivery)))
    }

    fn preview(&self, selector: Selector, sample: u32) -> StoreFuture<'_, Preview> {
        Box::pin(self.run(move |conn| {
            let (clause, values) = where_clause(&selector);
            let mut preview = Preview::default();
            let mut counts = conn.prepare(&format!("SELECT m.account, count(*) FROM messages m WHERE {clause} GROUP BY m.account"))?;
            let rows = counts.query_map(params_from_iter(values.iter()), |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            for row in rows {
                let (account, n) = row?;
                preview.matched += n as u64;
                preview.per_account.insert(account, n as u64);
            }
            let mut list = conn.prepare(&format!("SELECT {MESSAGE_COLUMNS} FROM messages m WHERE {clause} ORDER BY m.id LIMIT {sample}"))?;
            preview.sample = list.query_map(params_from_iter(values.iter()), row_to_message)?.collect::<Result<_, _>>()?;
            Ok(preview)
        }))
    }

    fn create_job(&self, spec: JobSpec, delivery: Option<Delivery>) -> StoreFuture<'_, JobCreated> {
        Box::pin(self.run(move |conn| {
            if let Some(delivery) = &delivery {
                insert_delivery(conn, delivery)?;
            }
            let matched = matched_messages(conn, &spec.selector)?;
            let count = matched.len() as u64;
            if count > spec.max_messages {
                return Err(StoreError::TooManyMessages {
                    matched: count,
                    cap: spec.max_messages,
                });
            }
            insert_job(conn, &spec, &matched)
        }))
    }

    fn claim(&self, account: String, now_ms: i64, limit: u32) -> StoreFuture<'_, Vec<ClaimedTask>> {
        Box::pin(self.run(move |conn| {
            let mut query = conn.prepare_cached(
                "SELECT t.id, t.job_id, t.message_id, t.attempts, j.action, j.params, m.remote_id, m.sent_at, m.tags, m.meta
                 FROM tasks t JOIN jobs j ON j.id = t.job_id JOIN messages m ON m.id = t.message_id
                 WHERE t.account = ?1 AND t.state = 'pending' AND t.next_at <= ?2
                 ORDER BY t.next_at, t.id LIMIT ?3",
            )?;
            let tasks: Vec<ClaimedTask> = query
                .query_map(params![account, now_ms, limit], |r| {
                    let action: String = r.get(4)?;
                    let params: String = r.get(5)?;
                    let tags: String = r.get(8)?;
                    let meta: String = r.get(9)?;
                    Ok(ClaimedTask {
                        task_id: r.get(0)?,
                        job_id: r.get(1)?,
                        message_id: r.get(2)?,
                        attempts: r.get(3)?,
                        action: parse_action(&action),
                        params: serde_json::from_str(&params).unwrap_or(serde_json::Value::Null),
                        message: Message {
                            account: account.clone(),
                            remote_id: r.get(6)?,
                            sent_at_ms: r.get(7)?,
                            tags: serde_json::from_str(&tags).unwrap_or_default(),
                            meta: serde_json::from_str(&meta).unwrap_or(serde_json::Value::Null),
                        },
                    })
                })?
                .collect::<Result<_, _>>()?;
            let mut mark = conn.prepare_cached("UPDATE tasks SET state = 'running', updated_at = ?2 WHERE id = ?1")?;
            for task in &tasks {
                mark.execute(params![task.task_id, now_ms])?;
            }
            Ok(tasks)
        }))
    }

    fn finish(&self, results: Vec<TaskResult>) -> StoreFuture<'_, ()> {
        Box::pin(self.run(move |conn| {
            let mut update = conn.prepare_cached(
                "UPDATE tasks SET state = ?2, attempts = ?3, next_at = ?4, last_error = ?5, updated_at = ?6 WHERE id = ?1",
            )?;
            let mut ledger = conn.prepare_cached("UPDATE messages SET state = ?2 WHERE id = ?1")?;
            let mut jobs = BTreeSet::new();
            for r in &results {
                update.execute(params![r.task_id, r.state.as_str(), r.attempts, r.next_at_ms, r.error, r.at_ms])?;
                if let Some(state) = message_state(r.action, r.state) {
                    ledger.execute(params![r.message_id, state])?;
                }
                let detail = serde_json::json!({"account": r.account, "state": r.state, "attempts": r.attempts, "error": r.error});
                audit(conn, r.at_ms, "vendor_call", Some(r.job_id), Some(r.task_id), None, &detail.to_string())?;
                if r.state.is_terminal() {
                    jobs.insert((r.job_id, r.at_ms));
                }
            }
            for (job_id, at) in jobs {
                finish_job_if_done(conn, job_id, at)?;
            }
            Ok(())
        }))
    }

    fn next_due(&self, account: String) -> StoreFuture<'_, Option<i64>> {
        Box::pin(self.run(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT min(next_at) FROM tasks WHERE account = ?1 AND state = 'pending'",
                )?
                .query_row(params![account], |r| r.get::<_, Option<i64>>(0))?)
        }))
    }

    fn job(&self, job_id: i64) -> StoreFuture<'_, Option<JobProgress>> {
        Box::pin(self.run(move |conn| job_progress(conn, job_id)))
    }

    fn messages(
        &self,
        tag: Option<String>,
        account: Option<String>,
        after_id: i64,
        limit: u32,
    ) -> StoreFuture<'_, Vec<MessageRow>> {
        Box::pin(self.run(move |conn| {
            let mut sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id > ?1");
            let mut values: Vec<rusqlite::types::Value> = vec![after_id.into()];
            if let Some(tag) = tag {
                sql.push_str(" AND m.id IN (SELECT message_id FROM message_tags WHERE tag = ?)");
                values.push(tag.into());
            }
            if let Some(account) = account {
                sql.push_str(" AND m.account = ?");
                values.push(account.into());
            }
            sql.push_str(&format!(" ORDER BY m.id LIMIT {limit}"));
            let mut query = conn.prepare(&sql)?;
            let rows = query
                .query_map(params_from_iter(values.iter()), row_to_message)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        }))
    }

    fn recover(&self) -> StoreFuture<'_, u64> {
        Box::pin(self.run(move |conn| {
            Ok(conn.execute(
                "UPDATE tasks SET state = 'pending' WHERE state = 'running'",
                [],
            )? as u64)
        }))
    }

    fn purge_deliveries(&self, now_ms: i64) -> StoreFuture<'_, u64> {
        Box::pin(self.run(move |conn| {
            Ok(conn.execute(
                "DELETE FROM deliveries WHERE expires_at < ?1",
                params![now_ms],
            )? as u64)
        }))
    }

    fn create_jobs(
        &self,
        specs: Vec<JobSpec>,
        delivery: Option<Delivery>,
        run: Option<RuleRun>,
    ) -> StoreFuture<'_, Vec<Result<JobCreated, StoreError>>> {
        Box::pin(
            self.run(move |conn| {
                schedules::create_jobs(conn, &specs, delivery.as_ref(), run.as_ref())
            }),
        )
    }

    fn rule_runs(&self) -> StoreFuture<'_, BTreeMap<String, RuleRun>> {
        Box::pin(self.run(schedules::rule_runs))
    }

    fn next_age_due(&self) -> StoreFuture<'_, Option<i64>> {
        Box::pin(self.run(schedules::next_age_due))
    }

    fn fire_age(
        &self,
        now_ms: i64,
        live: BTreeMap<String, AgeFiring>,
        max: u32,
    ) -> StoreFuture<'_, AgeFired> {
        Box::pin(self.run(move |conn| schedules::fire_age(conn, now_ms, &live, max)))
    }

    fn replan_age(
        &self,
        live: BTreeMap<String, String>,
        plan: Planner,
        now_ms: i64,
    ) -> StoreFuture<'_, Replanned> {
        Box::pin(self.run(move |conn| schedules::replan_age(conn, &live, &plan, now_ms)))
    }
}

/// A matched message: (id, account, ledger state).
pub(super) type Matched = (i64, String, String);

/// Every message `selector` matches.
pub(super) fn matched_messages(
    conn: &Connection,
    selector: &Selector,
) -> Result<Vec<Matched>, StoreError> {
    let (clause, values) = where_clause(selector);
    let mut query = conn.prepare(&format!(
        "SELECT m.id, m.account, m.state FROM messages m WHERE {clause} ORDER BY m.id"
    ))?;
    let matched = query
        .query_map(params_from_iter(values.iter()), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(matched)
}

/// A job with one task per matched message (id, account, ledger state).
pub(super) fn insert_job(
    conn: &Connection,
    spec: &JobSpec,
    matched: &[Matched],
) -> Result<JobCreated, StoreError> {
    let count = matched.len() as u64;
    let now = spec.now_ms;
    let selector = serde_json::to_string(&spec.selector).unwrap_or_default();
    let params_json = serde_json::to_string(&spec.params).unwrap_or_else(|_| "null".into());
    conn.prepare_cached(
        "INSERT INTO jobs (created_at, requested_by, reason, action, selector, params, state, total) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7)",
    )?
    .execute(params![now, spec.requested_by, spec.reason, spec.action.as_str(), selector, params_json, count as i64])?;
    let job_id = conn.last_insert_rowid();
    let done_state = message_state(spec.action, TaskState::Done);
    let mut insert = conn.prepare_cached(
        "INSERT INTO tasks (job_id, message_id, account, state, next_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    )?;
    let mut per_account: BTreeMap<String, u64> = BTreeMap::new();
    for (message_id, account, state) in matched {
        // Never act twice on the daemon's own account: a message this
        // action already reached is recorded as already done.
        let task_state = if Some(state.as_str()) == done_state {
            TaskState::AlreadyDone
        } else {
            TaskState::Pending
        };
        insert.execute(params![
            job_id,
            message_id,
            account,
            task_state.as_str(),
            now
        ])?;
        *per_account.entry(account.clone()).or_default() += 1;
    }
    let detail = serde_json::json!({"action": spec.action, "reason": spec.reason, "selector": spec.selector, "matched": count});
    audit(
        conn,
        now,
        "job_created",
        Some(job_id),
        None,
        Some(&spec.requested_by),
        &detail.to_string(),
    )?;
    finish_job_if_done(conn, job_id, now)?;
    Ok(JobCreated {
        job_id,
        matched: count,
        per_account,
    })
}

fn finish_job_if_done(conn: &Connection, job_id: i64, at: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE jobs SET state = 'done', finished_at = ?2 WHERE id = ?1 AND state = 'running'
         AND NOT EXISTS (SELECT 1 FROM tasks WHERE job_id = ?1 AND state IN ('pending', 'running'))",
    )?
    .execute(params![job_id, at])?;
    Ok(())
}

fn job_progress(conn: &Connection, job_id: i64) -> Result<Option<JobProgress>, StoreError> {
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
    let mut grouped = conn.prepare_cached(
        "SELECT account, state, count(*) FROM tasks WHERE job_id = ?1 GROUP BY account, state",
    )?;
    for row in grouped.query_map(params![job_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })? {
        let (account, state, n) = row?;
        counts.add(&state, n as u64);
        accounts.entry(account).or_default().add(&state, n as u64);
    }
    let mut errors = conn.prepare_cached(
        "SELECT last_error, count(*) FROM tasks WHERE job_id = ?1 AND last_error IS NOT NULL GROUP BY last_error ORDER BY count(*) DESC LIMIT 20",
    )?;
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
