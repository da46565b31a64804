//! The signed webhook API (`/v1`) and the unauthenticated probes
//! (`/healthz`, `/readyz`, `/metrics`, `/v1/openapi.json`).
//!
//! Shape after warp's `todos` example: [`routes`] builds the filters,
//! `handlers` does the work, `models` holds the JSON bodies and `errors` is
//! the one place that turns errors into answers. A `/v1` request passes, in
//! order: route match, body size limit (before anything reads or hashes the
//! body), signature check against every configured client (`auth`), scope
//! checks ([`crate::scope`]), body parsing, then the store, where the delivery id is
//! recorded in the same transaction as the request's writes.

mod auth;
mod errors;
mod handlers;
mod models;
mod reads;
mod routes;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::accounts::Accounts;
use crate::auth::HmacKey;
use crate::config::{Config, Scheme, Scopes};
use crate::metrics::Metrics;
use crate::rules::live::LiveRules;
use crate::rules::runner::Firer;
use crate::store::Store;

pub use errors::ApiError;
pub use models::{
    DryRun, JobAccepted, RecallAction, RecallRequest, TrackRequest, TrackedMessage, UpdateRequest,
};
pub use routes::{ROUTES, routes};

/// The OpenAPI 3 document of this API, served at `GET /v1/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Installs rustls' ring provider as the process default, once. reqwest is
/// built without a provider; every HTTP client in the process needs this
/// before its first TLS connection. Calling it again is harmless.
pub fn install_crypto() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// One configured client, its secrets decoded into HMAC keys.
#[derive(Debug)]
pub(crate) struct ClientAuth {
    pub name: String,
    pub scheme: Scheme,
    /// Standard Webhooks: the decoded `whsec_` keys; GitHub: the secret
    /// bytes; each already keyed into an HMAC state.
    pub keys: Vec<HmacKey>,
    pub scopes: Scopes,
}

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    accounts: Accounts,
    clients: Vec<Arc<ClientAuth>>,
    /// Tells the dispatcher an account has new tasks.
    wake: Arc<dyn Fn(&str) + Send + Sync>,
    metrics: Arc<Metrics>,
    rules: Arc<LiveRules>,
    firer: Arc<Firer>,
    /// Tells the age-rule runner new age recalls were scheduled.
    age_tracked: Arc<tokio::sync::Notify>,
    /// `/readyz` answers 503 until this is set.
    ready: AtomicBool,
}

impl AppState {
    /// `config` must have its secrets resolved. Fails, naming the client,
    /// when a Standard Webhooks secret is not `whsec_<base64>`.
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        accounts: Accounts,
        wake: Arc<dyn Fn(&str) + Send + Sync>,
        metrics: Arc<Metrics>,
        rules: Arc<LiveRules>,
    ) -> Result<AppState, String> {
        let mut clients = Vec::with_capacity(config.clients.len());
        for client in config.clients.values() {
            let keys = client
                .secrets
                .iter()
                .enumerate()
                .map(|(i, secret)| {
                    (client.scheme.key(secret.expose()))
                        .map(|key| HmacKey::new(&key))
                        .map_err(|e| format!("client {}: secrets[{i}]: {e}", client.name))
                })
                .collect::<Result<Vec<_>, String>>()?;
            if keys.is_empty() {
                return Err(format!("client {}: needs at least one secret", client.name));
            }
            clients.push(Arc::new(ClientAuth {
                name: client.name.clone(),
                scheme: client.scheme,
                keys,
                scopes: client.scopes.clone(),
            }));
        }
        let firer = Arc::new(Firer::new(
            Arc::clone(&store),
            accounts.clone(),
            Arc::clone(&metrics),
            Arc::clone(&wake),
        ));
        Ok(AppState {
            inner: Arc::new(Inner {
                config,
                store,
                accounts,
                clients,
                wake,
                metrics,
                rules,
                firer,
                age_tracked: Arc::new(tokio::sync::Notify::new()),
                ready: AtomicBool::new(false),
            }),
        })
    }

    /// `/readyz` answers 200 once this is `true`.
    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.store(ready, Ordering::Release);
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Acquire)
    }

    pub(crate) fn config(&self) -> &Config {
        &self.inner.config
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    pub(crate) fn accounts(&self) -> &Accounts {
        &self.inner.accounts
    }

    pub(crate) fn clients(&self) -> &[Arc<ClientAuth>] {
        &self.inner.clients
    }

    pub(crate) fn wake(&self, account: &str) {
        (self.inner.wake)(account);
    }

    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// The rules in force (and their reload state).
    pub fn rules(&self) -> &Arc<LiveRules> {
        &self.inner.rules
    }

    /// Fires rules into jobs.
    pub fn firer(&self) -> &Arc<Firer> {
        &self.inner.firer
    }

    /// Woken when tracking scheduled age recalls.
    pub fn age_tracked(&self) -> &Arc<tokio::sync::Notify> {
        &self.inner.age_tracked
    }
}

#[cfg(test)]
pub(crate) mod tests;
