//! One account's lane: it claims due tasks ahead of need and admits each one
//! through a [`Slot`] and then the rate limiter. A slot is two permits: the
//! call's concurrency permit, given back as soon as the vendor has answered,
//! and its unrecorded permit, which goes with the attempt's result to the
//! [`recorder`](super::recorder) and comes back once the result is durable.
//! Claiming ahead keeps the slots busy while the next claim waits for the
//! store.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{AcquireError, Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::recorder::Finished;
use super::{Dispatcher, Limiter};
use crate::accounts::AccountRuntime;
use crate::clock::now_ms;
use crate::store::{ClaimedTask, StoreError};

/// State one account's loop shares with its attempts.
pub(super) struct Lane {
    pub runtime: Arc<AccountRuntime>,
    pub limiter: Mutex<Limiter>,
    /// The limiter's monotonic time base.
    epoch: Instant,
}

impl Lane {
    pub fn new(runtime: Arc<AccountRuntime>) -> Lane {
        Lane {
            limiter: Mutex::new(Limiter::new(&runtime.limits)),
            runtime,
            epoch: Instant::now(),
        }
    }

    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// Unrecorded permits per concurrency permit: an account has at most
/// `concurrency` calls at the vendor, and at most twice that many calls whose
/// results are not committed yet (those at the vendor included). That is what
/// a `kill -9` can leave unrecorded, to be sent again after the restart. The
/// second half lets a slot's next call leave while the last result waits for
/// its commit; under load results wait a millisecond or two, so it binds only
/// when the store stalls.
pub(super) const UNRECORDED_PER_CALL: usize = 2;

/// What one call holds.
pub(super) struct Slot {
    /// One of the account's `concurrency` permits, until the vendor answered.
    pub call: OwnedSemaphorePermit,
    /// One of its `UNRECORDED_PER_CALL × concurrency` permits, until the
    /// call's result is committed.
    pub unrecorded: OwnedSemaphorePermit,
}

impl Slot {
    /// Waits for an unrecorded permit, then a concurrency permit.
    async fn acquire(
        calls: &Arc<Semaphore>,
        unrecorded: &Arc<Semaphore>,
    ) -> Result<Slot, AcquireError> {
        let unrecorded = Arc::clone(unrecorded).acquire_owned().await?;
        let call = Arc::clone(calls).acquire_owned().await?;
        Ok(Slot { call, unrecorded })
    }
}

/// Tasks a lane claims at once: enough for a few rounds of its slots.
fn claim_size(concurrency: u32) -> u32 {
    (concurrency.saturating_mul(4)).clamp(16, 1024)
}

type Claim = JoinHandle<Result<Vec<ClaimedTask>, StoreError>>;

/// Waits for the claim in flight, if any (never returns otherwise).
async fn claimed(claim: &mut Option<Claim>) -> Result<Vec<ClaimedTask>, StoreError> {
    match claim {
        Some(handle) => handle
            .await
            .unwrap_or_else(|e| Err(StoreError::Database(format!("the claim stopped: {e}")))),
        None => std::future::pending().await,
    }
}

impl Dispatcher {
    /// Starts claiming `batch` due tasks of the lane's account.
    fn start_claim(self: &Arc<Self>, name: &str, batch: u32) -> Claim {
        let me = Arc::clone(self);
        let name = name.to_owned();
        tokio::spawn(async move { me.store.claim(name, now_ms(), batch).await })
    }

