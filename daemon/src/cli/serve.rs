//! `recalld serve --config F`: run the daemon until SIGTERM or Ctrl-C;
//! SIGHUP reloads the rules.

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
        // Listening before the start: SIGHUP's default action ends the
        // process, and `systemctl reload` may come at any time.
        let mut hangup = hangup();
        let running = match start(config).await {
            Ok(running) => running,
            Err(StartError::Config(errors)) => {
                eprintln!("{errors}");
                return Ok(ExitCode::from(EXIT_CONFIG));
            }
            Err(e) => return Err(anyhow::anyhow!(e)),
        };
        let shutdown = shutdown_signal();
        tokio::pin!(shutdown);
        let signal = loop {
            tokio::select! {
                signal = &mut shutdown => break signal,
                () = next_hangup(&mut hangup) => running.hangup(),
            }
        };
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

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = ();

#[cfg(unix)]
fn hangup() -> Hangup {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::hangup())
        .map_err(|e| tracing::warn!("cannot listen for SIGHUP: {e}"))
        .ok()
}

#[cfg(not(unix))]
fn hangup() -> Hangup {}

#[cfg(unix)]
async fn next_hangup(hangup: &mut Hangup) {
    match hangup {
        Some(signal) => {
            if signal.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangup) {
    std::future::pending().await
}
