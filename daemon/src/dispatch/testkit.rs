//! Test doubles for the dispatcher's tests: a store whose writes wait at a
//! gate, and a job to run through it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plugin_api::OperationKind;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::selector::Selector;
use crate::store::*;
use crate::store::{AgeFired, AgeFiring, Planner, Replanned, RuleRun, StoreError};

/// A store whose `finish` waits for a permit of `gate` before writing.
pub(super) struct Gated {
    pub inner: SqliteStore,
    pub gate: Semaphore,
    /// `finish` calls that have started.
    pub entered: AtomicUsize,
    /// Results per `finish` call, in order.
    pub batches: Mutex<Vec<usize>>,
    /// `finish` calls still to fail, as a database error.
    pub failures: AtomicUsize,
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
    fn recover(&self, now: i64) -> StoreFuture<'_, Recovered> {
        self.inner.recover(now)
    }
    fn release(&self) -> StoreFuture<'_, u64> {
        self.inner.release()
    }
    fn fail_unserved(&self, served: Vec<String>, now: i64) -> StoreFuture<'_, u64> {
        self.inner.fail_unserved(served, now)
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
pub(super) async fn until(what: &str, done: impl Fn() -> bool) {
    let polled = tokio::time::timeout(Duration::from_secs(5), async {
        while !done() {
            tokio::task::yield_now().await;
        }
    });
    polled
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

/// A job of `n` messages tagged `x`, dealt round the `accounts` in turn,
/// created at 5 s, behind a [`Gated`] store with `gate` permits and
/// `failures` refusals.
pub(super) async fn job_store(
    n: usize,
    accounts: &[&str],
    gate: usize,
    failures: usize,
) -> (Arc<Gated>, i64) {
    job_store_sent(n, accounts, 1_000, gate, failures).await
}

/// [`job_store`] with the messages sent at `sent_at_ms`.
pub(super) async fn job_store_sent(
    n: usize,
    accounts: &[&str],
    sent_at_ms: i64,
    gate: usize,
    failures: usize,
) -> (Arc<Gated>, i64) {
    let inner = SqliteStore::open_in_memory().unwrap();
    let messages = (1..=n)
        .map(|i| NewMessage {
            account: accounts[(i - 1) % accounts.len()].into(),
            remote_id: i.to_string(),
            sent_at_ms,
            tags: vec!["x".into()],
            meta: json!(null),
            age: Vec::new(),
        })
        .collect();
    inner.track(messages, None).await.unwrap();
    let job = inner.create_job(recall_x(n), None).await.unwrap().job_id;
    let store = Arc::new(Gated {
        inner,
        gate: Semaphore::new(gate),
        entered: AtomicUsize::new(0),
        batches: Mutex::new(Vec::new()),
        failures: AtomicUsize::new(failures),
    });
    (store, job)
}

/// The recall of the (up to `n`) messages tagged `x`, asked at 5 s.
pub(super) fn recall_x(n: usize) -> JobSpec {
    JobSpec {
        requested_by: "test".into(),
        reason: "because".into(),
        action: OperationKind::Recall,
        selector: serde_json::from_value(json!({"tags": ["x"]})).unwrap(),
        params: json!(null),
        max_messages: n as u64,
        now_ms: 5_000,
    }
}