    /// Runs one account's lane until shutdown; its attempts' results go to
    /// `finished`.
    pub(super) async fn account_loop(
        self: Arc<Self>,
        lane: Arc<Lane>,
        mut shutdown: watch::Receiver<bool>,
        finished: mpsc::Sender<Finished>,
    ) {
        let name = lane.runtime.name.clone();
        let waker = Arc::clone(&self.wakers[&name]);
        let concurrency = lane.runtime.concurrency as usize;
        let calls = Arc::new(Semaphore::new(concurrency));
        let unrecorded = Arc::new(Semaphore::new(concurrency * UNRECORDED_PER_CALL));
        let batch = claim_size(lane.runtime.concurrency);
        // The next claim starts when fewer tasks than this are left.
        let refill = batch as usize / 2;
        let mut running = JoinSet::new();
        let mut queue: VecDeque<ClaimedTask> = VecDeque::new();
        let mut claim: Option<Claim> = None;
        // The last claim found fewer tasks than it asked for: do not claim
        // ahead again until the queue is empty or new tasks are announced.
        let mut exhausted = false;
        while !*shutdown.borrow() {
            while running.try_join_next().is_some() {}
            if claim.is_none() && (queue.is_empty() || (!exhausted && queue.len() < refill)) {
                claim = Some(self.start_claim(&name, batch));
            }
            if queue.is_empty() {
                let tasks = tokio::select! {
                    tasks = claimed(&mut claim) => tasks,
                    _ = shutdown.changed() => break,
                };
                claim = None;
                match tasks {
                    Ok(tasks) if tasks.is_empty() => {
                        exhausted = false;
                        self.idle(&name, &waker, &mut shutdown).await;
                    }
                    Ok(tasks) => {
                        exhausted = tasks.len() < batch as usize;
                        queue.extend(tasks);
                        self.metrics.queue_depth(&name, queue.len() as i64);
                    }
                    Err(e) => {
                        tracing::error!(account = %name, "cannot claim tasks: {e}");
                        tokio::select! { _ = tokio::time::sleep(Duration::from_secs(1)) => {}, _ = shutdown.changed() => {} }
                    }
                }
                continue;
            }
            tokio::select! {
                _ = shutdown.changed() => break,
                tasks = claimed(&mut claim) => {
                    claim = None;
                    match tasks {
                        Ok(tasks) => {
                            exhausted = tasks.len() < batch as usize;
                            queue.extend(tasks);
                            self.metrics.queue_depth(&name, queue.len() as i64);
                        }
                        Err(e) => {
                            // Claim again once the queue is empty.
                            tracing::error!(account = %name, "cannot claim tasks: {e}");
                            exhausted = true;
                        }
                    }
                }
                _ = waker.notified(), if exhausted => exhausted = false,
                slot = Slot::acquire(&calls, &unrecorded) => {
                    let Ok(slot) = slot else { break };
                    // The slot first, then the rate limit: a call
                    // leaves as soon as it is admitted, so what the vendor
                    // sees keeps the spacing the limiter granted.
                    let Some(task) = queue.pop_front() else { continue };
                    if !self.admit(&lane, &task, &mut shutdown).await {
                        break;
                    }
                    running.spawn(Arc::clone(&self).attempt(Arc::clone(&lane), task, slot, finished.clone()));
                }
            }
        }
        // Claimed tasks not started stay `running` in the store until
        // `Dispatcher::run` hands them back.
        drop(queue);
        let drain = async {
            if let Some(claim) = claim {
                let _ = claim.await;
            }
            while running.join_next().await.is_some() {}
        };
        if tokio::time::timeout(self.config.shutdown_grace, drain)
            .await
            .is_err()
        {
            tracing::warn!(account = %name, in_flight = running.len(), "grace period over; abandoning in-flight calls");
            running.abort_all();
        }
        self.metrics.queue_depth(&name, 0);
    }

    /// Waits for the lane's rate limit to admit `task`; `false` on shutdown.
    async fn admit(
        &self,
        lane: &Lane,
        task: &ClaimedTask,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        loop {
            let wait = {
                let mut limiter = lane.limiter.lock().unwrap_or_else(|e| e.into_inner());
                limiter.try_acquire(task.action, lane.elapsed_ms())
            };
            let Err(wait) = wait else { return true };
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                _ = shutdown.changed() => return false,
            }
        }
    }

    /// Nothing is due now: waits until the next task is, new tasks are
    /// announced, or shutdown.
    async fn idle(&self, name: &str, waker: &Notify, shutdown: &mut watch::Receiver<bool>) {
        let due = self.store.next_due(name.to_owned()).await.ok().flatten();
        let wait = due.map_or(Duration::from_secs(30), |at| {
            Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0))
                .min(Duration::from_secs(30))
        });
        tokio::select! {
            _ = waker.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
}
