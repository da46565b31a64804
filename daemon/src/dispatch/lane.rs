//! One account's lane: a claimer that claims due tasks ahead of need into a
//! queue, and one worker per concurrency slot. A worker takes the next task,
//! waits for its turn at the account's rate limiter, makes the attempt,
//! writes the result ([`recorder`](super::recorder)) and takes another task
//! only once the result is durable. So at most `concurrency` calls of an
//! account are in flight or unrecorded at once, and a `kill -9` repeats at
//! most that many.
//!
//! The worker *is* the slot, so a call's end leads to the next call with one
//! hand-off between threads (the store's answer waking the worker). The
//! first design took four: results went through a recorder task that gave
//! semaphore permits back to a loop that spawned each attempt as a new task.
//! On a busy 2-core machine each hand-off costs a few hundred µs, against a
//! 20 ms vendor call.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex as AsyncMutex, Notify, watch};
use tokio::task::JoinSet;

use super::{Dispatcher, Limiter};
use crate::accounts::AccountRuntime;
use crate::clock::now_ms;
use crate::store::{ClaimedTask, TaskState};

/// State one account's claimer shares with its workers.
pub(super) struct Lane {
    pub runtime: Arc<AccountRuntime>,
    pub limiter: Mutex<Limiter>,
    /// The limiter's monotonic time base.
    epoch: Instant,
    /// Claimed tasks no worker has taken yet.
    queue: Queue,
    /// Held by the one worker waiting for the rate limiter, so workers are
    /// admitted one at a time, in the order they asked.
    admission: AsyncMutex<()>,
}

impl Lane {
    pub fn new(runtime: Arc<AccountRuntime>) -> Lane {
        Lane {
            limiter: Mutex::new(Limiter::new(&runtime.limits)),
            runtime,
            epoch: Instant::now(),
            queue: Queue::default(),
            admission: AsyncMutex::new(()),
        }
    }

    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// Tasks a lane claims at once: enough for a few rounds of its slots.
pub(super) fn claim_size(concurrency: u32) -> u32 {
    (concurrency.saturating_mul(4)).clamp(16, 1024)
}

impl Dispatcher {
    /// Runs one account's lane until shutdown. In-flight calls then get the
    /// grace period to finish and be recorded.
    pub(super) async fn account_loop(
        self: Arc<Self>,
        runtime: Arc<AccountRuntime>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let name = runtime.name.clone();
        let batch = claim_size(runtime.concurrency);
        let lane = Arc::new(Lane::new(Arc::clone(&runtime)));
        let mut workers = JoinSet::new();
        for _ in 0..runtime.concurrency {
            workers.spawn(Arc::clone(&self).work(Arc::clone(&lane), shutdown.clone()));
        }
        self.claim_ahead(&name, batch, &lane.queue, &mut shutdown)
            .await;
        // Claimed tasks no worker took stay `running` in the store until
        // `Dispatcher::run` hands them back.
        let drain = async { while workers.join_next().await.is_some() {} };
        if tokio::time::timeout(self.config.shutdown_grace, drain)
            .await
            .is_err()
        {
            tracing::warn!(account = %name, in_flight = workers.len(), "grace period over; abandoning in-flight calls");
            workers.abort_all();
        }
        self.metrics.queue_depth(&name, 0);
    }

    /// Claims `batch` due tasks at a time into `queue` until shutdown. The
    /// next claim starts once fewer than half a batch are queued, so the
    /// store's answer comes while the workers still have tasks; a claim that
    /// finds fewer than `batch` waits for more to be due.
    async fn claim_ahead(
        &self,
        name: &str,
        batch: u32,
        queue: &Queue,
        shutdown: &mut watch::Receiver<bool>,
    ) {
        let waker = Arc::clone(&self.wakers[name]);
        let refill = batch as usize / 2;
        while !*shutdown.borrow() {
            tokio::select! {
                _ = queue.below(refill) => {}
                _ = shutdown.changed() => return,
            }
            let claimed = tokio::select! {
                claimed = self.store.claim(name.to_owned(), now_ms(), batch) => claimed,
                _ = shutdown.changed() => return,
            };
            let tasks = match claimed {
                Ok(tasks) => tasks,
                Err(e) => {
                    tracing::error!(account = %name, "cannot claim tasks: {e}");
                    tokio::select! { _ = tokio::time::sleep(Duration::from_secs(1)) => {}, _ = shutdown.changed() => {} }
                    continue;
                }
            };
            let short = tasks.len() < batch as usize;
            let depth = queue.extend(tasks);
            self.metrics.queue_depth(name, depth as i64);
            if short {
                self.idle(name, &waker, shutdown).await;
            }
        }
    }

