//! `recalld serve` as a child process.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::api::{Api, BOT_SECRET};
use crate::process::{Process, recalld};

/// The API address in the daemon's JSON log line `recalld is serving`.
pub fn serving_addr(line: &str) -> Option<SocketAddr> {
    let entry: Value = serde_json::from_str(line).ok()?;
    let fields = &entry["fields"];
    (fields["message"] == "recalld is serving").then_some(())?;
    fields["addr"].as_str()?.parse().ok()
}

/// Starts `recalld --log-format json serve --config CONFIG` with `RUST_LOG`
/// set to `log_level` (at least `info`: the address is read from the log),
/// waits until `/readyz` answers; the child and a signed client of it.
pub async fn serve(config: &Path, log_level: &str) -> (Process, Api) {
    let mut command = recalld(&["--log-format", "json", "serve", "--config"]);
    command.arg(config).env("RUST_LOG", log_level);
    let mut process = Process::spawn("recalld serve", command);
    let addr = process
        .stderr_line(
            "`recalld is serving`",
            Duration::from_secs(30),
            serving_addr,
        )
        .await;
    let api = Api::new(&format!("http://{addr}"), BOT_SECRET);
    api.ready(Duration::from_secs(10)).await;
    (process, api)
}
