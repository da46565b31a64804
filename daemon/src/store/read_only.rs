//! A ledger file opened to look, never to touch: `recalld rules test`
//! counts what a rule would select in the production ledger. Nothing is
//! created, migrated or checkpointed (unlike [`super::SqliteStore::open`]),
//! and SQLite refuses any write on this connection.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::{Preview, StoreError, ledger};
use crate::selector::Selector;

/// A read-only connection to an existing ledger file.
pub struct ReadOnlyLedger(Connection);

impl ReadOnlyLedger {
    /// Opens `path`, which must exist; fails rather than create it.
    pub fn open(path: &Path) -> Result<ReadOnlyLedger, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch("PRAGMA query_only = ON; PRAGMA busy_timeout = 5000;")?;
        Ok(ReadOnlyLedger(conn))
    }

    /// What `selector` matches now, with up to `sample` rows.
    pub fn preview(&self, selector: &Selector, sample: u32) -> Result<Preview, StoreError> {
        ledger::preview(&self.0, selector, sample)
    }
}
