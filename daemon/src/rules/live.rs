//! The rules in force, and their hot reload.
//!
//! The watcher polls the rule globs and fingerprints what they match (file
//! names and contents), so it sees files swapped in by editors, config
//! managers and Kubernetes ConfigMap symlink flips alike, on any file
//! system. SIGHUP reloads at once. A change that fails validation is
//! refused: its errors are logged, counted in metrics and shown by
//! `/readyz`, and the previous rules stay in force. A valid change replaces
//! the whole set at once.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::{Env, RuleSet, load};
use crate::config::ConfigError;
use crate::metrics::Metrics;

/// What `/readyz` and `recalld` logs say about the rules.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RulesStatus {
    /// Rules in force.
    pub loaded: usize,
    /// `false` when the files on disk were refused (the old rules run).
    pub valid: bool,
    /// The refused change's errors, `file:line:col: message`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// Reloads that replaced the rules since start.
    pub generation: u64,
}

/// The current [`RuleSet`], swapped atomically on a valid reload.
pub struct LiveRules {
    globs: Vec<String>,
    env: Env,
    metrics: Arc<Metrics>,
    current: RwLock<Arc<RuleSet>>,
    status: Mutex<RulesStatus>,
    fingerprint: Mutex<[u8; 32]>,
    changed: watch::Sender<u64>,
}

impl LiveRules {
    /// Loads the rules once; errors refuse the start.
    pub fn start(
        globs: Vec<String>,
        env: Env,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<LiveRules>, Vec<ConfigError>> {
        let fingerprint = fingerprint(&globs);
        let loaded = load(&globs, &env)?;
        for warning in &loaded.warnings {
            tracing::warn!("rules: {warning}");
        }
        let count = loaded.set.rules().len();
        metrics.rules_state(count, true);
        let (changed, _) = watch::channel(0);
        Ok(Arc::new(LiveRules {
            globs,
            env,
            metrics,
            current: RwLock::new(Arc::new(loaded.set)),
            status: Mutex::new(RulesStatus {
                loaded: count,
                valid: true,
                errors: Vec::new(),
                generation: 0,
            }),
            fingerprint: Mutex::new(fingerprint),
            changed,
        }))
    }

    /// The rules in force now.
    pub fn current(&self) -> Arc<RuleSet> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn status(&self) -> RulesStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Ticks (with the generation) whenever a reload replaced the rules.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Reloads when the files changed since the last look (or always, with
    /// `force`). `Ok(true)` when new rules are in force.
    pub fn reload(&self, force: bool) -> Result<bool, Vec<ConfigError>> {
        let print = fingerprint(&self.globs);
        {
            let mut last = self.fingerprint.lock().unwrap_or_else(|e| e.into_inner());
            if !force && *last == print {
                return Ok(false);
            }
            *last = print;
        }
        match load(&self.globs, &self.env) {
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    tracing::warn!("rules: {warning}");
                }
                let count = loaded.set.rules().len();
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(loaded.set);
                let generation = {
                    let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
                    status.generation += 1;
                    status.loaded = count;
                    status.valid = true;
                    status.errors.clear();
                    status.generation
                };
                self.metrics.rules_reload("ok");
                self.metrics.rules_state(count, true);
                self.changed.send_replace(generation);
                tracing::info!(rules = count, generation, "rules reloaded");
                Ok(true)
            }
            Err(errors) => {
                for error in &errors {
                    tracing::error!("rules: {error}");
                }
                tracing::error!(
                    errors = errors.len(),
                    "rule change refused; the previous rules stay in force"
                );
                let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
                status.valid = false;
                status.errors = errors.iter().map(ToString::to_string).collect();
                self.metrics.rules_reload("error");
                self.metrics.rules_state(status.loaded, false);
                Err(errors)
            }
        }
    }

    /// Polls every `interval` and reloads on SIGHUP, until `shutdown`.
    pub async fn watch(self: Arc<Self>, interval: Duration, mut shutdown: watch::Receiver<bool>) {
        let mut hangup = hangup();
        loop {
            let force = tokio::select! {
                _ = tokio::time::sleep(interval) => false,
                _ = next_hangup(&mut hangup) => {
                    tracing::info!("SIGHUP: reloading rules");
                    true
                }
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            let this = Arc::clone(&self);
            // File reads and validation are blocking work.
            let _ = tokio::task::spawn_blocking(move || this.reload(force)).await;
        }
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
            signal.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangup) {
    std::future::pending().await
}

/// A digest of the names and contents of every file the globs match.
fn fingerprint(globs: &[String]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for pattern in globs {
        let Ok(paths) = glob::glob(pattern) else {
            continue;
        };
        let mut paths: Vec<_> = paths.filter_map(Result::ok).collect();
        paths.sort();
        for path in paths {
            hasher.update(path.as_os_str().as_encoded_bytes());
            hasher.update([0]);
            match std::fs::read(&path) {
                Ok(bytes) => {
                    hasher.update((bytes.len() as u64).to_le_bytes());
                    hasher.update(&bytes);
                }
                Err(e) => hasher.update(e.to_string().as_bytes()),
            }
        }
    }
    hasher.finalize().into()
}
