//! The recorder: writes the results of attempts to the store in batches and
//! gives each call's concurrency slot back only once its result is committed,
//! so at a crash (`kill -9`) at most `concurrency` calls of an account can
//! have reached the vendor unrecorded. (Results commit without an fsync, see
//! `store::database`: after a power loss the last ones may be repeated too.)
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

/// An attempt's result on its way to the store, with the slot its call holds
/// until the result is durable.
pub(super) struct Finished {
    pub result: TaskResult,
    pub slot: OwnedSemaphorePermit,
}

impl Dispatcher {
    /// Records results until every sender is gone.
    pub(super) async fn record(self: Arc<Self>, mut finished: mpsc::Receiver<Finished>) {
        let mut batch = Vec::new();
        let most = finished.max_capacity();
        while finished.recv_many(&mut batch, most).await > 0 {
            let (results, slots): (Vec<TaskResult>, Vec<OwnedSemaphorePermit>) =
                batch.drain(..).map(|f| (f.result, f.slot)).unzip();
            // Accounts with a task to retry: their lanes look for due tasks again.
            let retrying: BTreeSet<String> = results
                .iter()
                .filter(|r| r.state == TaskState::Pending)
                .map(|r| r.account.clone())
                .collect();
            self.finish_until_written(results).await;
            // Only now may other calls take the slots.
            drop(slots);
            for account in &retrying {
                self.wake(account);
            }
        }
    }
}

impl Dispatcher {
    /// Writes `results`, retrying while the store refuses (a full disk, an
    /// I/O error). The calls keep their slots meanwhile, so the lanes make no
    /// vendor call whose result could not be recorded either, and the tasks
    /// do not stay `running` until the next start. Ends when the write
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
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use plugin_api::OperationKind;
    use serde_json::json;
    use tokio::sync::Semaphore;

    use super::*;
    use crate::config::DispatchConfig;
    use crate::metrics::Metrics;
    use crate::selector::Selector;
    use crate::store::*;
    use crate::store::{AgeFired, AgeFiring, Planner, Replanned, RuleRun, StoreError};
    use std::collections::BTreeMap;

    /// A store whose `finish` waits for a permit of `gate` before writing.
    struct Gated {
        inner: SqliteStore,
        gate: Semaphore,
        /// `finish` calls that have started.
        entered: AtomicUsize,
        /// Results per `finish` call, in order.
        batches: Mutex<Vec<usize>>,
        /// `finish` calls still to fail, as a database error.
        failures: AtomicUsize,
    }

