//! Helpers for recalld's end-to-end tests: locating (and building on demand)
//! the plugin libraries and the `recalld` binary of this workspace, and
//! compiling the C example plugin.
//!
//! `cargo test --workspace` alone is enough: whatever a test needs that cargo
//! did not already build is built here with `cargo build -p`, once per test
//! process.
//!
//! For the end-to-end tests that start the real binaries on 127.0.0.1:
//! - [`process`]: child processes with captured output, killed on drop;
//! - [`daemon`] and [`vendors`]: `recalld serve` and `recalld sandbox` children;
//! - [`inprocess`]: the same two through their libraries, in the test process;
//! - [`config`]: the `recalld.yaml` of a test daemon;
//! - [`api`]: a signed client of the daemon's HTTP API;
//! - [`wait`]: polling with a deadline (never a fixed sleep).

pub mod api;
pub mod config;
pub mod daemon;
pub mod inprocess;
pub mod process;
pub mod vendors;
pub mod wait;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits inside the workspace")
        .to_owned()
}

/// `target/<profile>` of the running test binary (`.../target/debug/deps/x` → `.../target/debug`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps")
        .to_owned()
}

fn cargo_build(package: &str, extra: &[&str]) {
    static BUILT: OnceLock<Mutex<HashMap<String, ()>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if built.contains_key(package) {
        return;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .args(["build", "-q", "-p", package])
        .args(extra);
    if profile_dir().file_name().is_some_and(|n| n == "release") {
        command.arg("--release");
    }
    let status = command.status().expect("run cargo build");
    assert!(status.success(), "cargo build -p {package} failed");
    built.insert(package.to_owned(), ());
}

/// The shared library of workspace `package` (lib name `lib`), built if needed.
pub fn cdylib(package: &str, lib: &str) -> PathBuf {
    cargo_build(package, &["--lib"]);
    let path = profile_dir().join(format!(
        "{}{lib}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// The `recalld` binary, built if needed.
pub fn recalld_bin() -> PathBuf {
    cargo_build("recalld", &["--bin", "recalld"]);
    profile_dir().join(format!("recalld{}", std::env::consts::EXE_SUFFIX))
}

/// Compiles `examples/plugin-c/acme.c` into `dir` with extra `-D` defines.
pub fn compile_c_plugin(dir: &Path, name: &str, defines: &[&str]) -> PathBuf {
    let root = workspace_root();
    let out = dir.join(format!(
        "{}{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(cc)
        .args(["-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-I"])
        .arg(root.join("plugin-api/include"))
        .args(defines.iter().map(|d| format!("-D{d}")))
        .arg(root.join("examples/plugin-c/acme.c"))
        .arg("-o")
        .arg(&out)
        .status()
        .expect("run the C compiler (cc)");
    assert!(status.success(), "compiling the C plugin failed");
    out
}
