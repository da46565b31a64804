//! The database thread: it owns the connection and runs every operation in
//! batches. Each batch is one transaction (group commit), and replies leave
//! only after the transaction has committed, so an answer always describes
//! durable state.
//!
//! An operation runs in one of three ways ([`Isolation`]):
//! - in its own savepoint: a failure rolls back only its own writes, its
//!   neighbours commit. Most API writes run this way: a job refused for
//!   its size must not fail the other requests of its batch.
//! - bare, straight in the transaction: no savepoint, so no sub-journal copy of
//!   every page it touches. If it fails, the whole transaction rolls back and
//!   every operation that ran in it is answered with an error; the operations
//!   not yet run go on in a fresh transaction. Tracking and the
//!   dispatcher's bookkeeping (claims, results) run this way: they only fail
//!   when the database itself does (tracking answers a replayed delivery id,
//!   its first write, as a value).
//! - as a read, which writes nothing, so its failure concerns only itself.
//!
//! Durability follows the operations in a batch ([`Durability`]). A batch
//! with an operation a caller outside the daemon is told about (the API's
//! writes, rule firings) commits with `synchronous = FULL`: the WAL is
//! fsynced before any reply. A batch of the dispatcher's bookkeeping only
//! (claims and results) commits with `synchronous = NORMAL`: the commit is in the WAL
//! file before the reply, so it survives the process being killed, but is
//! fsynced only by the next FULL commit or checkpoint. A power loss can undo
//! those last claims and results; their tasks run again and the vendors'
//! "already recalled" answers absorb the repeats, as for calls in flight at
//! a crash. On this project's build VM an fsync costs about 4 ms, a fifth of
//! a 20 ms vendor call whose slot waits for its result's commit.
//!
//! A file database also has a reader thread with a read-only connection of
//! its own ([`run_reads`]): reads that scan many rows (a large job's
//! progress, previews, ledger pages) run there, in one snapshot each batch,
//! and the writer's batches never wait for them (WAL lets readers and the
//! writer work at once).

use rusqlite::Connection;
use tokio::sync::mpsc;

use super::StoreError;

/// Operations per transaction at most.
const BATCH: usize = 1_024;

/// Answers the caller once the transaction's fate is known (`true`: committed).
pub(super) type Reply = Box<dyn FnOnce(bool) + Send>;

/// How an operation's failure is contained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Isolation {
    /// In a savepoint of its own.
    Savepoint,
    /// Bare in the transaction; a failure rolls the transaction back.
    Bare,
    /// Writes nothing.
    Read,
}

/// What running an operation left behind.
pub(super) struct Ran {
    pub reply: Reply,
    /// `false`: the transaction holds a failed operation's partial writes and
    /// must not commit.
    pub sound: bool,
}

/// One operation for the database thread.
pub(super) struct Op {
    /// What its commit must reach before it is answered.
    pub durability: Durability,
    pub run: Box<dyn FnOnce(&Connection) -> Ran + Send>,
}

/// How far an operation's commit must reach before its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Durability {
    /// `synchronous = FULL`: fsynced before the reply. Everything a caller
    /// outside the daemon is told about (API writes, rule firings).
    Full,
    /// `synchronous = NORMAL`: written to the WAL before the reply, fsynced
    /// later. The dispatcher's bookkeeping (claims and results) and reads.
    Process,
}

impl Durability {
    /// What a batch of `ops` needs: the most any of them does.
    fn of(ops: &[Op]) -> Durability {
        if ops.iter().any(|op| op.durability == Durability::Full) {
            Durability::Full
        } else {
            Durability::Process
        }
    }

    fn pragma(self) -> &'static str {
        match self {
            Durability::Full => "PRAGMA synchronous = FULL",
            Durability::Process => "PRAGMA synchronous = NORMAL",
        }
    }
}

