//! The sandbox and the daemon in the test's own process (through their
//! libraries): faster than child processes, and the sandbox's clock and
//! counters are plain method calls.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use recalld::config::Config;
use recalld::server::Running;

use crate::api::{Api, BOT_SECRET};

/// Starts `sandbox` on a free loopback port. It serves until the test's
/// runtime ends.
pub async fn serve_sandbox(sandbox: &sandbox::Sandbox) -> SocketAddr {
    let (addr, _task) = sandbox::serve(
        sandbox.clone(),
        ([127, 0, 0, 1], 0).into(),
        std::future::pending(),
    )
    .await
    .expect("the sandbox binds a loopback port");
    addr
}

/// Starts a daemon from config text (written to `dir/recalld.yaml`, so
/// relative paths resolve there) and waits until it is ready; a signed client
/// of it.
pub async fn start_daemon(dir: &Path, yaml: &str) -> (Running, Api) {
    let path = dir.join("recalld.yaml");
    std::fs::write(&path, yaml).expect("writing the config");
    let config = Config::parse(&path, yaml).unwrap_or_else(|e| panic!("config:\n{e}\n---\n{yaml}"));
    let running = recalld::server::start(config)
        .await
        .unwrap_or_else(|e| panic!("start: {e}"));
    let api = Api::new(&format!("http://{}", running.addr), BOT_SECRET);
    api.ready(Duration::from_secs(10)).await;
    (running, api)
}
