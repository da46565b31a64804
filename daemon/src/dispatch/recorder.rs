//! The recorder: writes the results of attempts to the store in batches and
//! gives each attempt's unrecorded permit (taken by its [`lane`](super::lane))
//! back only once its result is committed, so at a crash (`kill -9`) at most
//! twice `concurrency` calls of an account can have reached the vendor
//! unrecorded. (Results commit without an fsync, see `store::database`: after
//! a power loss the last ones may be repeated too.)
//!
//! One recorder serves every lane. A write waits up to [`LINGER`] after its
//! first result for more, unless an account is about to run short of
//! unrecorded permits; while one write is in the store, the results that
//! arrive wait and go together in the next one. The store's fixed costs
//! (the transaction, its pages, its audit records, the job check) are paid
//! once per batch: under load a write carries tens of results instead of
//! about four.

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
    /// How many calls the result's account may make at once.
    pub concurrency: usize,
}

impl Dispatcher {
    /// Records results until every sender is gone, each write gathering
    /// results for up to `linger` (see [`gather`]).
    pub(super) async fn record(
        self: Arc<Self>,
        mut finished: mpsc::Receiver<Finished>,
        linger: Duration,
    ) {
        let mut batch = Vec::new();
        while gather(&mut finished, &mut batch, linger).await > 0 {
            let (results, permits): (Vec<TaskResult>, Vec<OwnedSemaphorePermit>) =
                batch.drain(..).map(|f| (f.result, f.unrecorded)).unzip();
            // Accounts with a task to retry: their lanes look for due tasks again.
            let retrying: BTreeSet<String> = results
                .iter()
                .filter(|r| r.state == TaskState::Pending)
                .map(|r| r.account.clone())
                .collect();
            let written = results.len();
            self.finish_until_written(results).await;
            self.metrics.results_written(written);
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

/// How long a write waits after its first result for more. A result's
/// unrecorded permit comes back up to this much later. That costs no calls
/// while its account has permits to spare: it has twice its concurrency, and
/// a vendor call takes tens to hundreds of milliseconds. An account about to
/// run short ends the wait (see [`gather`]).
pub(super) const LINGER: Duration = Duration::from_millis(2);

/// Waits for results and moves them into the empty `batch`: at least one,
/// then more until `linger` has passed since the first, the channel is
/// closed, the batch is full, or it holds half as many results of one
/// account as that account's concurrency. From there on, with the results
/// arriving while it is written, the account's permits would run short of
/// what its calls need. Returns how many; 0 once every sender is gone.
async fn gather(
    finished: &mut mpsc::Receiver<Finished>,
    batch: &mut Vec<Finished>,
    linger: Duration,
) -> usize {
    let most = finished.max_capacity();
    if finished.recv_many(batch, most).await == 0 {
        return 0;
    }
    // One timer for the whole wait, not one per result that arrives.
    let lingered = tokio::time::sleep(linger);
    tokio::pin!(lingered);
    // Results in the batch per account.
    let mut held: Vec<(String, usize)> = Vec::new();
    let mut counted = 0;
    loop {
        let mut enough = batch.len() >= most;
        for f in &batch[counted..] {
            let account = f.result.account.as_str();
            let n = match held.iter_mut().find(|(a, _)| a == account) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    held.push((account.to_owned(), 1));
                    1
                }
            };
            enough |= n * 2 >= f.concurrency;
        }
        counted = batch.len();
        if enough {
            return batch.len();
        }
        tokio::select! {
            more = finished.recv_many(batch, most - batch.len()) => {
                if more == 0 {
                    return batch.len();
                }
            }
            () = &mut lingered => return batch.len(),
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
    use std::time::Duration;

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

    /// [`job_store`]'s job with its tasks claimed, account by account, and a
    /// dispatcher over it.
    async fn claimed_job(
        n: usize,
        accounts: &[&str],
        gate: usize,
        failures: usize,
    ) -> (Arc<Gated>, Arc<Dispatcher>, i64, Vec<ClaimedTask>) {
        let (store, job) = job_store(n, accounts, gate, failures).await;
        let mut tasks = Vec::new();
        for account in accounts {
            let claimed = store.inner.claim(account.to_string(), 5_000, 10);
            tasks.extend(claimed.await.unwrap());
        }
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
        let (store, dispatcher, job, tasks) = claimed_job(3, &["a"], 0, 0).await;
        let permits = Arc::new(Semaphore::new(3));
        let (finished, results) = mpsc::channel(3);
        let recorder = tokio::spawn(Arc::clone(&dispatcher).record(results, LINGER));
        let send = |task: &ClaimedTask| finished.send(holding(&permits, task, 64));
        send(&tasks[0]).await.unwrap();
        until("the first write", || {
            store.entered.load(Ordering::SeqCst) == 1
        })
        .await;
        send(&tasks[1]).await.unwrap();
        send(&tasks[2]).await.unwrap();
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

    /// `task`'s result, holding a permit of `permits`, of an account with
    /// `concurrency`.
    fn holding(permits: &Arc<Semaphore>, task: &ClaimedTask, concurrency: usize) -> Finished {
        Finished {
            result: done(task),
            unrecorded: Arc::clone(permits).try_acquire_owned().unwrap(),
            concurrency,
        }
    }

    /// Sends `finished` and waits until the recorder has taken it from the
    /// channel.
    async fn hand_over(channel: &mpsc::Sender<Finished>, finished: Finished) {
        channel.send(finished).await.unwrap();
        until("the recorder to take the result", || {
            channel.capacity() == channel.max_capacity()
        })
        .await;
    }

    #[tokio::test]
    async fn a_write_waits_for_more_results_until_it_holds_half_an_accounts_concurrency() {
        // Three tasks of account `a`, then three of `b`.
        let accounts = ["a", "b"];
        let (store, dispatcher, job, tasks) =
            claimed_job(6, &accounts, Semaphore::MAX_PERMITS, 0).await;
        let (a, b) = tasks.split_at(3);
        assert!(a.iter().all(|t| t.message.account == "a"));
        assert!(b.iter().all(|t| t.message.account == "b"));
        let permits = Arc::new(Semaphore::new(12));
        // Room for more results than the write waits for: the batch is not
        // full when it goes.
        let (finished, results) = mpsc::channel(8);
        let hour = Duration::from_secs(3600);
        let recorder = tokio::spawn(Arc::clone(&dispatcher).record(results, hour));

        // On this single-threaded runtime a recorder that wrote at once
        // would have entered the store before it let the sender go on.
        // Two results of each account: fewer than half of either's 6.
        for task in [&a[0], &b[0], &a[1], &b[1]] {
            hand_over(&finished, holding(&permits, task, 6)).await;
        }
        assert_eq!(store.entered.load(Ordering::SeqCst), 0, "lingering");
        assert_eq!(permits.available_permits(), 8);

        hand_over(&finished, holding(&permits, &a[2], 6)).await;
        until("every permit", || permits.available_permits() == 12).await;
        assert_eq!(*store.batches.lock().unwrap(), [5], "one write");
        let metrics = dispatcher.metrics.render();
        assert!(
            metrics.contains("recalld_results_per_write_sum 5.0"),
            "{metrics}"
        );
        assert!(
            metrics.contains("recalld_results_per_write_count 1"),
            "{metrics}"
        );
        let progress = store.job(job).await.unwrap().unwrap();
        assert_eq!(progress.counts.recalled, 5);
        drop(finished);
        recorder.await.unwrap();
    }

    #[tokio::test]
    async fn a_write_goes_once_its_first_result_has_lingered() {
        let (store, dispatcher, _, tasks) = claimed_job(1, &["a"], Semaphore::MAX_PERMITS, 0).await;
        let permits = Arc::new(Semaphore::new(2));
        let (finished, results) = mpsc::channel(2);
        let linger = Duration::from_millis(50);
        let recorder = tokio::spawn(Arc::clone(&dispatcher).record(results, linger));

        let sent = std::time::Instant::now();
        hand_over(&finished, holding(&permits, &tasks[0], 64)).await;
        until("the write", || permits.available_permits() == 2).await;
        assert!(
            sent.elapsed() >= linger,
            "written after {:?}",
            sent.elapsed()
        );
        assert_eq!(*store.batches.lock().unwrap(), [1]);
        drop(finished);
        recorder.await.unwrap();
    }

    #[tokio::test]
    async fn a_lingering_write_goes_at_once_when_the_lanes_stop() {
        let (store, dispatcher, job, tasks) =
            claimed_job(1, &["a"], Semaphore::MAX_PERMITS, 0).await;
        let permits = Arc::new(Semaphore::new(2));
        let (finished, results) = mpsc::channel(2);
        let hour = Duration::from_secs(3600);
        let recorder = tokio::spawn(Arc::clone(&dispatcher).record(results, hour));

        hand_over(&finished, holding(&permits, &tasks[0], 64)).await;
        drop(finished);
        tokio::time::timeout(Duration::from_secs(5), recorder)
            .await
            .expect("the recorder ends without waiting out its linger")
            .unwrap();
        assert_eq!(*store.batches.lock().unwrap(), [1]);
        let progress = store.job(job).await.unwrap().unwrap();
        assert_eq!(progress.counts.recalled, 1);
    }

    #[tokio::test]
    async fn a_refused_write_is_retried_and_its_permit_waits_for_it() {
        let (store, dispatcher, job, tasks) =
            claimed_job(1, &["a"], Semaphore::MAX_PERMITS, 2).await;
        let permits = Arc::new(Semaphore::new(1));
        let (finished, results) = mpsc::channel(1);
        let recorder = tokio::spawn(Arc::clone(&dispatcher).record(results, LINGER));
        finished
            .send(holding(&permits, &tasks[0], 1))
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