    impl Store for Gated {
        fn finish(&self, results: Vec<TaskResult>) -> StoreFuture<'_, ()> {
            Box::pin(async move {
                self.entered.fetch_add(1, Ordering::SeqCst);
                self.gate.acquire().await.expect("open gate").forget();
                let fail = self
                    .failures
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if fail {
                    return Err(StoreError::Database("disk full".into()));
                }
                self.batches.lock().unwrap().push(results.len());
                self.inner.finish(results).await
            })
        }
        fn track(&self, m: Vec<NewMessage>, d: Option<Delivery>) -> StoreFuture<'_, TrackResult> {
            self.inner.track(m, d)
        }
        fn record_delivery(&self, d: Delivery) -> StoreFuture<'_, ()> {
            self.inner.record_delivery(d)
        }
        fn preview(&self, s: Selector, n: u32) -> StoreFuture<'_, Preview> {
            self.inner.preview(s, n)
        }
        fn create_job(&self, s: JobSpec, d: Option<Delivery>) -> StoreFuture<'_, JobCreated> {
            self.inner.create_job(s, d)
        }
        fn claim(&self, a: String, now: i64, n: u32) -> StoreFuture<'_, Vec<ClaimedTask>> {
            self.inner.claim(a, now, n)
        }
        fn next_due(&self, a: String) -> StoreFuture<'_, Option<i64>> {
            self.inner.next_due(a)
        }
        fn job(&self, id: i64) -> StoreFuture<'_, Option<JobProgress>> {
            self.inner.job(id)
        }
        fn messages(
            &self,
            t: Option<String>,
            a: Option<String>,
            after: i64,
            n: u32,
        ) -> StoreFuture<'_, Vec<MessageRow>> {
            self.inner.messages(t, a, after, n)
        }
        fn recover(&self) -> StoreFuture<'_, u64> {
            self.inner.recover()
        }
        fn purge_deliveries(&self, now: i64) -> StoreFuture<'_, u64> {
            self.inner.purge_deliveries(now)
        }
        fn create_jobs(
            &self,
            s: Vec<JobSpec>,
            d: Option<Delivery>,
            r: Option<RuleRun>,
        ) -> StoreFuture<'_, Vec<Result<JobCreated, StoreError>>> {
            self.inner.create_jobs(s, d, r)
        }
        fn rule_runs(&self) -> StoreFuture<'_, BTreeMap<String, RuleRun>> {
            self.inner.rule_runs()
        }
        fn next_age_due(&self) -> StoreFuture<'_, Option<i64>> {
            self.inner.next_age_due()
        }
        fn fire_age(
            &self,
            now: i64,
            live: BTreeMap<String, AgeFiring>,
            max: u32,
        ) -> StoreFuture<'_, AgeFired> {
            self.inner.fire_age(now, live, max)
        }
        fn replan_age(
            &self,
            live: BTreeMap<String, String>,
            plan: Planner,
            now: i64,
        ) -> StoreFuture<'_, Replanned> {
            self.inner.replan_age(live, plan, now)
        }
    }

    /// Polls `done` until it holds, for at most five seconds.
    async fn until(what: &str, done: impl Fn() -> bool) {
        let polled = tokio::time::timeout(Duration::from_secs(5), async {
            while !done() {
                tokio::task::yield_now().await;
            }
        });
        polled
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
    }

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

    /// A job of `n` messages tagged `x` on account `a`, its tasks claimed,
    /// behind a [`Gated`] store with `gate` permits and `failures` refusals,
    /// and a dispatcher over it.
    async fn claimed_job(
        n: usize,
        gate: usize,
        failures: usize,
    ) -> (Arc<Gated>, Arc<Dispatcher>, i64, Vec<ClaimedTask>) {
        let inner = SqliteStore::open_in_memory().unwrap();
        let messages = (1..=n)
            .map(|i| NewMessage {
                account: "a".into(),
                remote_id: i.to_string(),
                sent_at_ms: 1_000,
                tags: vec!["x".into()],
                meta: json!(null),
                age: Vec::new(),
            })
            .collect();
        inner.track(messages, None).await.unwrap();
        let spec = JobSpec {
            requested_by: "test".into(),
            reason: "because".into(),
            action: OperationKind::Recall,
            selector: serde_json::from_value(json!({"tags": ["x"]})).unwrap(),
            params: json!(null),
            max_messages: 10,
            now_ms: 5_000,
        };
        let job = inner.create_job(spec, None).await.unwrap().job_id;
        let tasks = inner.claim("a".into(), 5_000, 10).await.unwrap();
        let store = Arc::new(Gated {
            inner,
            gate: Semaphore::new(gate),
            entered: AtomicUsize::new(0),
            batches: Mutex::new(Vec::new()),
            failures: AtomicUsize::new(failures),
        });
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
    async fn slots_come_back_only_once_their_results_are_written_and_waiting_results_go_together() {
        let (store, dispatcher, job, tasks) = claimed_job(3, 0, 0).await;
        let slots = Arc::new(Semaphore::new(3));
        let (finished, results) = mpsc::channel(3);
        let recorder = tokio::spawn(Arc::clone(&dispatcher).record(results));
        let send = |task: &ClaimedTask| {
            let slot = Arc::clone(&slots).try_acquire_owned().unwrap();
            let finished = finished.clone();
            let result = done(task);
            async move { finished.send(Finished { result, slot }).await.unwrap() }
        };

        send(&tasks[0]).await;
        until("the first write", || {
            store.entered.load(Ordering::SeqCst) == 1
        })
        .await;
        send(&tasks[1]).await;
        send(&tasks[2]).await;
        assert_eq!(slots.available_permits(), 0, "nothing is written yet");

        store.gate.add_permits(1);
        until("the first slot", || slots.available_permits() == 1).await;
        let progress = store.job(job).await.unwrap().unwrap();
        assert_eq!((progress.counts.recalled, progress.counts.pending), (1, 2));
        until("the second write", || {
            store.entered.load(Ordering::SeqCst) == 2
        })
        .await;
        assert_eq!(
            slots.available_permits(),
            1,
            "two results are not written yet"
        );

        store.gate.add_permits(1);
        until("every slot", || slots.available_permits() == 3).await;
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
    async fn a_refused_write_is_retried_and_its_slot_waits_for_it() {
        let (store, dispatcher, job, tasks) = claimed_job(1, Semaphore::MAX_PERMITS, 2).await;
        let slots = Arc::new(Semaphore::new(1));
        let (finished, results) = mpsc::channel(1);
        let recorder = tokio::spawn(Arc::clone(&dispatcher).record(results));
        let slot = Arc::clone(&slots).try_acquire_owned().unwrap();
        finished
            .send(Finished {
                result: done(&tasks[0]),
                slot,
            })
            .await
            .unwrap();

        until("the first refusal", || {
            store.entered.load(Ordering::SeqCst) == 1
        })
        .await;
        assert_eq!(slots.available_permits(), 0, "refused: the slot is held");
        until("the slot", || slots.available_permits() == 1).await;
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
