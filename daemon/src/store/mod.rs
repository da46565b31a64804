//! The durable ledger: messages that were sent, recall jobs and their tasks,
//! webhook delivery ids (replay window) and the audit log.
//!
//! [`Store`] is the interface the daemon uses; [`SqliteStore`] is the
//! embedded default (WAL, one database thread with group commit). A
//! PostgreSQL backend can implement the same trait, claiming tasks with
//! `FOR UPDATE SKIP LOCKED` so several daemons can share one ledger.

mod checkpoint;
mod database;
mod jobs;
mod ledger;
mod lock;
mod progress;
mod read_only;
mod recovery;
mod schedules;
mod schema;
mod select;
mod sqlite;
mod states;
mod tasks;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use plugin_api::{Message, OperationKind};
use serde::Serialize;

use crate::rules::{AgePlan, MessageView};
use crate::selector::Selector;

pub use read_only::ReadOnlyLedger;
pub use recovery::{MAX_INTERRUPTED, Recovered};
pub use schedules::{AgeFired, AgeFiring, Replanned, RuleRun};
pub use sqlite::SqliteStore;

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("this delivery id was already used (replay)")]
    Replay,
    #[error(
        "the selector matches {matched} messages, more than the {cap} this client may touch at once"
    )]
    TooManyMessages { matched: u64, cap: u64 },
    #[error("database error: {0}")]
    Database(String),
    #[error("the store is shut down")]
    Closed,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

/// A message to track, as `POST /v1/messages` gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub account: String,
    pub remote_id: String,
    pub sent_at_ms: i64,
    pub tags: Vec<String>,
    pub meta: serde_json::Value,
    /// Age-rule recalls to schedule if the message is new (see `rules`).
    pub age: Vec<AgePlan>,
}

/// A webhook delivery id to remember until `expires_at_ms` (replay protection).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub client: String,
    pub id: String,
    pub expires_at_ms: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TrackResult {
    pub inserted: u64,
    pub existing: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageRow {
    pub id: i64,
    pub account: String,
    pub remote_id: String,
    pub sent_at_ms: i64,
    pub tags: Vec<String>,
    pub meta: serde_json::Value,
    pub state: String,
}

/// What a selector matches, without acting.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Preview {
    pub matched: u64,
    pub per_account: BTreeMap<String, u64>,
    /// Up to the requested number of matched messages.
    pub sample: Vec<MessageRow>,
}

/// A recall (or cancel, or update) to persist with its selector snapshot.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub requested_by: String,
    pub reason: String,
    pub action: OperationKind,
    pub selector: Selector,
    pub params: serde_json::Value,
    /// Refuse (and write nothing) when more messages match.
    pub max_messages: u64,
    pub now_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobCreated {
    pub job_id: i64,
    pub matched: u64,
    pub per_account: BTreeMap<String, u64>,
}

/// A task the dispatcher now owns (state `running`).
#[derive(Debug, Clone)]
pub struct ClaimedTask {
    pub task_id: i64,
    pub job_id: i64,
    pub message_id: i64,
    pub action: OperationKind,
    pub params: serde_json::Value,
    /// Attempts made before this one.
    pub attempts: u32,
    pub message: Message,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Pending,
    Running,
    Done,
    AlreadyDone,
    Expired,
    Failed,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Running => "running",
            TaskState::Done => "done",
            TaskState::AlreadyDone => "already_done",
            TaskState::Expired => "expired",
            TaskState::Failed => "failed",
        }
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, TaskState::Pending | TaskState::Running)
    }
}

/// The result of one attempt at a task.
#[derive(Debug, Clone)]
pub struct TaskResult {
    pub task_id: i64,
    pub job_id: i64,
    pub message_id: i64,
    pub action: OperationKind,
    pub account: String,
    /// `Pending` means "retry at `next_at_ms`".
    pub state: TaskState,
    pub attempts: u32,
    pub next_at_ms: i64,
    /// Already redacted of secrets.
    pub error: Option<String>,
    pub at_ms: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub total: u64,
    pub recalled: u64,
    pub already_recalled: u64,
    pub expired: u64,
    pub failed: u64,
    pub pending: u64,
}

