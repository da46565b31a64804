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
CREATE INDEX IF NOT EXISTS tasks_due ON tasks (account, state, next_at);
CREATE INDEX IF NOT EXISTS tasks_job ON tasks (job_id, state);
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
