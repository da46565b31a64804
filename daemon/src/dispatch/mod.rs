//! The dispatcher: per account (`lane.rs`), claims due tasks from the store;
//! each attempt (`attempt.rs`) waits for a call permit, a token and the
//! account's rate limit, asks the plugin for the request, sends it, asks the
//! plugin what the answer means, and hands the result to the recorder
//! (`recorder.rs`). Pure decisions live in `policy.rs` and `limiter.rs`.

mod attempt;
mod executor;
mod lane;
mod limiter;
mod policy;
mod recorder;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
mod tokens;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

pub use executor::Executor;
pub use limiter::Limiter;
pub use policy::{Backoff, Next, after_outcome, past_window, redact};
pub use tokens::Tokens;

use crate::accounts::Accounts;
use crate::clock::now_ms;
use crate::config::DispatchConfig;
use crate::metrics::Metrics;
use crate::store::Store;
use lane::{Lane, UNRECORDED_PER_CALL};

pub struct Dispatcher {
    store: Arc<dyn Store>,
    accounts: Accounts,
    executor: Executor,
    tokens: Tokens,
    metrics: Arc<Metrics>,
    config: DispatchConfig,
    backoff: Backoff,
    /// Woken when new tasks exist for an account.
    wakers: HashMap<String, Arc<Notify>>,
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn Store>,
        accounts: Accounts,
        metrics: Arc<Metrics>,
        config: DispatchConfig,
    ) -> Result<Arc<Dispatcher>, String> {
        // Accounts often share a vendor host: keep enough idle connections
        // for all of them, so busy lanes do not reconnect.
        let max_concurrency = accounts
            .values()
            .map(|a| a.concurrency as usize)
            .sum::<usize>()
            .max(1);
        let wakers = accounts
            .keys()
            .map(|name| (name.clone(), Arc::new(Notify::new())))
            .collect();
        Ok(Arc::new(Dispatcher {
            store,
            accounts,
            executor: Executor::new(max_concurrency)?,
            tokens: Tokens::default(),
            metrics,
            config,
            backoff: Backoff::default(),
            wakers,
        }))
    }

    /// New tasks exist for `account`. For an account no lane serves (the
    /// ledger still holds messages of an account the config dropped), they
    /// are failed, so that their job ends.
    pub fn wake(&self, account: &str) {
        match self.wakers.get(account) {
            Some(waker) => waker.notify_one(),
            None => {
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(self.fail_unserved());
                }
            }
        }
    }

    /// Fails the pending tasks of accounts no lane serves, and says so.
    fn fail_unserved(&self) -> impl Future<Output = ()> + use<> {
        let store = Arc::clone(&self.store);
        let served = self.accounts.keys().cloned().collect();
        async move {
            match store.fail_unserved(served, now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(
                    tasks = n,
                    "failed tasks of accounts that are not configured (renamed or removed?)"
                ),
                Err(e) => tracing::error!("cannot fail the tasks of unconfigured accounts: {e}"),
            }
        }
    }

    /// A `wake` callback for the API.
    pub fn waker(self: &Arc<Self>) -> Arc<dyn Fn(&str) + Send + Sync> {
        let me = Arc::clone(self);
        Arc::new(move |account| me.wake(account))
    }

    /// Runs until `shutdown` turns true, then lets in-flight calls finish
    /// within the grace period and hands unfinished tasks back to the store.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        self.fail_unserved().await;
        // At most one result per unrecorded permit exists at once.
        let unrecorded = self
            .accounts
            .values()
            .map(|a| a.concurrency as usize * UNRECORDED_PER_CALL)
            .sum::<usize>();
        let (finished, results) = mpsc::channel(unrecorded.max(1));
        let recorder = tokio::spawn(Arc::clone(&self).record(results, recorder::LINGER));
        let mut loops = JoinSet::new();
        for runtime in self.accounts.values() {
            let lane = Arc::new(Lane::new(Arc::clone(runtime)));
            loops.spawn(Arc::clone(&self).account_loop(lane, shutdown.clone(), finished.clone()));
        }
        drop(finished);
        // One grace period for the whole stop: the lanes' calls and the
        // recorder's last writes share it.
        let mut deadline = None;
        loop {
            tokio::select! {
                joined = loops.join_next() => if joined.is_none() { break },
                _ = shutdown.wait_for(|stop| *stop), if deadline.is_none() => {
                    deadline = Some(Instant::now() + self.config.shutdown_grace);
                }
            }
        }
        let deadline = deadline.unwrap_or_else(|| Instant::now() + self.config.shutdown_grace);
        // Every lane has stopped: the recorder ends once it has written the rest.
        if tokio::time::timeout_at(deadline, recorder).await.is_err() {
            tracing::warn!("grace period over; the last results are still being recorded");
        }
        match self.store.release().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(tasks = n, "released unfinished tasks for the next start"),
            Err(e) => tracing::warn!(
                "could not release unfinished tasks: {e}; they are released at the next start"
            ),
        }
    }
}
