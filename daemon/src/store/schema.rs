//! The SQLite schema. Created idempotently at open.

pub const PRAGMAS: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
PRAGMA foreign_keys = ON;
PRAGMA busy_timeout = 5000;
PRAGMA cache_size = -8192;
";

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    id          INTEGER PRIMARY KEY,
    account     TEXT NOT NULL,
    remote_id   TEXT NOT NULL,
    sent_at     INTEGER NOT NULL,
    tags        TEXT NOT NULL,
    meta        TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'sent',
    tracked_at  INTEGER NOT NULL,
    UNIQUE (account, remote_id)
);
CREATE TABLE IF NOT EXISTS message_tags (
    tag         TEXT NOT NULL,
    message_id  INTEGER NOT NULL REFERENCES messages(id),
    PRIMARY KEY (tag, message_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS jobs (
    id           INTEGER PRIMARY KEY,
    created_at   INTEGER NOT NULL,
    requested_by TEXT NOT NULL,
    reason       TEXT NOT NULL,
    action       TEXT NOT NULL,
    selector     TEXT NOT NULL,
    params       TEXT NOT NULL,
    state        TEXT NOT NULL,
    total        INTEGER NOT NULL,
    finished_at  INTEGER
);
CREATE TABLE IF NOT EXISTS tasks (
    id          INTEGER PRIMARY KEY,
    job_id      INTEGER NOT NULL REFERENCES jobs(id),
    message_id  INTEGER NOT NULL REFERENCES messages(id),
    account     TEXT NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL,
    last_error  TEXT,
    updated_at  INTEGER NOT NULL,
    -- How many times the daemon stopped with this task out and no result
    -- recorded (`recovery.rs`).
    interrupted INTEGER NOT NULL DEFAULT 0
);
-- Task indexes are chosen so a task's life touches few index entries: a
-- claim takes it out of `tasks_pending` and a result changes no index
-- (unless it carries an error). Whether a job is done and how far it has got
-- come from `job_counts`. (Until 0.1 the indexes were `tasks_due (account,
-- state, next_at)` and `tasks_job (job_id, state)`, which every claim and
-- every result moved twice. After them came `tasks_open (job_id)` over
-- pending and running tasks and `tasks_by_job (job_id)`, for the job-done
-- check and progress; `job_counts` serves both now, and the two indexes cost
-- a third of a job's creation.)
DROP INDEX IF EXISTS tasks_due;
DROP INDEX IF EXISTS tasks_job;
DROP INDEX IF EXISTS tasks_open;
DROP INDEX IF EXISTS tasks_by_job;
CREATE INDEX IF NOT EXISTS tasks_pending ON tasks (account, next_at) WHERE state = 'pending';
-- Only tasks with an error: a job's distinct errors without reading its
-- other tasks.
CREATE INDEX IF NOT EXISTS tasks_errors ON tasks (job_id, last_error) WHERE last_error IS NOT NULL;
-- How many of a job's tasks on an account are in each state, 'open' standing
-- for pending and running: a progress poll and the job-done check read these
-- few rows, not every task of the job. Written with the tasks (`jobs.rs`,
-- `tasks.rs`); a claim or a restart moves tasks between pending and running
-- only.
CREATE TABLE IF NOT EXISTS job_counts (
    job_id   INTEGER NOT NULL REFERENCES jobs(id),
    account  TEXT NOT NULL,
    state    TEXT NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (job_id, account, state)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deliveries (
    client      TEXT NOT NULL,
    id          TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (client, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    job_id   INTEGER,
    task_id  INTEGER,
    actor    TEXT,
    detail   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS schedules (
    id          INTEGER PRIMARY KEY,
    rule        TEXT NOT NULL,
    version     TEXT NOT NULL,
    message_id  INTEGER NOT NULL REFERENCES messages(id),
    due_at      INTEGER NOT NULL,
    state       TEXT NOT NULL,
    job_id      INTEGER REFERENCES jobs(id),
    updated_at  INTEGER NOT NULL,
    UNIQUE (rule, message_id)
);
CREATE INDEX IF NOT EXISTS schedules_due ON schedules (state, due_at);
CREATE TABLE IF NOT EXISTS rule_runs (
    rule        TEXT PRIMARY KEY,
    version     TEXT NOT NULL,
    fired_at    INTEGER NOT NULL
) WITHOUT ROWID;
";

/// The `job_counts` bucket of a task state.
pub const OPEN: &str = "open";

/// Counts the tasks of every job into `job_counts`, for a database written
/// before the table existed.
const BACKFILL_COUNTS: &str = "INSERT INTO job_counts (job_id, account, state, n)
     SELECT job_id, account, CASE WHEN state IN ('pending', 'running') THEN 'open' ELSE state END, count(*)
     FROM tasks GROUP BY 1, 2, 3";

/// Creates what is missing of the schema, in one transaction: a database
/// from before `job_counts` gets its counts in the same commit as the table,
/// and one from before `tasks.interrupted` gets the column.
pub fn create(conn: &mut rusqlite::Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let old_tasks = has_table(&tx, "tasks")?;
    let backfill = old_tasks && !has_table(&tx, "job_counts")?;
    if old_tasks && !has_column(&tx, "tasks", "interrupted")? {
        tx.execute_batch("ALTER TABLE tasks ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0")?;
    }
    tx.execute_batch(SCHEMA)?;
    if backfill {
        tx.execute(BACKFILL_COUNTS, [])?;
    }
    tx.commit()
}

fn has_column(conn: &rusqlite::Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2",
        [table, column],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )
}

fn has_table(conn: &rusqlite::Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::SCHEMA;
    use crate::store::{progress, tasks};

    /// Every row of `sql`, bound to `params`, as `row` reads it.
    fn rows<T>(
        conn: &Connection,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Vec<T> {
        conn.prepare(sql)
            .unwrap()
            .query_map(params, row)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// A new database with the current schema.
    fn fresh() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn
    }

    /// The details of `EXPLAIN QUERY PLAN` for `sql`, one line each.
    fn plan(conn: &Connection, sql: &str, params: usize) -> String {
        let values = rusqlite::params_from_iter(vec![1i64; params]);
        rows(conn, &format!("EXPLAIN QUERY PLAN {sql}"), values, |r| {
            r.get::<_, String>(3)
        })
        .join("\n")
    }

    #[test]
    fn the_dispatchers_queries_use_the_small_partial_indexes() {
        let conn = fresh();
        let claim = plan(&conn, tasks::CLAIM, 3);
        assert!(claim.contains("USING INDEX tasks_pending"), "{claim}");
        assert!(
            !claim.contains("TEMP B-TREE"),
            "claims need no sort: {claim}"
        );
        let done = plan(&conn, progress::JOB_DONE, 2);
        assert!(done.contains("job_counts"), "{done}");
        assert!(
            !done.contains("tasks"),
            "the job-done check reads no task: {done}"
        );
        let due = plan(&conn, tasks::NEXT_DUE, 1);
        assert!(due.contains("tasks_pending"), "{due}");
    }

    /// The tables as 0.1 wrote them, before `job_counts` and the current
    /// task indexes, with one job half done.
    const OLD: &str = "
        CREATE TABLE jobs (id INTEGER PRIMARY KEY, created_at INTEGER NOT NULL, requested_by TEXT NOT NULL,
            reason TEXT NOT NULL, action TEXT NOT NULL, selector TEXT NOT NULL, params TEXT NOT NULL,
            state TEXT NOT NULL, total INTEGER NOT NULL, finished_at INTEGER);
        CREATE TABLE tasks (id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL, message_id INTEGER NOT NULL,
            account TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
            next_at INTEGER NOT NULL, last_error TEXT, updated_at INTEGER NOT NULL);
        CREATE INDEX tasks_due ON tasks (account, state, next_at);
        CREATE INDEX tasks_job ON tasks (job_id, state);
        INSERT INTO jobs VALUES (7, 0, 'bot', 'why', 'recall', '{}', 'null', 'running', 5, NULL);
        INSERT INTO tasks (job_id, message_id, account, state, next_at, updated_at) VALUES
            (7, 1, 'a', 'done', 0, 0), (7, 2, 'a', 'running', 0, 0), (7, 3, 'a', 'pending', 0, 0),
            (7, 4, 'b', 'failed', 0, 0), (7, 5, 'b', 'done', 0, 0);";

    #[test]
    fn the_schema_replaces_the_old_task_indexes() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(OLD).unwrap();
        super::create(&mut conn).unwrap();
        let indexes = |conn: &Connection| -> Vec<String> {
            rows(
                conn,
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks' ORDER BY name",
                [],
                |r| r.get(0),
            )
        };
        assert_eq!(indexes(&conn), ["tasks_errors", "tasks_pending"]);
        // The next layout's indexes, which `job_counts` replaced, go too.
        conn.execute_batch(
            "CREATE INDEX tasks_open ON tasks (job_id) WHERE state IN ('pending', 'running');
             CREATE INDEX tasks_by_job ON tasks (job_id);",
        )
        .unwrap();
        super::create(&mut conn).unwrap();
        assert_eq!(indexes(&conn), ["tasks_errors", "tasks_pending"]);
    }

    #[test]
    fn an_old_database_gets_the_interrupted_column_at_zero() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(OLD).unwrap();
        super::create(&mut conn).unwrap();
        let interrupted = rows(&conn, "SELECT interrupted FROM tasks", [], |r| {
            r.get::<_, i64>(0)
        });
        assert_eq!(interrupted, [0; 5]);
        // Opening again adds nothing.
        super::create(&mut conn).unwrap();
    }

    /// `job_counts` as rows of (job, account, state, n), in order.
    fn counts(conn: &Connection) -> Vec<(i64, String, String, i64)> {
        rows(
            conn,
            "SELECT job_id, account, state, n FROM job_counts ORDER BY 1, 2, 3",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
    }

    #[test]
    fn an_old_database_gets_its_jobs_counted_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(OLD).unwrap();
        super::create(&mut conn).unwrap();
        let row = |account: &str, state: &str, n| (7, account.to_owned(), state.to_owned(), n);
        let expected = vec![
            row("a", "done", 1),
            row("a", "open", 2),
            row("b", "done", 1),
            row("b", "failed", 1),
        ];
        assert_eq!(counts(&conn), expected);
        // Opening again counts nothing twice.
        super::create(&mut conn).unwrap();
        assert_eq!(counts(&conn), expected);
    }

    #[test]
    fn a_progress_poll_reads_the_counts_and_only_the_tasks_with_an_error() {
        let conn = fresh();
        let counts = plan(&conn, progress::COUNTS, 1);
        assert!(counts.contains("job_counts"), "{counts}");
        assert!(!counts.contains("tasks"), "{counts}");
        let errors = plan(&conn, progress::ERRORS, 1);
        assert!(errors.contains("COVERING INDEX tasks_errors"), "{errors}");
    }
}
