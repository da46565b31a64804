//! One attempt at one task: the recall window, a call permit, a token, the
//! rate limit, the plugin's request, the vendor's answer, and what follows.

use std::sync::Arc;
use std::time::Instant;

use plugin_api::{InterpretInput, Operation, OperationKind, Outcome, PrepareInput};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};

use super::Dispatcher;
use super::lane::Lane;
use super::policy::{Next, after_outcome, honour_retry_after, past_window, redact};
use super::recorder::Finished;
use crate::accounts::AccountRuntime;
use crate::clock::now_ms;
use crate::store::{ClaimedTask, TaskResult, TaskState};

/// A recall past the vendor's window: recorded without a vendor call.
fn expired(vendor: &str, window_secs: Option<u64>) -> Next {
    let window_h = window_secs.unwrap_or(0) / 3600;
    Next::Finish(
        TaskState::Expired,
        Some(format!(
            "past {vendor}'s {window_h} h recall window; no vendor call made"
        )),
    )
}

impl Dispatcher {
    /// One attempt at one task, started with an unrecorded permit. A vendor
    /// call waits for a call permit, then a token if the plugin uses one,
    /// then the rate limit, and gives the permit back once the vendor has
    /// answered; the result goes to the recorder with the unrecorded permit.
    /// A task decided without a call (past its window, an operation the
    /// plugin lacks) takes no call permit and does not wait for the rate
    /// limit. The window is checked again once the call is admitted: the
    /// waits before it can be long (an account paused by the vendor).
    pub(super) async fn attempt(
        self: Arc<Self>,
        lane: Arc<Lane>,
        task: ClaimedTask,
        unrecorded: OwnedSemaphorePermit,
        mut shutdown: watch::Receiver<bool>,
        recorder: mpsc::Sender<Finished>,
    ) {
        let runtime = &lane.runtime;
        let manifest = &runtime.plugin.manifest;
        let attempts = task.attempts + 1;
        let past_window = |now| {
            task.action == OperationKind::Recall
                && past_window(manifest.recall_window_secs, task.message.sent_at_ms, now)
        };
        // The token the call used, to forget if the vendor refuses it.
        let mut used_token = None;
        let next = if past_window(now_ms()) {
            expired(&manifest.vendor, manifest.recall_window_secs)
        } else if !manifest.operations.contains(&task.action) {
            Next::Finish(
                TaskState::Failed,
                Some(format!(
                    "unsupported: plugin {} cannot {}",
                    manifest.name, task.action
                )),
            )
        } else {
            // At shutdown before the call, the task stays `running` and is
            // handed back.
            let Some(call) = self.take_permit(&lane, &mut shutdown).await else {
                return;
            };
            let next = match self.token(runtime, attempts).await {
                Err(next) => next,
                Ok(token) => {
                    if !self.admit(&lane, task.action, &mut shutdown).await {
                        return;
                    }
                    if past_window(now_ms()) {
                        expired(&manifest.vendor, manifest.recall_window_secs)
                    } else {
                        used_token.clone_from(&token);
                        // The message and parameters go to the plugin; the
                        // result needs only the task's ids.
                        let operation = Operation {
                            kind: task.action,
                            message: task.message,
                            params: task.params,
                        };
                        self.call_vendor(runtime, operation, token, attempts).await
                    }
                }
            };
            // The vendor is done with this call: the next may leave.
            drop(call);
            next
        };

        let at = now_ms();
        let secrets = runtime.secrets.iter().map(String::as_str);
        let (state, next_at, error, label) = match next {
            Next::Finish(state, error) => (state, at, error, state.as_str()),
            Next::Retry {
                at_ms,
                error,
                pause_account,
            } => {
                if pause_account {
                    let pause = u64::try_from(at_ms - at).unwrap_or(0);
                    let mut limiter = lane.limiter.lock().unwrap_or_else(|e| e.into_inner());
                    limiter.pause_until(lane.elapsed_ms() + pause);
                }
                (TaskState::Pending, at_ms, Some(error), "retry")
            }
            Next::RefreshToken { error } => {
                if let Some(token) = &used_token {
                    self.tokens.invalidate(&runtime.name, token);
                }
                (TaskState::Pending, at, Some(error), "refresh_token")
            }
        };
        self.metrics.task_outcome(&runtime.name, label);
        let result = TaskResult {
            task_id: task.task_id,
            job_id: task.job_id,
            message_id: task.message_id,
            action: task.action,
            account: runtime.name.clone(),
            state,
            attempts,
            next_at_ms: next_at,
            error: error.map(|e| redact(&e, secrets)),
            at_ms: at,
        };
        // The unrecorded permit is given back once the result is durable. If
        // the recorder is gone (shutdown past its grace period), the task
        // stays `running` and is handed back.
        let concurrency = runtime.concurrency as usize;
        let _ = recorder
            .send(Finished {
                result,
                unrecorded,
                concurrency,
            })
            .await;
    }