/// Runs `f` as `isolation` says and reports whether the transaction is sound.
pub(super) fn execute<T>(
    conn: &Connection,
    isolation: Isolation,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> (Result<T, StoreError>, bool) {
    match isolation {
        Isolation::Bare => {
            let result = f(conn);
            let sound = result.is_ok();
            (result, sound)
        }
        Isolation::Savepoint => savepoint(conn, f),
        Isolation::Read => (f(conn), true),
    }
}

fn savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> (Result<T, StoreError>, bool) {
    if let Err(e) = statement(conn, "SAVEPOINT op") {
        return (Err(e), true);
    }
    let result = f(conn);
    let end = if result.is_ok() {
        statement(conn, "RELEASE op")
    } else {
        statement(conn, "ROLLBACK TO op").and_then(|()| statement(conn, "RELEASE op"))
    };
    match end {
        Ok(()) => (result, true),
        // The savepoint could not be closed: its writes may be half undone.
        Err(e) => (result.and(Err(e)), false),
    }
}

/// A cached statement: transactions and savepoints are opened and closed
/// for most operations, so they are parsed once, not every time.
fn statement(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// The writer: every batch is one write transaction.
pub(super) fn run(conn: Connection, rx: mpsc::Receiver<Op>) {
    serve(&conn, rx, "BEGIN IMMEDIATE", true);
}

/// The reader: every batch is one read transaction (one snapshot).
pub(super) fn run_reads(conn: Connection, rx: mpsc::Receiver<Op>) {
    serve(&conn, rx, "BEGIN", false);
}

fn serve(conn: &Connection, mut rx: mpsc::Receiver<Op>, begin: &str, writer: bool) {
    // What the connection is set to (PRAGMAS set FULL at open).
    let mut current = Durability::Full;
    while let Some(first) = rx.blocking_recv() {
        let mut ops = vec![first];
        while ops.len() < BATCH {
            match rx.try_recv() {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        let wanted = Durability::of(&ops);
        if writer && wanted != current {
            match conn.execute_batch(wanted.pragma()) {
                Ok(()) => current = wanted,
                Err(e) => {
                    tracing::error!("store: cannot set {}: {e}", wanted.pragma());
                    // Answer every operation with an error rather than
                    // commit with less durability than it was promised.
                    ops.into_iter().for_each(drop);
                    continue;
                }
            }
        }
        let mut ops = ops.into_iter().peekable();
        while ops.peek().is_some() {
            transaction(conn, begin, &mut ops);
        }
    }
}

/// Runs operations from `ops` in one transaction, until they run out or one
/// leaves the transaction unsound (the rest wait for the next transaction).
fn transaction(conn: &Connection, begin: &str, ops: &mut impl Iterator<Item = Op>) {
    if let Err(e) = statement(conn, begin) {
        tracing::error!("store: cannot begin a transaction: {e}");
        // Dropping the operations answers their callers with an error.
        ops.for_each(drop);
        return;
    }
    let mut replies = Vec::new();
    let mut sound = true;
    for op in ops.by_ref() {
        let ran = (op.run)(conn);
        replies.push(ran.reply);
        if !ran.sound {
            sound = false;
            break;
        }
    }
    let committed = sound
        && match statement(conn, "COMMIT") {
            Ok(()) => true,
            Err(e) => {
                tracing::error!("store: commit failed: {e}");
                false
            }
        };
    if !committed && let Err(e) = statement(conn, "ROLLBACK") {
        tracing::error!("store: rollback failed: {e}");
    }
    for reply in replies {
        reply(committed);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc as std_mpsc;

    use super::*;

    /// What an operation inserting a value was told.
    type Answer = (i64, Result<(), String>);

    /// An operation that inserts `value`, then fails if `fail`, and reports
    /// whether its batch committed.
    fn insert(
        isolation: Isolation,
        value: i64,
        fail: bool,
        answers: std_mpsc::Sender<Answer>,
    ) -> Op {
        let run = Box::new(move |conn: &Connection| {
            let (result, sound) = execute(conn, isolation, |conn| {
                conn.execute("INSERT INTO t (v) VALUES (?1)", [value])?;
                if fail {
                    return Err(StoreError::Database(format!("{value} fails")));
                }
                Ok(())
            });
            let reply = Box::new(move |committed: bool| {
                let answer = match result {
                    Ok(()) if committed => Ok(()),
                    Ok(()) => Err("not committed".to_owned()),
                    Err(e) => Err(e.to_string()),
                };
                let _ = answers.send((value, answer));
            });
            Ran { reply, sound }
        });
        let durability = match isolation {
            Isolation::Savepoint => Durability::Full,
            Isolation::Bare | Isolation::Read => Durability::Process,
        };
        Op { durability, run }
    }

    /// An operation that reports the connection's `synchronous` setting
    /// (1: NORMAL, 2: FULL) as its value.
    fn probe(durability: Durability, answers: std_mpsc::Sender<Answer>) -> Op {
        let run = Box::new(move |conn: &Connection| {
            let level = conn
                .query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0))
                .unwrap();
            let reply = Box::new(move |_| {
                let _ = answers.send((level, Ok(())));
            });
            Ran { reply, sound: true }
        });
        Op { durability, run }
    }

    /// Runs `ops` as one batch on a fresh database; the answers by value and
    /// the values the table kept.
    fn run_batch(
        ops: impl FnOnce(&std_mpsc::Sender<Answer>) -> Vec<Op>,
    ) -> (Vec<Answer>, Vec<i64>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER)").unwrap();
        let (answers, answered) = std_mpsc::channel();
        let (tx, rx) = mpsc::channel(16);
        // Queued before the thread starts, so they form one batch.
        for op in ops(&answers) {
            tx.try_send(op).ok().unwrap();
        }
        drop(tx);
        std::thread::spawn(move || run(conn, rx)).join().unwrap();
        drop(answers);
        let mut answers: Vec<_> = answered.iter().collect();
        answers.sort_by_key(|(v, _)| *v);
        let check = Connection::open(&path).unwrap();
        let mut kept: Vec<i64> = check
            .prepare("SELECT v FROM t")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        kept.sort();
        (answers, kept)
    }

    #[test]
    fn only_batches_of_bookkeeping_commit_without_fsync() {
        const NORMAL: i64 = 1;
        const FULL: i64 = 2;
        let (bookkeeping, _) = run_batch(|a| vec![probe(Durability::Process, a.clone())]);
        assert_eq!(bookkeeping, vec![(NORMAL, Ok(()))]);
        let (mixed, _) = run_batch(|a| {
            vec![
                probe(Durability::Process, a.clone()),
                probe(Durability::Full, a.clone()),
            ]
        });
        assert_eq!(mixed, vec![(FULL, Ok(())), (FULL, Ok(()))]);
    }

    #[test]
    fn the_writer_goes_back_to_fsync_for_the_next_api_write() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("t.db")).unwrap();
        conn.execute_batch("PRAGMA synchronous = FULL").unwrap();
        let (answers, answered) = std_mpsc::channel();
        let (tx, rx) = mpsc::channel(16);
        let writer = std::thread::spawn(move || run(conn, rx));
        // One operation at a time: each is a batch of its own.
        for durability in [Durability::Process, Durability::Full, Durability::Process] {
            tx.blocking_send(probe(durability, answers.clone()))
                .ok()
                .unwrap();
            let (level, _) = answered.recv().unwrap();
            let expected = if durability == Durability::Full { 2 } else { 1 };
            assert_eq!(level, expected, "{durability:?}");
        }
        drop(tx);
        writer.join().unwrap();
    }

    #[test]
    fn a_failed_savepoint_operation_undoes_only_its_own_writes() {
        let (answers, kept) = run_batch(|a| {
            vec![
                insert(Isolation::Savepoint, 1, false, a.clone()),
                insert(Isolation::Savepoint, 2, true, a.clone()),
                insert(Isolation::Bare, 3, false, a.clone()),
            ]
        });
        assert_eq!(kept, vec![1, 3]);
        assert_eq!(
            answers,
            vec![
                (1, Ok(())),
                (2, Err("database error: 2 fails".into())),
                (3, Ok(()))
            ]
        );
    }

    #[test]
    fn a_failed_bare_operation_fails_its_transaction_and_the_rest_go_on() {
        let (answers, kept) = run_batch(|a| {
            vec![
                insert(Isolation::Savepoint, 1, false, a.clone()),
                insert(Isolation::Bare, 2, false, a.clone()),
                insert(Isolation::Bare, 3, true, a.clone()),
                insert(Isolation::Bare, 4, false, a.clone()),
                insert(Isolation::Savepoint, 5, false, a.clone()),
            ]
        });
        // 1 to 3 shared the failed transaction; 4 and 5 ran in the next one.
        assert_eq!(kept, vec![4, 5]);
        assert_eq!(
            answers,
            vec![
                (1, Err("not committed".into())),
                (2, Err("not committed".into())),
                (3, Err("database error: 3 fails".into())),
                (4, Ok(())),
                (5, Ok(()))
            ]
        );
    }
}
