//! The plugin host: loads vendor plugins behind the stable ABI and hands the
//! rest of the daemon `Arc<dyn Plugin>`, the same trait the plugins implement,
//! so the dispatcher cannot tell a dynamic plugin from an in-process one.
//!
//! Libraries are never unloaded (`dlclose` with Rust thread-locals is
//! unsound); a reload loads a new copy.

mod conformance;
mod dynamic;
mod guard;
mod loader;
mod registry;

pub use conformance::{Check, Report, run_conformance};
pub use dynamic::{DynamicPlugin, OUTPUT_CAP};
pub use guard::{Admitted, HostGuard, UrlParts};
pub use loader::load_library;
pub use registry::{LoadedPlugin, PluginRegistry, library_file_name};

use std::path::PathBuf;

/// Why a plugin could not be loaded. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{path}: no such plugin file (check `plugins` in the config)")]
    NotFound { path: PathBuf },
    #[error("{path}: not a loadable shared library: {reason}")]
    NotALibrary { path: PathBuf, reason: String },
    #[error(
        "{path}: not a recalld plugin: it exports no `recalld_plugin_entry` symbol (Rust plugins call `plugin_api::export_plugin!`)"
    )]
    NoEntry { path: PathBuf },
    #[error("{path}: `recalld_plugin_entry` returned a null or misaligned table")]
    NullTable { path: PathBuf },
    #[error(
        "{path}: wrong ABI magic {found:#018x} (expected {expected:#018x}); not a recalld plugin table"
    )]
    BadMagic {
        path: PathBuf,
        found: u64,
        expected: u64,
    },
    #[error(
        "{path}: plugin ABI version {plugin_major}.{plugin_minor} is not supported by this recalld (ABI {host_major}.{host_minor}); rebuild the plugin against plugin-api {host_major}.x"
    )]
    AbiMismatch {
        path: PathBuf,
        plugin_major: u32,
        plugin_minor: u32,
        host_major: u32,
        host_minor: u32,
    },
    #[error(
        "{path}: plugin table is {size} bytes, smaller than the {need} bytes ABI {major}.0 requires"
    )]
    TableTooSmall {
        path: PathBuf,
        size: usize,
        need: usize,
        major: u32,
    },
    #[error("{path}: invalid manifest: {reason}")]
    InvalidManifest { path: PathBuf, reason: String },
    #[error("plugin name {name:?} is provided by both {first} and {second}; remove one")]
    Duplicate {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("{dir}: cannot read plugin directory: {reason}")]
    BadDir { dir: PathBuf, reason: String },
}
