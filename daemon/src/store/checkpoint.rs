//! The checkpointer: copies the WAL back into the database file from a
//! thread and connection of its own.
//!
//! SQLite's automatic checkpoint runs inside whichever commit pushes the WAL
//! past 1,000 pages, on the writer: two fsyncs and a thousand page writes
//! that every operation of the next batches waits for (on the build VM an
//! fsync alone costs about 4 ms). The writer therefore turns automatic
//! checkpoints off and this thread runs a `PASSIVE` checkpoint every
//! [`INTERVAL`], which never blocks the writer or the readers. Once a
//! checkpoint has copied every frame, the writer's next transaction starts
//! the WAL over, so the file stays small.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// Time between checkpoints.
const INTERVAL: Duration = Duration::from_millis(200);

/// WAL frames left after a checkpoint above which it is reported (1 GiB of
/// 4 KiB pages): something (a long read) keeps the WAL from being copied.
const BACKLOG_WARNING: i64 = 262_144;

/// What the writer sets so that only this thread checkpoints.
pub(super) const WRITER_PRAGMA: &str = "PRAGMA wal_autocheckpoint = 0;";

/// Runs while any clone of it lives; the last one dropped stops the thread
/// after one last checkpoint.
#[derive(Clone)]
pub(super) struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` (which must exist, in WAL
    /// mode).
    pub fn start(path: &Path) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch("PRAGMA cache_size = -512;")?;
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("recalld-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    checkpoint(&conn);
                }
                checkpoint(&conn);
            })
            .map_err(|e| {
                StoreError::Database(format!("cannot start the checkpoint thread: {e}"))
            })?;
        Ok(Checkpointer { _stop: stop })
    }
}

/// One passive checkpoint; failures are logged (the next one retries).
fn checkpoint(conn: &Connection) {
    let ran = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    });
    match ran {
        Ok((log, copied)) if log - copied > BACKLOG_WARNING => tracing::warn!(
            frames = log - copied,
            "store: the write-ahead log is not being copied back (a long-running read?)"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!("store: checkpoint failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(path: &Path) -> u64 {
        std::fs::metadata(path).map_or(0, |m| m.len())
    }

    #[test]
    fn the_wal_is_copied_back_and_starts_over_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let wal = dir.path().join("t.db-wal");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(&format!(
                "PRAGMA journal_mode = WAL; {WRITER_PRAGMA} CREATE TABLE t (v BLOB);"
            ))
            .unwrap();
        // About 3,000 pages, past the automatic checkpoint's 1,000: with it
        // off, they all stay in the WAL and the database file stays small.
        let write = || {
            for _ in 0..1_500 {
                writer
                    .execute("INSERT INTO t (v) VALUES (zeroblob(8000))", [])
                    .unwrap();
            }
        };
        write();
        let wal_size = size(&wal);
        assert!(wal_size > 10_000_000, "WAL {wal_size} bytes");
        assert!(size(&path) < 100_000, "database {} bytes", size(&path));

        let pages: i64 = writer
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        let pages = u64::try_from(pages).unwrap();
        let checkpointer = Checkpointer::start(&path).unwrap();
        let copied = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            size(&path) >= pages * 4096
        });
        assert!(copied, "the checkpointer copied the WAL into the database");
        // Let the checkpoint that copied the last page finish.
        std::thread::sleep(INTERVAL * 2);
        // Everything was copied, so the same writes again start the WAL over
        // (about the same size) instead of appending (twice the size).
        write();
        assert!(
            size(&wal) < wal_size / 2 * 3,
            "WAL {} bytes after {wal_size}",
            size(&wal)
        );
        drop(checkpointer);
    }
}
