//! The rules in force, and their hot reload.
//!
//! The watcher polls the rule globs and fingerprints what they match (file
//! names and contents), so it sees files swapped in by editors, config
//! managers and Kubernetes ConfigMap symlink flips alike, on any file
//! system. A change is loaded once the same fingerprint is seen on two
//! polls in a row, so the half-written states an editor, `cp` or
//! `git checkout` leave for a moment are not loaded. [`LiveRules::reload_soon`]
//! (SIGHUP) reloads at once.
//!
//! A change that fails validation is refused: its errors are logged,
//! counted in metrics and shown by `/readyz`, and the previous rules stay in
//! force. So is a change in which a glob that matched files matches none,
//! or a file that had content is empty: loading it would drop rules (and
//! cancel their pending age recalls) because of a file caught mid-write. A
//! valid change replaces the whole set at once.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, watch};

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
    seen: Mutex<Seen>,
    changed: watch::Sender<u64>,
    /// Wakes the watcher for a reload at once (SIGHUP).
    force: Notify,
}

/// What the watcher has seen of the files.
struct Seen {
    /// The fingerprint last loaded (or refused): unchanged files are not
    /// loaded again.
    tried: [u8; 32],
    /// A new fingerprint seen on the last poll, loaded if the next poll sees
    /// it again.
    pending: Option<[u8; 32]>,
    /// The files behind the rules in force.
    accepted: Snapshot,
}

impl LiveRules {
    /// Loads the rules once; errors refuse the start.
    pub fn start(
        globs: Vec<String>,
        env: Env,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<LiveRules>, Vec<ConfigError>> {
        let snapshot = look(&globs);
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
            seen: Mutex::new(Seen {
                tried: snapshot.print,
                pending: None,
                accepted: snapshot,
            }),
            changed,
            force: Notify::new(),
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

    /// Whether the config names any rule file (else there is nothing to reload).
    pub fn has_files(&self) -> bool {
        !self.globs.is_empty()
    }

    /// Ticks (with the generation) whenever a reload replaced the rules.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Asks the watcher to reload now, changed or not (SIGHUP).
    pub fn reload_soon(&self) {
        self.force.notify_one();
    }

    /// Reloads when the files changed since the last look (or always, with
    /// `force`). `Ok(true)` when new rules are in force.
    pub fn reload(&self, force: bool) -> Result<bool, Vec<ConfigError>> {
        self.apply(look(&self.globs), force)
    }

    /// The watcher's look: reloads a change once it is seen unchanged on
    /// two polls in a row. `Ok(true)` when new rules are in force.
    pub fn poll(&self) -> Result<bool, Vec<ConfigError>> {
        let snapshot = look(&self.globs);
        {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if seen.tried == snapshot.print {
                seen.pending = None;
                return Ok(false);
            }
            if seen.pending != Some(snapshot.print) {
                seen.pending = Some(snapshot.print);
                return Ok(false);
            }
        }
        self.apply(snapshot, false)
    }

    fn apply(&self, snapshot: Snapshot, force: bool) -> Result<bool, Vec<ConfigError>> {
        let vanished = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if !force && seen.tried == snapshot.print {
                return Ok(false);
            }
            seen.tried = snapshot.print;
            seen.pending = None;
            vanished(&self.globs, &seen.accepted, &snapshot)
        };
        let loaded = if vanished.is_empty() {
            load(&self.globs, &self.env)
        } else {
            Err(vanished)
        };
        match loaded {
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    tracing::warn!("rules: {warning}");
                }
                let count = loaded.set.rules().len();
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(loaded.set);
                self.seen.lock().unwrap_or_else(|e| e.into_inner()).accepted = snapshot;
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

    /// Polls every `interval` and reloads at once when asked
    /// ([`LiveRules::reload_soon`]), until `shutdown`.
    pub async fn watch(self: Arc<Self>, interval: Duration, mut shutdown: watch::Receiver<bool>) {
        loop {
            let force = tokio::select! {
                _ = tokio::time::sleep(interval) => false,
                _ = self.force.notified() => true,
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            let this = Arc::clone(&self);
            // File reads and validation are blocking work.
            let _ = tokio::task::spawn_blocking(move || {
                if force {
                    this.reload(true)
                } else {
                    this.poll()
                }
            })
            .await;
        }
    }
}

/// What the globs matched at one look.
#[derive(Debug, Clone, Default)]
struct Snapshot {
    /// A digest of the names and contents of every matched file.
    print: [u8; 32],
    /// Per glob, in config order: each matched file and whether it has
    /// content (anything but whitespace).
    globs: Vec<Vec<(PathBuf, bool)>>,
}

/// Globs that matched files and match none now, files that had content and
/// are empty now: each an error that refuses the change.
fn vanished(globs: &[String], before: &Snapshot, now: &Snapshot) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let keep =
        "the previous rules stay in force; to remove every rule, leave a file with `rules: []`";
    for ((pattern, files_before), files_now) in globs.iter().zip(&before.globs).zip(&now.globs) {
        if let (Some((first, _)), true) = (files_before.first(), files_now.is_empty()) {
            errors.push(ConfigError {
                file: PathBuf::from(pattern),
                line: 0,
                column: 0,
                message: format!(
                    "matched {} rule file(s) ({}) and matches none now (being replaced?); {keep}",
                    files_before.len(),
                    first.display()
                ),
            });
        }
        for (path, had_content) in files_before {
            let empty_now = files_now.iter().any(|(p, content)| p == path && !content);
            if *had_content && empty_now {
                errors.push(ConfigError {
                    file: path.clone(),
                    line: 1,
                    column: 1,
                    message: format!("the file is empty now (being written?); {keep}"),
                });
            }
        }
    }
    errors
}

/// The files the globs match now, fingerprinted.
fn look(globs: &[String]) -> Snapshot {
    let mut hasher = Sha256::new();
    let mut matched = Vec::with_capacity(globs.len());
    for pattern in globs {
        let mut files = Vec::new();
        if let Ok(paths) = glob::glob(pattern) {
            let mut paths: Vec<_> = paths.filter_map(Result::ok).collect();
            paths.sort();
            for path in paths {
                hasher.update(path.as_os_str().as_encoded_bytes());
                hasher.update([0]);
                let content = match std::fs::read(&path) {
                    Ok(bytes) => {
                        hasher.update((bytes.len() as u64).to_le_bytes());
                        hasher.update(&bytes);
                        !bytes.iter().all(u8::is_ascii_whitespace)
                    }
                    Err(e) => {
                        hasher.update(e.to_string().as_bytes());
                        // Unreadable is not empty: loading reports it.
                        true
                    }
                };
                files.push((path, content));
            }
        }
        matched.push(files);
    }
    Snapshot {
        print: hasher.finalize().into(),
        globs: matched,
    }
}

#[cfg(test)]
mod tests;
