//! One ledger, one daemon.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use super::StoreError;

/// Takes `<path>.lock` exclusively (`flock`), for as long as the file is
/// open. Two daemons on one ledger would both hand out its tasks, and each
/// start hands back the tasks the other has out: both would call the vendor
/// for the same messages. SQLite's own locks only keep their writes apart.
pub(super) fn lock(path: &Path) -> Result<File, StoreError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let cannot = |e: std::io::Error| {
        StoreError::Database(format!("cannot lock {}: {e}", lock_path.display()))
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(cannot)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(StoreError::Database(format!(
            "{} is in use by another recalld (it holds {}); one ledger serves one daemon",
            path.display(),
            lock_path.display()
        ))),
        Err(TryLockError::Error(e)) => Err(cannot(e)),
    }
}

#[cfg(test)]
mod tests {
    use crate::store::SqliteStore;

    #[test]
    fn a_second_store_on_one_ledger_is_refused_until_the_first_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let first = SqliteStore::open(&path).unwrap();
        let clone = first.clone();
        let Err(refused) = SqliteStore::open(&path) else {
            panic!("a second store opened the ledger");
        };
        assert!(
            refused.to_string().contains("in use by another recalld"),
            "{refused}"
        );
        drop(first);
        assert!(
            SqliteStore::open(&path).is_err(),
            "a clone still holds the lock"
        );
        drop(clone);
        SqliteStore::open(&path).expect("the lock went with the last clone");
    }
}
