//! One account's lane: it claims due tasks ahead of need and starts an
//! attempt for each as soon as it has an unrecorded permit, which goes with
//! the attempt's result to the [`recorder`](super::recorder) and comes back
//! once the result is durable. The attempt itself then waits for a call
//! permit, any token, and the rate limiter ([`Dispatcher::admit`]) and gives the call
//! permit back as soon as the vendor has answered: the next attempt is
//! already waiting for it, its task claimed. Claiming ahead keeps the
//! permits busy while the next claim waits for the store.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plugin_api::OperationKind;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::recorder::Finished;
use super::{Dispatcher, Limiter};
use crate::accounts::AccountRuntime;
use crate::clock::now_ms;
use crate::store::{ClaimedTask, StoreError};

/// State one account's loop shares with its attempts.
pub(super) struct Lane {
    pub runtime: Arc<AccountRuntime>,
    /// The account's `concurrency` call permits: calls at the vendor.
    calls: Arc<Semaphore>,
    /// One attempt at a time waits for the rate limiter, in the order they
    /// got their call permits.
    admission: tokio::sync::Mutex<()>,
    pub limiter: Mutex<Limiter>,
    /// The limiter's monotonic time base.
    epoch: Instant,
}

impl Lane {
    pub fn new(runtime: Arc<AccountRuntime>) -> Lane {
        Lane {
            calls: Arc::new(Semaphore::new(runtime.concurrency as usize)),
            admission: tokio::sync::Mutex::new(()),
            limiter: Mutex::new(Limiter::new(&runtime.limits)),
            runtime,
            epoch: Instant::now(),
        }
    }

    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// Unrecorded permits per call permit. An attempt holds one from its start
/// until its result is committed, so an account has at most `concurrency`
/// calls at the vendor and at most twice that many attempts started and not
/// recorded: that is what a `kill -9` can leave unrecorded, to be sent again
/// after the restart. The second half holds the next attempts, waiting for a
/// call permit with their tasks in hand, and the results waiting for their
/// commit (a millisecond or two under load): the calls slow down only when
/// more than `concurrency` results wait, i.e. when the store stalls.
pub(super) const UNRECORDED_PER_CALL: usize = 2;

/// Tasks a lane claims at once: enough for a few rounds of its calls.
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
                permit = Arc::clone(&unrecorded).acquire_owned() => {
                    let Ok(permit) = permit else { break };
                    let Some(task) = queue.pop_front() else { continue };
                    running.spawn(Arc::clone(&self).attempt(
                        Arc::clone(&lane),
                        task,
                        permit,
                        shutdown.clone(),
                        finished.clone(),
                    ));
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

    /// Waits for a call permit; `None` at shutdown.
    pub(super) async fn take_permit(
        &self,
        lane: &Lane,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<OwnedSemaphorePermit> {
        tokio::select! {
            call = Arc::clone(&lane.calls).acquire_owned() => call.ok(),
            _ = shutdown.wait_for(|stop| *stop) => None,
        }
    }

    /// Waits for the rate limit to admit a call of `action`, one attempt at
    /// a time; `false` at shutdown. Taken last, once the call permit and any
    /// token are in hand: an admitted call leaves at once, so what the vendor
    /// sees keeps the spacing the limiter granted (a token fetched after the
    /// admission would let admitted calls bunch up behind it).
    pub(super) async fn admit(
        &self,
        lane: &Lane,
        action: OperationKind,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let stop = async { shutdown.wait_for(|stop| *stop).await.is_ok() };
        tokio::pin!(stop);
        let _turn = tokio::select! {
            turn = lane.admission.lock() => turn,
            _ = &mut stop => return false,
        };
        loop {
            let wait = {
                let mut limiter = lane.limiter.lock().unwrap_or_else(|e| e.into_inner());
                limiter.try_acquire(action, lane.elapsed_ms())
            };
            let Err(wait) = wait else { return true };
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                _ = &mut stop => return false,
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
