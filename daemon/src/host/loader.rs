//! The only `unsafe` in the daemon: opening a shared library and reading its
//! function table. Every invariant the rest of the host relies on is checked
//! here, in the order the ABI prescribes: magic, major version, table size.

use std::path::Path;

use plugin_api::{
    ABI_MAGIC, ABI_MAJOR, ABI_MINOR, ENTRY_SYMBOL, EntryFn, PluginTable, TableHeader,
};

use super::HostError;

/// Opens `path`, checks its table header and returns the table.
///
/// The library is leaked on purpose: plugins are never unloaded, so the
/// returned reference is valid for the rest of the process.
pub fn load_library(path: &Path) -> Result<&'static PluginTable, HostError> {
    if !path.is_file() {
        return Err(HostError::NotFound {
            path: path.to_owned(),
        });
    }
    // SAFETY: loading a library runs its initialisers. Plugins are trusted
    // code chosen by the operator (the config names them); this is the same
    // trust as any shared library the daemon links.
    let library =
        unsafe { libloading::Library::new(path) }.map_err(|e| HostError::NotALibrary {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    // SAFETY: `EntryFn` is the documented signature of `recalld_plugin_entry`;
    // a library exporting that name with another signature breaks the ABI
    // contract, which the magic check below catches in practice.
    let entry: EntryFn = unsafe { library.get::<EntryFn>(ENTRY_SYMBOL) }
        .map(|symbol| *symbol)
        .map_err(|_| HostError::NoEntry {
            path: path.to_owned(),
        })?;
    // Never unload: the table and its functions live in the library's image.
    std::mem::forget(library);

    // SAFETY: the entry function takes no arguments and returns a pointer to a
    // static table (ABI contract).
    let table = unsafe { entry() };
    if table.is_null() || !table.cast::<TableHeader>().is_aligned() {
        return Err(HostError::NullTable {
            path: path.to_owned(),
        });
    }
    // SAFETY: every ABI version starts its table with `TableHeader`, so reading
    // just the header is valid before we know the version.
    let header = unsafe { table.cast::<TableHeader>().read() };
    check_header(path, &header)?;
    // SAFETY: the header says this is a table of our major version and at
    // least as large as our `PluginTable`; it is static (never unloaded).
    Ok(unsafe { &*table })
}

/// The header checks, in ABI order. Pure, so it is tested without a library.
pub(super) fn check_header(path: &Path, header: &TableHeader) -> Result<(), HostError> {
    if header.magic != ABI_MAGIC {
        return Err(HostError::BadMagic {
            path: path.to_owned(),
            found: header.magic,
            expected: ABI_MAGIC,
        });
    }
    if header.abi_major != ABI_MAJOR {
        return Err(HostError::AbiMismatch {
            path: path.to_owned(),
            plugin_major: header.abi_major,
            plugin_minor: header.abi_minor,
            host_major: ABI_MAJOR,
            host_minor: ABI_MINOR,
        });
    }
    let need = std::mem::size_of::<PluginTable>();
    if header.size < need {
        return Err(HostError::TableTooSmall {
            path: path.to_owned(),
            size: header.size,
            need,
            major: ABI_MAJOR,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> TableHeader {
        PluginTable::header()
    }

    #[test]
    fn a_current_header_passes() {
        check_header(Path::new("p.so"), &header()).unwrap();
    }

    #[test]
    fn another_major_is_refused_naming_both_versions() {
        let mut h = header();
        h.abi_major = ABI_MAJOR + 1;
        let message = check_header(Path::new("p.so"), &h).unwrap_err().to_string();
        assert!(
            message.contains(&format!("plugin ABI version {}.", ABI_MAJOR + 1)),
            "{message}"
        );
        assert!(
            message.contains(&format!("(ABI {ABI_MAJOR}.{ABI_MINOR})")),
            "{message}"
        );
    }

    #[test]
    fn wrong_magic_and_short_table_are_refused() {
        let mut h = header();
        h.magic = 7;
        assert!(matches!(
            check_header(Path::new("p"), &h),
            Err(HostError::BadMagic { .. })
        ));
        let mut h = header();
        h.size = 24;
        assert!(matches!(
            check_header(Path::new("p"), &h),
            Err(HostError::TableTooSmall { .. })
        ));
    }

    #[test]
    fn missing_file_and_non_library_have_their_own_errors() {
        let missing = load_library(Path::new("/nonexistent/libnothing.so")).unwrap_err();
        assert!(matches!(missing, HostError::NotFound { .. }), "{missing}");
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("libtext.so");
        std::fs::write(&text, "not an ELF file").unwrap();
        let err = load_library(&text).unwrap_err();
        assert!(matches!(err, HostError::NotALibrary { .. }), "{err}");
    }
}
