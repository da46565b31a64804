//! Starting and stopping a daemon: config in, a listening API and running
//! dispatcher out. `recalld serve` and `recalld demo` both use [`start`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::accounts::build_accounts;
use crate::api::{AppState, routes};
use crate::clock::now_ms;
use crate::config::{Config, ConfigErrors, StoreUrl};
use crate::dispatch::Dispatcher;
use crate::host::PluginRegistry;
use crate::metrics::Metrics;
use crate::rules::Env;
use crate::rules::live::LiveRules;
use crate::store::{MAX_INTERRUPTED, SqliteStore, Store};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration")]
    Config(#[from] ConfigErrors),
    #[error("cannot load plugins")]
    Plugins(#[from] crate::host::HostError),
    #[error("cannot open the store")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Other(String),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running daemon.
pub struct Running {
    /// Where the API listens (the real port when the config said `:0`).
    pub addr: SocketAddr,
    pub state: AppState,
    pub store: Arc<dyn Store>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<()>,
    dispatcher: JoinHandle<()>,
}

impl Running {
    /// SIGHUP: reloads the rules at once (there is nothing to reload
    /// without rule files).
    pub fn hangup(&self) {
        let rules = self.state.rules();
        if rules.has_files() {
            tracing::info!("SIGHUP: reloading rules");
            rules.reload_soon();
        } else {
            tracing::info!("SIGHUP: no rule files configured");
        }
    }

    /// Stops accepting requests, lets in-flight vendor calls finish within
    /// the grace period, hands unfinished tasks back to the store.
    pub async fn stop(self) {
        self.state.set_ready(false);
        let _ = self.shutdown.send(true);
        let _ = self.server.await;
        let _ = self.dispatcher.await;
    }
}

/// Loads plugins, opens the store, recovers unfinished work, starts the
/// dispatcher and binds the API. Config errors come before any port is bound.
pub async fn start(mut config: Config) -> Result<Running, StartError> {
    config.resolve_secrets()?;
    let registry = PluginRegistry::from_sources(&config.plugins)?;
    let accounts = build_accounts(&config, &registry).map_err(ConfigErrors)?;
    let store: Arc<dyn Store> = match &config.store {
        StoreUrl::Sqlite(path) => Arc::new(SqliteStore::open(path)?),
        StoreUrl::SqliteMemory => Arc::new(SqliteStore::open_in_memory()?),
    };
    let recovered = store.recover(now_ms()).await?;
    if recovered.resumed > 0 {
        tracing::info!(
            tasks = recovered.resumed,
            "resuming tasks that were in flight when the daemon last stopped"
        );
    }
    if recovered.failed > 0 {
        tracing::warn!(
            tasks = recovered.failed,
            stops = MAX_INTERRUPTED,
            "failed tasks that were in flight at every one of the last stops (a plugin crash?)"
        );
    }
    let metrics = Arc::new(Metrics::new());
    let dispatcher = Dispatcher::new(
        Arc::clone(&store),
        accounts.clone(),
        Arc::clone(&metrics),
        config.dispatch.clone(),
    )
    .map_err(StartError::Other)?;
    let rules = LiveRules::start(
        config.rules.files.clone(),
        Env::from_accounts(&accounts),
        Arc::clone(&metrics),
    )
    .map_err(ConfigErrors)?;
    let listen = config.listen;
    let config = Arc::new(config);
    let state = AppState::new(
        Arc::clone(&config),
        Arc::clone(&store),
        accounts,
        dispatcher.waker(),
        metrics,
        Arc::clone(&rules),
    )
    .map_err(StartError::Other)?;

    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: listen,
        source,
    })?;
    let (shutdown, watch_shutdown) = watch::channel(false);
    let mut server_shutdown = watch_shutdown.clone();
    let server = warp::serve(routes(state.clone()))
        .incoming(listener)
        .graceful(async move {
            let _ = server_shutdown.wait_for(|stop| *stop).await;
        });
    let server = tokio::spawn(server.run());
    let dispatcher = tokio::spawn(Arc::clone(&dispatcher).run(watch_shutdown.clone()));
    tokio::spawn(purge_deliveries(Arc::clone(&store), watch_shutdown.clone()));
    if !config.rules.files.is_empty() {
        tokio::spawn(Arc::clone(&rules).watch(config.rules.watch_interval, watch_shutdown.clone()));
    }
    let firer = Arc::clone(state.firer());
    tokio::spawn(Arc::clone(&firer).run_age(
        Arc::clone(&rules),
        Arc::clone(state.age_tracked()),
        watch_shutdown.clone(),
    ));
    tokio::spawn(firer.run_schedules(rules, watch_shutdown));
    // Wake every account once: a restart may have left work behind.
    for name in config.accounts.keys() {
        state.wake(name);
    }
    state.set_ready(true);
    tracing::info!(%addr, accounts = config.accounts.len(), "recalld is serving");
    Ok(Running {
        addr,
        state,
        store,
        shutdown,
        server,
        dispatcher,
    })
}

/// Forgets webhook ids whose replay window has passed, once a minute.
async fn purge_deliveries(store: Arc<dyn Store>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        if let Err(e) = store.purge_deliveries(now_ms()).await {
            tracing::warn!("cannot purge old delivery ids: {e}");
        }
    }
}
