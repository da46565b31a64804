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
    updated_at  INTEGER NOT NULL
);
-- Task indexes are chosen so a task's life touches few index entries: a
-- claim takes it out of `tasks_pending`, its result takes it out of
-- `tasks_open`, and `tasks_by_job` never changes. (Until 0.1 the indexes
-- were `tasks_due (account, state, next_at)` and `tasks_job (job_id, state)`,
-- which every claim and every result moved twice.)
DROP INDEX IF EXISTS tasks_due;
DROP INDEX IF EXISTS tasks_job;
CREATE INDEX IF NOT EXISTS tasks_pending ON tasks (account, next_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS tasks_open ON tasks (job_id) WHERE state IN ('pending', 'running');
CREATE INDEX IF NOT EXISTS tasks_by_job ON tasks (job_id);
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

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::SCHEMA;
    use crate::store::{progress, tasks};

    /// The details of `EXPLAIN QUERY PLAN` for `sql`, one line each.
    fn plan(conn: &Connection, sql: &str, params: usize) -> String {
        let mut explain = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let values = vec![1i64; params];
        explain
            .query_map(rusqlite::params_from_iter(values), |r| {
                r.get::<_, String>(3)
            })
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .join("\n")
    }

    #[test]
    fn the_dispatchers_queries_use_the_small_partial_indexes() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let claim = plan(&conn, tasks::CLAIM, 3);
        assert!(claim.contains("USING INDEX tasks_pending"), "{claim}");
        assert!(
            !claim.contains("TEMP B-TREE"),
            "claims need no sort: {claim}"
        );
        let done = plan(&conn, progress::JOB_DONE, 2);
        assert!(done.contains("USING INDEX tasks_open"), "{done}");
        let due = plan(&conn, tasks::NEXT_DUE, 1);
        assert!(due.contains("tasks_pending"), "{due}");
    }

    #[test]
    fn the_schema_replaces_the_old_task_indexes() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE tasks (id INTEGER PRIMARY KEY, job_id INTEGER, account TEXT, state TEXT, next_at INTEGER);
             CREATE INDEX tasks_due ON tasks (account, state, next_at);
             CREATE INDEX tasks_job ON tasks (job_id, state);",
        )
        .unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let indexes: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(indexes, ["tasks_by_job", "tasks_open", "tasks_pending"]);
    }
}
