//! The embedded store: SQLite behind one database thread ([`database`]) that
//! runs every operation in batches, one transaction per batch (group commit),
//! and, for a file, a reader thread for reads that scan many rows.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, OpenFlags, params};
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::{self, Checkpointer};
use super::database::{self, Durability, Isolation, Op, Ran};
use super::ledger::{self, insert_delivery};
use super::lock::lock;
use super::schedules;
use super::schema::{self, PRAGMAS};
use super::{jobs, progress, recovery, tasks, *};

/// Operations waiting for the database thread; beyond this, callers wait.
const QUEUE: usize = 16_384;

/// What the reader's connection is set to (journal mode is the file's).
const READER_PRAGMAS: &str = "
PRAGMA query_only = ON;
PRAGMA busy_timeout = 5000;
PRAGMA cache_size = -8192;
";

/// SQLite behind a group-commit database thread.
#[derive(Clone)]
pub struct SqliteStore {
    ops: mpsc::Sender<Op>,
    /// The reader thread's queue; the database thread's for an in-memory
    /// database (no other connection can see it).
    reads: mpsc::Sender<Op>,
    /// Copies the WAL back for a file database (the writer does not).
    _checkpointer: Option<Checkpointer>,
    /// Messages with a task out (see [`tasks::Busy`]); only the database
    /// thread touches it, so its lock is never contended.
    busy: Arc<Mutex<tasks::Busy>>,
    /// The file database's lock, held while any clone of the store lives.
    _lock: Option<Arc<File>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, which no other
    /// process may have open as a store (it holds `<path>.lock`, see
    /// `store/lock.rs`).
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Database(format!("{}: {e}", dir.display())))?;
        }
        let lock = lock(path)?;
        let writer = Connection::open(path)?;
        writer.execute_batch(checkpoint::WRITER_PRAGMA)?;
        let ops = Self::start(writer)?;
        // Opened once the writer has made the file (WAL, schema).
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        reader.execute_batch(READER_PRAGMAS)?;
        let (reads, rx) = mpsc::channel(QUEUE);
        spawn("recalld-reads", move || database::run_reads(reader, rx))?;
        let checkpointer = Some(Checkpointer::start(path)?);
        Ok(SqliteStore {
            ops,
            reads,
            _checkpointer: checkpointer,
            busy: Arc::default(),
            _lock: Some(Arc::new(lock)),
        })
    }

    /// A private in-memory database (tests, dry runs).
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let ops = Self::start(Connection::open_in_memory()?)?;
        Ok(SqliteStore {
            reads: ops.clone(),
            ops,
            _checkpointer: None,
            busy: Arc::default(),
            _lock: None,
        })
    }

    /// Starts the database thread on `conn`.
    fn start(mut conn: Connection) -> Result<mpsc::Sender<Op>, StoreError> {
        conn.execute_batch(PRAGMAS)?;
        schema::create(&mut conn)?;
        let (ops, rx) = mpsc::channel(QUEUE);
        spawn("recalld-store", move || database::run(conn, rx))?;
        Ok(ops)
    }

    /// Runs `f` on the database thread inside the current batch, in a
    /// savepoint of its own; the reply waits for the fsync.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(Isolation::Savepoint, Durability::Full, f).await
    }

    /// Runs `f` bare in the current batch: for writes that fail only when the
    /// database does (see [`Isolation::Bare`]); the reply waits for the fsync.
    async fn run_bare<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(Isolation::Bare, Durability::Full, f).await
    }

    /// The dispatcher's claims and results: bare, and answered once in the
    /// WAL (they survive the process, see [`Durability::Process`]).
    async fn run_bookkeeping<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(Isolation::Bare, Durability::Process, f).await
    }

    /// Runs `f`, which writes nothing, on the reader thread.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(Isolation::Read, Durability::Process, f).await
    }

    async fn submit<T, F>(
        &self,
        isolation: Isolation,
        durability: Durability,
        f: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let run = Box::new(move |conn: &Connection| {
            let (result, sound) = database::execute(conn, isolation, f);
            let reply = Box::new(move |committed: bool| {
                let result = match result {
                    Ok(_) if !committed => Err(StoreError::Database(
                        "the transaction did not commit".into(),
                    )),
                    other => other,
                };
                let _ = tx.send(result);
            });
            Ran { reply, sound }
        });
        let op = Op { durability, run };
        let queue = match isolation {
            Isolation::Read => &self.reads,
            Isolation::Savepoint | Isolation::Bare => &self.ops,
        };
        queue.send(op).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), StoreError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(drop)
        .map_err(|e| StoreError::Database(format!("cannot start the {name} thread: {e}")))
}

