//! The recorder: writes the results of attempts to the store in batches and
//! gives each attempt's unrecorded permit (taken by its [`lane`](super::lane))
//! back only once its result is committed, so at a crash (`kill -9`) at most
//! twice `concurrency` calls of an account can have reached the vendor
//! unrecorded. (Results commit without an fsync, see `store::database`: after
//! a power loss the last ones may be repeated too.)
//!
//! One recorder serves every lane. While one write is in the store, the
//! results that arrive wait and go together in the next one: under load a
//! write carries hundreds of results, and the store's fixed costs (the
//! operation, its audit records, the job check) are paid once per batch.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::Dispatcher;
use crate::store::{TaskResult, TaskState};

/// An attempt's result on its way to the store, with the unrecorded permit
/// its call holds until the result is durable.
pub(super) struct Finished {
    pub result: TaskResult,
    pub unrecorded: OwnedSemaphorePermit,
}

impl Dispatcher {
    /// Records results until every sender is gone.
    pub(super) async fn record(self: Arc<Self>, mut finished: mpsc::Receiver<Finished>) {
        let mut batch = Vec::new();
        let most = finished.max_capacity();
        while finished.recv_many(&mut batch, most).await > 0 {
            let (results, permits): (Vec<TaskResult>, Vec<OwnedSemaphorePermit>) =
                batch.drain(..).map(|f| (f.result, f.unrecorded)).unzip();
            // Accounts with a task to retry: their lanes look for due tasks again.
            let retrying: BTreeSet<String> = results
                .iter()
                .filter(|r| r.state == TaskState::Pending)
                .map(|r| r.account.clone())
                .collect();
            self.finish_until_written(results).await;
            // Only now may other calls take the permits.
            drop(permits);
            for account in &retrying {
                self.wake(account);
            }
        }
    }
}

impl Dispatcher {
    /// Writes `results`, retrying while the store refuses (a full disk, an
    /// I/O error). The calls keep their unrecorded permits meanwhile, so once
    /// an account's permits are all taken its lane makes no more vendor calls
    /// whose results could not be recorded either, and the tasks do not stay
    /// `running` until the next start. Ends when the write
    /// succeeds, or is abandoned by the shutdown's grace period (the tasks
    /// are then handed back at the next start).
    async fn finish_until_written(&self, results: Vec<TaskResult>) {
        let mut wait = RETRY_FIRST;
        loop {
            match self.store.finish(results.clone()).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::error!(
                        results = results.len(),
                        retry_in_ms = wait.as_millis() as u64,
                        "cannot record results: {e}"
                    );
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(RETRY_MAX);
                }
            }
        }
    }
}

/// The first wait before writing results again, and the longest.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use tokio::sync::{Semaphore, mpsc};

    use super::*;
    use crate::config::DispatchConfig;
    use crate::dispatch::testkit::{Gated, job_store, until};
    use crate::metrics::Metrics;
    use crate::store::*;

    fn done(task: &ClaimedTask) -> TaskResult {
        TaskResult {
            task_id: task.task_id,
            job_id: task.job_id,
            message_id: task.message_id,
            action: task.action,
            account: task.message.account.clone(),
            state: TaskState::Done,
            attempts: 1,
            next_at_ms: 6_000,
            error: None,
            at_ms: 6_000,
        }
    }

    /// [`job_store`]'s job with its tasks claimed, and a dispatcher over it.
    async fn claimed_job(
        n: usize,
        gate: usize,
        failures: usize,
    ) -> (Arc<Gated>, Arc<Dispatcher>, i64, Vec<ClaimedTask>) {
        let (store, job) = job_store(n, gate, failures).await;
        let tasks = store.inner.claim("a".into(), 5_000, 10).await.unwrap();
        let dispatcher = Dispatcher::new(
            Arc::clone(&store) as Arc<dyn Store>,
            Default::default(),
            Arc::new(Metrics::new()),
            DispatchConfig::default(),
        )
        .unwrap();
        (store, dispatcher, job, tasks)
    }

    #[tokio::test]
    async fn unrecorded_permits_come_back_only_once_their_results_are_written_and_waiting_results_go_together()
     {
        let (store, dispatcher, job, tasks) = claimed_job(3, 0, 0).await;
        let permits = Arc::new(Semaphore::new(3));
        let (finished, results) = mpsc::channel(3);
        let recorder = tokio::spawn(Arc::clone(&dispatcher).record(results));
        let send = |task: &ClaimedTask| {
            let permit = Arc::clone(&permits).try_acquire_owned().unwrap();
            let finished = finished.clone();
            let result = done(task);
            async move {
                finished
                    .send(Finished {
                        result,
                        unrecorded: permit,
                    })
                    .await
                    .unwrap()
            }
        };

        send(&tasks[0]).await;
        until("the first write", || {
            store.entered.load(Ordering::SeqCst) == 1
        })
        .await;
        send(&tasks[1]).await;
        send(&tasks[2]).await;
        assert_eq!(permits.available_permits(), 0, "nothing is written yet");

        store.gate.add_permits(1);
        until("the first permit", || permits.available_permits() == 1).await;
        let progress = store.job(job).await.unwrap().unwrap();
        assert_eq!((progress.counts.recalled, progress.counts.pending), (1, 2));
        until("the second write", || {
            store.entered.load(Ordering::SeqCst) == 2
        })
        .await;
        assert_eq!(
            permits.available_permits(),
            1,
            "two results are not written yet"
        );

        store.gate.add_permits(1);
        until("every permit", || permits.available_permits() == 3).await;
        assert_eq!(*store.batches.lock().unwrap(), [1, 2]);
        let progress = store.job(job).await.unwrap().unwrap();
        assert_eq!(
            (progress.state.as_str(), progress.counts.recalled),
            ("done", 3)
        );
        drop(finished);
        recorder.await.unwrap();
    }

    #[tokio::test]
    async fn a_refused_write_is_retried_and_its_permit_waits_for_it() {
        let (store, dispatcher, job, tasks) = claimed_job(1, Semaphore::MAX_PERMITS, 2).await;
        let permits = Arc::new(Semaphore::new(1));
        let (finished, results) = mpsc::channel(1);
        let recorder = tokio::spawn(Arc::clone(&dispatcher).record(results));
        let permit = Arc::clone(&permits).try_acquire_owned().unwrap();
        finished
            .send(Finished {
                result: done(&tasks[0]),
                unrecorded: permit,
            })
            .await
            .unwrap();

        until("the first refusal", || {
            store.entered.load(Ordering::SeqCst) == 1
        })
        .await;
        assert_eq!(
            permits.available_permits(),
            0,
            "refused: the permit is held"
        );
        until("the permit", || permits.available_permits() == 1).await;
        assert_eq!(
            store.entered.load(Ordering::SeqCst),
            3,
            "two refusals, then the write"
        );
        assert_eq!(*store.batches.lock().unwrap(), [1]);
        let progress = store.job(job).await.unwrap().unwrap();
        assert_eq!(
            (progress.state.as_str(), progress.counts.recalled),
            ("done", 1)
        );
        drop(finished);
        recorder.await.unwrap();
    }
}