impl Counts {
    pub fn add(&mut self, state: &str, n: u64) {
        self.total += n;
        match state {
            "done" => self.recalled += n,
            "already_done" => self.already_recalled += n,
            "expired" => self.expired += n,
            "failed" => self.failed += n,
            _ => self.pending += n,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorCount {
    pub error: String,
    pub count: u64,
}

/// `GET /v1/jobs/{id}`.
#[derive(Debug, Clone, Serialize)]
pub struct JobProgress {
    pub job_id: i64,
    /// `running` or `done`.
    pub state: String,
    pub action: OperationKind,
    pub requested_by: String,
    pub reason: String,
    pub selector: serde_json::Value,
    pub created_at_ms: i64,
    pub finished_at_ms: Option<i64>,
    #[serde(flatten)]
    pub counts: Counts,
    pub accounts: BTreeMap<String, Counts>,
    pub errors: Vec<ErrorCount>,
}

/// The daemon's view of its ledger.
pub trait Store: Send + Sync {
    /// Tracks messages, idempotent on (account, remote_id). With a delivery,
    /// refuses a replay and writes nothing.
    fn track(
        &self,
        messages: Vec<NewMessage>,
        delivery: Option<Delivery>,
    ) -> StoreFuture<'_, TrackResult>;
    /// Remembers a delivery id; `Replay` when it was seen.
    fn record_delivery(&self, delivery: Delivery) -> StoreFuture<'_, ()>;
    /// What `selector` matches now, with up to `sample` rows.
    fn preview(&self, selector: Selector, sample: u32) -> StoreFuture<'_, Preview>;
    /// Resolves the selector into tasks in one transaction.
    fn create_job(&self, spec: JobSpec, delivery: Option<Delivery>) -> StoreFuture<'_, JobCreated>;
    /// Takes up to `limit` due tasks of `account` (they become `running`).
    fn claim(&self, account: String, now_ms: i64, limit: u32) -> StoreFuture<'_, Vec<ClaimedTask>>;
    /// Records attempt results; finishes jobs with nothing left to do.
    fn finish(&self, results: Vec<TaskResult>) -> StoreFuture<'_, ()>;
    /// The earliest `next_at` of `account`'s pending tasks.
    fn next_due(&self, account: String) -> StoreFuture<'_, Option<i64>>;
    fn job(&self, job_id: i64) -> StoreFuture<'_, Option<JobProgress>>;
    /// The ledger, by tag and/or account, in id order after `after_id`.
    fn messages(
        &self,
        tag: Option<String>,
        account: Option<String>,
        after_id: i64,
        limit: u32,
    ) -> StoreFuture<'_, Vec<MessageRow>>;
    /// At a start: tasks the last run left `running` (it crashed) become
    /// `pending` again, counted as interrupted once more; a task out at
    /// [`MAX_INTERRUPTED`] stops fails instead (see `store/recovery.rs`).
    fn recover(&self, now_ms: i64) -> StoreFuture<'_, Recovered>;
    /// At a graceful stop: tasks still `running` become `pending` again, as
    /// they were; returns how many.
    fn release(&self) -> StoreFuture<'_, u64>;
    /// Fails the pending tasks of every account not in `served` (no lane
    /// serves them); returns how many.
    fn fail_unserved(&self, served: Vec<String>, now_ms: i64) -> StoreFuture<'_, u64>;
    /// Forgets delivery ids whose window has passed.
    fn purge_deliveries(&self, now_ms: i64) -> StoreFuture<'_, u64>;

    /// Several jobs in one transaction (the rules one event fires), each
    /// refused on its own (`TooManyMessages`); with a delivery, a replay
    /// refuses them all. `run` records a schedule rule's firing with them.
    fn create_jobs(
        &self,
        specs: Vec<JobSpec>,
        delivery: Option<Delivery>,
        run: Option<RuleRun>,
    ) -> StoreFuture<'_, Vec<Result<JobCreated, StoreError>>>;
    /// When each schedule rule last fired.
    fn rule_runs(&self) -> StoreFuture<'_, BTreeMap<String, RuleRun>>;
    /// The earliest due time of a pending age recall.
    fn next_age_due(&self) -> StoreFuture<'_, Option<i64>>;
    /// Turns due age recalls of live rules (name -> firing) into jobs, up
    /// to `max` recalls. Recalls planned by another version of a rule are
    /// left for [`Store::replan_age`] and counted.
    fn fire_age(
        &self,
        now_ms: i64,
        live: BTreeMap<String, AgeFiring>,
        max: u32,
    ) -> StoreFuture<'_, AgeFired>;
    /// Re-plans pending age recalls whose rule changed or went away:
    /// `plan` (the rules in force) decides again for each message.
    fn replan_age(
        &self,
        live: BTreeMap<String, String>,
        plan: Planner,
        now_ms: i64,
    ) -> StoreFuture<'_, Replanned>;
}

/// The rules in force, as a function from a message to its age recalls.
pub type Planner = std::sync::Arc<dyn Fn(MessageView<'_>) -> Vec<AgePlan> + Send + Sync>;

#[cfg(test)]
mod tests;
