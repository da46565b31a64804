//! Prometheus metrics. The interface below is what the rest of the daemon
//! calls; `render` produces the text exposition served at `/metrics`.
//!
//! TODO(api helper): implement with the `prometheus-client` crate.

/// All of the daemon's metrics.
#[derive(Debug, Default)]
pub struct Metrics {}

impl Metrics {
    pub fn new() -> Self {
        Metrics {}
    }
    /// An HTTP request answered: route template (e.g. `/v1/jobs/{id}`) and status.
    pub fn request(&self, _route: &str, _status: u16) {}
    /// An authentication failure, by reason code (`bad_signature`, `replay`, ...).
    pub fn auth_failure(&self, _reason: &str) {}
    /// A job was created (action: recall, cancel, update).
    pub fn job_created(&self, _action: &str) {}
    /// A task attempt ended: account and outcome (`done`, `already_done`, `expired`, `retry`, `failed`, `refresh_token`).
    pub fn task_outcome(&self, _account: &str, _outcome: &str) {}
    /// One vendor HTTP call's latency.
    pub fn vendor_latency(&self, _account: &str, _seconds: f64) {}
    /// Tasks claimed but not yet finished, per account.
    pub fn queue_depth(&self, _account: &str, _depth: i64) {}
    /// Rule reload result (`ok` or `error`).
    pub fn rules_reload(&self, _result: &str) {}
    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        todo!("metrics rendering is being implemented with prometheus-client")
    }
}
