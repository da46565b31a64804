//! Prometheus metrics, with the `prometheus-client` crate. The methods below
//! are what the rest of the daemon calls; [`Metrics::render`] produces the
//! OpenMetrics text served at `/metrics` (content type [`CONTENT_TYPE`]).
//!
//! Every label value comes from a bounded set (route templates, reason codes,
//! configured account names), never from request input, so the number of
//! series stays bounded.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    account: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AccountLabel {
    account: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

/// Vendor calls take milliseconds to seconds: 5 ms .. ~20 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

/// Results per write of the dispatcher's recorder: 1 .. 1,024.
fn batch_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 11))
}

/// All of the daemon's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    auth_failures: Family<ReasonLabel, Counter>,
    jobs_created: Family<ActionLabel, Counter>,
    tasks: Family<TaskLabels, Counter>,
    vendor_latency: Family<AccountLabel, Histogram, fn() -> Histogram>,
    queue_depth: Family<AccountLabel, Gauge>,
    results_per_write: Histogram,
    rule_reloads: Family<ResultLabel, Counter>,
    rules_loaded: Gauge,
    rules_valid: Gauge,
    rule_firings: Family<KindLabel, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("recalld");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template and status",
            requests.clone(),
        );
        let auth_failures = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "auth_failures",
            "Requests refused with 401, by reason code",
            auth_failures.clone(),
        );
        let jobs_created = Family::<ActionLabel, Counter>::default();
        registry.register(
            "jobs_created",
            "Jobs created, by action",
            jobs_created.clone(),
        );
        let tasks = Family::<TaskLabels, Counter>::default();
        registry.register(
            "tasks",
            "Task attempts ended, by account and outcome",
            tasks.clone(),
        );
        let vendor_latency =
            Family::<AccountLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        registry.register_with_unit(
            "vendor_call_duration",
            "Latency of one vendor HTTP call, by account",
            Unit::Seconds,
            vendor_latency.clone(),
        );
        let queue_depth = Family::<AccountLabel, Gauge>::default();
        registry.register(
            "queue_depth",
            "Tasks claimed but not yet finished, by account",
            queue_depth.clone(),
        );
        let results_per_write = batch_histogram();
        registry.register(
            "results_per_write",
            "Task results committed per write of the dispatcher (the count is the writes, the sum the results)",
            results_per_write.clone(),
        );
        let rule_reloads = Family::<ResultLabel, Counter>::default();
        registry.register(
            "rule_reloads",
            "Rule reloads, by result (ok or error)",
            rule_reloads.clone(),
        );
        let rules_loaded = Gauge::default();
        registry.register(
            "rules_loaded",
            "Rules in force (enabled or not)",
            rules_loaded.clone(),
        );
        let rules_valid = Gauge::default();
        registry.register(
            "rules_valid",
            "1 when the rule files on disk are the rules in force, 0 when the last change was refused",
            rules_valid.clone(),
        );
        let rule_firings = Family::<KindLabel, Counter>::default();
        registry.register(
            "rule_jobs",
            "Jobs created by rules, by trigger kind (event, age, schedule)",
            rule_firings.clone(),
        );
        Metrics {
            registry,
            rules_loaded,
            rules_valid,
            rule_firings,
            requests,
            auth_failures,
            jobs_created,
            tasks,
            vendor_latency,
            queue_depth,
            results_per_write,
            rule_reloads,
        }
    }

    /// An HTTP request answered: route template (e.g. `/v1/jobs/{id}`) and status.
    pub fn request(&self, route: &str, status: u16) {
        let labels = RequestLabels {
            route: route.to_owned(),
            status,
        };
        self.requests.get_or_create(&labels).inc();
    }

    /// An authentication failure, by reason code (`bad_signature`, `replay`, ...).
    pub fn auth_failure(&self, reason: &str) {
        self.auth_failures
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// A job was created (action: recall, cancel, update).
    pub fn job_created(&self, action: &str) {
        self.jobs_created
            .get_or_create(&ActionLabel {
                action: action.to_owned(),
            })
            .inc();
    }

    /// A task attempt ended: account and outcome (`done`, `already_done`, `expired`, `retry`, `failed`, `refresh_token`).
    pub fn task_outcome(&self, account: &str, outcome: &str) {
        let labels = TaskLabels {
            account: account.to_owned(),
            outcome: outcome.to_owned(),
        };
        self.tasks.get_or_create(&labels).inc();
    }

    /// One vendor HTTP call's latency.
    pub fn vendor_latency(&self, account: &str, seconds: f64) {
        self.vendor_latency
            .get_or_create(&AccountLabel {
                account: account.to_owned(),
            })
            .observe(seconds);
    }

    /// Tasks claimed but not yet finished, per account.
    pub fn queue_depth(&self, account: &str, depth: i64) {
        self.queue_depth
            .get_or_create(&AccountLabel {
                account: account.to_owned(),
            })
            .set(depth);
    }

    /// The dispatcher committed `results` task results in one write.
    pub fn results_written(&self, results: usize) {
        self.results_per_write.observe(results as f64);
    }

    /// Rule reload result (`ok` or `error`).
    pub fn rules_reload(&self, result: &str) {
        self.rule_reloads
            .get_or_create(&ResultLabel {
                result: result.to_owned(),
            })
            .inc();
    }

    /// The rules in force and whether the files on disk agree with them.
    pub fn rules_state(&self, loaded: usize, valid: bool) {
        self.rules_loaded
            .set(i64::try_from(loaded).unwrap_or(i64::MAX));
        self.rules_valid.set(i64::from(valid));
    }

    /// A rule created a job; `kind` is its trigger (event, age, schedule).
    pub fn rule_job(&self, kind: &str) {
        self.rule_firings
            .get_or_create(&KindLabel {
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// The OpenMetrics text exposition (ends with `# EOF`).
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail; encode only propagates the
        // writer's fmt::Error, so an error here would be a bug in the crate.
        if let Err(e) = encode(&mut text, &self.registry) {
            tracing::error!("metrics: cannot encode the registry: {e}");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_rendered_with_its_labels() {
        let metrics = Metrics::new();
        metrics.request("POST /v1/recalls", 202);
        metrics.request("POST /v1/recalls", 202);
        metrics.auth_failure("bad_signature");
        metrics.job_created("recall");
        metrics.task_outcome("dingtalk-main", "done");
        metrics.vendor_latency("dingtalk-main", 0.042);
        metrics.queue_depth("dingtalk-main", 7);
        metrics.results_written(3);
        metrics.results_written(40);
        metrics.rules_reload("ok");
        metrics.rules_state(3, false);
        metrics.rule_job("age");
        let text = metrics.render();
        for expected in [
            r#"recalld_http_requests_total{route="POST /v1/recalls",status="202"} 2"#,
            r#"recalld_auth_failures_total{reason="bad_signature"} 1"#,
            r#"recalld_jobs_created_total{action="recall"} 1"#,
            r#"recalld_tasks_total{account="dingtalk-main",outcome="done"} 1"#,
            r#"recalld_vendor_call_duration_seconds_count{account="dingtalk-main"} 1"#,
            r#"recalld_vendor_call_duration_seconds_bucket{le="0.08",account="dingtalk-main"} 1"#,
            r#"recalld_queue_depth{account="dingtalk-main"} 7"#,
            r#"recalld_rule_reloads_total{result="ok"} 1"#,
            "recalld_results_per_write_sum 43.0",
            "recalld_results_per_write_count 2",
            r#"recalld_results_per_write_bucket{le="4.0"} 1"#,
            "recalld_rules_loaded 3",
            "recalld_rules_valid 0",
            r#"recalld_rule_jobs_total{kind="age"} 1"#,
            "# EOF",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }
}
