//! The checkpointer: copies the WAL back into the database file from a
//! thread and connection of its own.
//!
//! SQLite's automatic checkpoint runs inside whichever commit pushes the WAL
//! past 1,000 pages, on the writer: two fsyncs and a thousand page writes
//! that every operation of the next batches waits for (on the build VM an
//! fsync alone costs about 4 ms). This thread runs a `PASSIVE` checkpoint
//! every [`INTERVAL`] instead, which never blocks the writer or the readers.
//!
//! The WAL starts over only when a write begins with every frame copied.
//! Under sustained writes this thread rarely sees that moment, so the
//! writer keeps a rarer automatic checkpoint ([`WRITER_PRAGMA`]): by then
//! almost every frame has been copied here, so it costs the writer little
//! more than its fsyncs, and its next write starts the WAL over. The WAL is
//! truncated back to a bounded size when it starts over.

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

/// What the writer sets: its own checkpoint every 4,000 pages (16 MiB of
/// WAL), 4× rarer than SQLite's default, and a WAL file cut back to 32 MiB
/// whenever it starts over.
pub(super) const WRITER_PRAGMA: &str =
    "PRAGMA wal_autocheckpoint = 4000; PRAGMA journal_size_limit = 33554432;";

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

    /// Whether the WAL index (the `-shm` file) says every frame of the WAL
    /// is copied into the database: `mxFrame` (the header's bytes 16..20)
    /// equals `nBackfill` (bytes 96..100 after the two header copies), both
    /// in native byte order. Reading it checkpoints nothing.
    fn fully_backfilled(shm: &Path) -> bool {
        let Ok(index) = std::fs::read(shm) else {
            return false;
        };
        let word = |at: usize| {
            index
                .get(at..at + 4)
                .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        };
        matches!((word(16), word(96)), (Some(max), Some(backfill)) if max > 0 && max == backfill)
    }

    fn size(path: &Path) -> u64 {
        std::fs::metadata(path).map_or(0, |m| m.len())
    }

    /// A writer set up as the store's, without fsyncs (tests only).
    fn writer(path: &Path) -> Connection {
        let writer = Connection::open(path).unwrap();
        writer
            .execute_batch(&format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; {WRITER_PRAGMA}
                 CREATE TABLE t (v BLOB);"
            ))
            .unwrap();
        writer
    }

    /// `rows` rows of 8,000 bytes: about four WAL frames each.
    fn write(writer: &Connection, rows: usize) {
        for _ in 0..rows {
            writer
                .execute("INSERT INTO t (v) VALUES (zeroblob(8000))", [])
                .unwrap();
        }
    }

    #[test]
    fn the_wal_is_copied_back_and_starts_over_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let wal = dir.path().join("t.db-wal");
        let writer = writer(&path);
        // About 3,200 frames: past SQLite's default of 1,000, below the
        // writer's 4,000, so they all stay in the WAL and the database file
        // stays small.
        write(&writer, 800);
        let wal_size = size(&wal);
        assert!(wal_size > 10_000_000, "WAL {wal_size} bytes");
        assert!(size(&path) < 100_000, "database {} bytes", size(&path));

        let pages: i64 = writer
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        let pages = u64::try_from(pages).unwrap();
        let shm = dir.path().join("t.db-shm");
        assert!(!fully_backfilled(&shm), "nothing is copied yet");
        let checkpointer = Checkpointer::start(&path).unwrap();
        let copied = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            size(&path) >= pages * 4096
        });
        assert!(copied, "the checkpointer copied the WAL into the database");
        // The checkpoint that copied the last page has finished when the
        // WAL index says every frame is backfilled.
        let finished = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            fully_backfilled(&shm)
        });
        assert!(finished, "the checkpoint finished");
        // Everything was copied, so the same writes again start the WAL over
        // (about the same size) instead of appending (twice the size).
        write(&writer, 800);
        assert!(
            size(&wal) < wal_size / 2 * 3,
            "WAL {} bytes after {wal_size}",
            size(&wal)
        );
        drop(checkpointer);
    }

    #[test]
    fn sustained_writes_keep_the_wal_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let wal = dir.path().join("t.db-wal");
        let writer = writer(&path);
        write(&writer, 1);
        let _checkpointer = Checkpointer::start(&path).unwrap();
        // About 160 MB of frames (an 80 MB database), written without a
        // pause: the checkpoint thread alone never finds the WAL fully
        // copied at a write's start.
        let mut largest = 0;
        for _ in 0..20 {
            write(&writer, 500);
            largest = largest.max(size(&wal));
        }
        assert!(
            largest < 40_000_000,
            "the WAL grew to {largest} bytes under sustained writes"
        );
    }
}