    /// What follows `outcome` for attempt number `attempts`.
    fn decide(&self, outcome: &Outcome, attempts: u32) -> Next {
        after_outcome(
            outcome,
            attempts,
            self.config.max_attempts,
            now_ms(),
            self.backoff,
            fastrand::f64(),
        )
    }

    /// The account's token if its plugin uses one (`Ok(None)` if not); `Err`
    /// with what follows when none can be had.
    async fn token(&self, runtime: &AccountRuntime, attempts: u32) -> Result<Option<String>, Next> {
        if !runtime.plugin.manifest.uses_token {
            return Ok(None);
        }
        self.tokens
            .get(runtime, &self.executor, self.config.request_timeout, now_ms)
            .await
            .map(Some)
            .map_err(|outcome| self.decide(&outcome, attempts))
    }

    async fn call_vendor(
        &self,
        runtime: &AccountRuntime,
        operation: Operation,
        token: Option<String>,
        attempts: u32,
    ) -> Next {
        let plugin = &runtime.plugin.plugin;
        let timeout = self.config.request_timeout;
        let decide = |outcome: &Outcome| self.decide(outcome, attempts);
        let input = PrepareInput {
            account: runtime.account.clone(),
            operation,
            token,
            now_ms: now_ms(),
        };
        let request = match plugin.prepare(&input) {
            Ok(request) => request,
            Err(e) => return Next::Finish(TaskState::Failed, Some(e.to_string())),
        };
        let admitted = match runtime.guard.admit(request) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                return Next::Finish(TaskState::Failed, Some(format!("refused: {refusal}")));
            }
        };
        let started = Instant::now();
        let response = self.executor.send(admitted, timeout).await;
        self.metrics
            .vendor_latency(&runtime.name, started.elapsed().as_secs_f64());
        let response = match response {
            Ok(response) => response,
            Err(e) => {
                return decide(&Outcome::Retry {
                    after_ms: None,
                    code: "transport".into(),
                    message: e,
                });
            }
        };
        let retry_after = plugin_common::retry_after_ms(&response, now_ms());
        let interpret = InterpretInput {
            account: input.account,
            operation: input.operation,
            response,
            now_ms: now_ms(),
            attempt: Some(attempts),
        };
        let mut outcome = match plugin.interpret(&interpret) {
            Ok(outcome) => outcome,
            Err(e) => Outcome::Failed {
                code: e.code,
                message: e.message,
                permanent: true,
            },
        };
        // Without a token exchange there is nothing to refresh: the configured
        // credential itself was refused and must be replaced.
        if let (Outcome::RefreshToken { code, message }, false) =
            (&outcome, runtime.plugin.manifest.uses_token)
        {
            outcome = Outcome::Failed {
                code: code.clone(),
                message: format!("{message} (the configured credential was refused; replace it)"),
                permanent: true,
            };
        }
        if let Some(wait) = retry_after {
            outcome = honour_retry_after(outcome, wait);
        }
        decide(&outcome)
    }
}