    /// One concurrency slot: takes a task, waits for its turn at the rate
    /// limiter, makes the attempt, and takes the next task only once the
    /// result is durable. Ends at shutdown (a task taken but not started
    /// stays `running` and is handed back).
    async fn work(self: Arc<Self>, lane: Arc<Lane>, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            let task = tokio::select! {
                task = lane.queue.take() => Some(task),
                _ = shutdown.changed() => None,
            };
            // Shutdown may have come while the task was taken: it is handed back.
            let Some(task) = task.filter(|_| !*shutdown.borrow()) else {
                break;
            };
            {
                let _turn = lane.admission.lock().await;
                if !self.admit(&lane, &task, &mut shutdown).await {
                    break;
                }
            }
            let result = self.attempt(&lane, task).await;
            let retry = (result.state == TaskState::Pending).then(|| result.account.clone());
            self.finish_until_written(vec![result]).await;
            // A task to retry: the claimer looks for due tasks again.
            if let Some(account) = retry {
                self.wake(&account);
            }
        }
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

    /// Nothing (more) is due now: waits until the next task is, new tasks
    /// are announced, or shutdown.
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

/// Claimed tasks waiting for a worker. Taking one never waits for another
/// worker (a lock held across an await would make a convoy: each worker
/// woken in turn by the one before it).
#[derive(Default)]
pub(super) struct Queue {
    tasks: Mutex<VecDeque<ClaimedTask>>,
    /// Tasks were added.
    added: Notify,
    /// A task was taken.
    taken: Notify,
}

impl Queue {
    fn tasks(&self) -> std::sync::MutexGuard<'_, VecDeque<ClaimedTask>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `tasks` and wakes the workers waiting; the new length.
    fn extend(&self, tasks: Vec<ClaimedTask>) -> usize {
        let len = {
            let mut queue = self.tasks();
            queue.extend(tasks);
            queue.len()
        };
        self.added.notify_waiters();
        len
    }

    /// The next task, once there is one.
    async fn take(&self) -> ClaimedTask {
        loop {
            let added = self.added.notified();
            let mut added = std::pin::pin!(added);
            // Registered before looking, so an `extend` in between wakes us.
            added.as_mut().enable();
            let task = self.tasks().pop_front();
            if let Some(task) = task {
                self.taken.notify_one();
                return task;
            }
            added.await;
        }
    }

    /// Returns once fewer than `len` tasks are queued.
    async fn below(&self, len: usize) {
        loop {
            let taken = self.taken.notified();
            let mut taken = std::pin::pin!(taken);
            taken.as_mut().enable();
            if self.tasks().len() < len {
                return;
            }
            taken.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use plugin_api::{Message, OperationKind};

    use super::*;

    fn task(id: i64) -> ClaimedTask {
        ClaimedTask {
            task_id: id,
            job_id: 1,
            message_id: id,
            action: OperationKind::Recall,
            params: serde_json::Value::Null,
            attempts: 0,
            message: Message {
                account: "a".into(),
                remote_id: id.to_string(),
                sent_at_ms: 0,
                tags: Vec::new(),
                meta: serde_json::Value::Null,
            },
        }
    }

    /// Whether `f` is still waiting after the others have had their turn.
    async fn waits<F: std::future::Future>(f: &mut std::pin::Pin<&mut F>) -> bool {
        tokio::time::timeout(Duration::from_millis(20), f.as_mut())
            .await
            .is_err()
    }

    #[tokio::test]
    async fn workers_waiting_for_tasks_each_get_one_in_claim_order() {
        let queue = Arc::new(Queue::default());
        let takers: Vec<_> = (0..3)
            .map(|_| {
                let queue = Arc::clone(&queue);
                tokio::spawn(async move { queue.take().await.task_id })
            })
            .collect();
        tokio::task::yield_now().await;
        assert_eq!(queue.extend(vec![task(1), task(2), task(3), task(4)]), 4);
        let mut taken = Vec::new();
        for taker in takers {
            taken.push(
                tokio::time::timeout(Duration::from_secs(5), taker)
                    .await
                    .expect("every waiting worker gets a task")
                    .unwrap(),
            );
        }
        taken.sort();
        assert_eq!(taken, [1, 2, 3]);
        assert_eq!(queue.take().await.task_id, 4, "the rest stays queued");
        let mut next = std::pin::pin!(queue.take());
        assert!(waits(&mut next).await, "an empty queue makes a worker wait");
    }

    #[tokio::test]
    async fn the_claimer_waits_until_the_queue_runs_low() {
        let queue = Queue::default();
        queue.below(1).await;
        queue.extend((1..=4).map(task).collect());
        let mut low = std::pin::pin!(queue.below(3));
        assert!(waits(&mut low).await, "4 queued is not below 3");
        queue.take().await;
        assert!(waits(&mut low).await, "3 queued is not below 3");
        queue.take().await;
        tokio::time::timeout(Duration::from_secs(5), low)
            .await
            .expect("2 queued is below 3");
    }
}
