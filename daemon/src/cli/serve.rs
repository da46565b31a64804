//! `recalld serve --config F`: run the daemon until SIGTERM or Ctrl-C.

use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;
use crate::server::{StartError, start};

use super::EXIT_CONFIG;

pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let running = match start(config).await {
            Ok(running) => running,
            Err(StartError::Config(errors)) => {
                eprintln!("{errors}");
                return Ok(ExitCode::from(EXIT_CONFIG));
            }
            Err(e) => return Err(anyhow::anyhow!(e)),
        };
        let signal = shutdown_signal().await;
        tracing::info!("{signal}: draining in-flight vendor calls, then stopping");
        running.stop().await;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// Waits for SIGTERM or SIGINT and names it.
pub async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