impl Store for SqliteStore {
    fn track(
        &self,
        messages: Vec<NewMessage>,
        delivery: Option<Delivery>,
    ) -> StoreFuture<'_, TrackResult> {
        // Bare, not in a savepoint: see `ledger::track`.
        Box::pin(async move {
            self.run_bare(move |conn| ledger::track(conn, &messages, delivery.as_ref()))
                .await?
        })
    }

    fn record_delivery(&self, delivery: Delivery) -> StoreFuture<'_, ()> {
        Box::pin(self.run(move |conn| insert_delivery(conn, &delivery)))
    }

    fn preview(&self, selector: Selector, sample: u32) -> StoreFuture<'_, Preview> {
        Box::pin(self.read(move |conn| ledger::preview(conn, &selector, sample)))
    }

    fn create_job(&self, spec: JobSpec, delivery: Option<Delivery>) -> StoreFuture<'_, JobCreated> {
        Box::pin(self.run(move |conn| {
            if let Some(delivery) = &delivery {
                insert_delivery(conn, delivery)?;
            }
            jobs::create(conn, &spec)
        }))
    }

    fn claim(&self, account: String, now_ms: i64, limit: u32) -> StoreFuture<'_, Vec<ClaimedTask>> {
        let busy = Arc::clone(&self.busy);
        Box::pin(self.run_bookkeeping(move |conn| {
            let mut busy = busy.lock().unwrap_or_else(PoisonError::into_inner);
            tasks::claim(conn, &mut busy, &account, now_ms, limit)
        }))
    }

    fn finish(&self, results: Vec<TaskResult>) -> StoreFuture<'_, ()> {
        let busy = Arc::clone(&self.busy);
        Box::pin(self.run_bookkeeping(move |conn| {
            let mut busy = busy.lock().unwrap_or_else(PoisonError::into_inner);
            tasks::finish(conn, &mut busy, &results)
        }))
    }

    fn next_due(&self, account: String) -> StoreFuture<'_, Option<i64>> {
        // A read for the dispatcher: it needs no savepoint and no fsync.
        Box::pin(self.run_bookkeeping(move |conn| {
            Ok(conn
                .prepare_cached(tasks::NEXT_DUE)?
                .query_row(params![account], |r| r.get::<_, Option<i64>>(0))?)
        }))
    }

    fn job(&self, job_id: i64) -> StoreFuture<'_, Option<JobProgress>> {
        Box::pin(self.read(move |conn| progress::job_progress(conn, job_id)))
    }

    fn messages(
        &self,
        tag: Option<String>,
        account: Option<String>,
        after_id: i64,
        limit: u32,
    ) -> StoreFuture<'_, Vec<MessageRow>> {
        Box::pin(self.read(move |conn| ledger::messages(conn, tag, account, after_id, limit)))
    }

    fn fail_unserved(&self, served: Vec<String>, now_ms: i64) -> StoreFuture<'_, u64> {
        let busy = Arc::clone(&self.busy);
        Box::pin(self.run_bookkeeping(move |conn| {
            let mut busy = busy.lock().unwrap_or_else(PoisonError::into_inner);
            tasks::fail_unserved(conn, &mut busy, &served, now_ms)
        }))
    }

    fn recover(&self, now_ms: i64) -> StoreFuture<'_, Recovered> {
        let busy = Arc::clone(&self.busy);
        Box::pin(self.run(move |conn| {
            let mut busy = busy.lock().unwrap_or_else(PoisonError::into_inner);
            recovery::recover(conn, &mut busy, now_ms)
        }))
    }

    fn release(&self) -> StoreFuture<'_, u64> {
        let busy = Arc::clone(&self.busy);
        Box::pin(self.run(move |conn| {
            let mut busy = busy.lock().unwrap_or_else(PoisonError::into_inner);
            recovery::release(conn, &mut busy)
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

#[cfg(test)]
mod tests;
