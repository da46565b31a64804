//! What the sandbox saw, per vendor: the JSON of `GET /_sandbox/stats`, so a
//! test can assert "every message recalled exactly once".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::faults::Kind;

/// Counters for all four vendors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub feishu: VendorStats,
    pub dingtalk: VendorStats,
    pub engagelab: VendorStats,
    pub jpush: VendorStats,
    /// The injected latency, over every vendor.
    #[serde(default)]
    pub latency: LatencyStats,
}

/// What the injected latency (`latency_ms` plus jitter) asked and what the
/// sandbox held, summed over the vendor requests that waited; `held_us /
/// calls` is the latency a client really saw added.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyStats {
    pub calls: u64,
    pub asked_us: u64,
    pub held_us: u64,
    /// The most one request was held past what it was asked.
    pub most_late_us: u64,
}

/// Counters for one vendor since the sandbox started (or was reset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorStats {
    /// Requests per endpoint name, failed ones included; every endpoint is
    /// listed, with 0 when it was never called.
    pub requests: BTreeMap<String, u64>,
    /// Messages (notifications, tasks, msg_ids) the sandbox knows, seeded or sent.
    pub messages: u64,
    /// Distinct messages recalled.
    pub recalled: u64,
    /// Recall attempts on a message that was already recalled, whatever the answer.
    pub duplicate_recalls: u64,
    /// Distinct messages cancelled before they were fully sent (Feishu only).
    pub cancelled: u64,
    /// Requests refused for credentials, tokens or signatures.
    pub auth_failures: u64,
    /// Requests answered with the vendor's rate-limit error, injected ones
    /// included.
    pub rate_limited: u64,
    /// Injected faults by kind (`server_error`, `timeout`, `rate_limited`,
    /// `error`); every kind is listed, with 0 when none was injected. Each
    /// is also counted in `requests`.
    #[serde(default)]
    pub faults_injected: BTreeMap<String, u64>,
}

/// The live counters a vendor keeps under its own lock.
#[derive(Debug, Clone)]
pub(crate) struct Counters {
    /// Endpoint names, indexed like `requests`.
    names: &'static [&'static str],
    requests: Vec<u64>,
    pub(crate) recalled: u64,
    pub(crate) duplicate_recalls: u64,
    pub(crate) cancelled: u64,
    pub(crate) auth_failures: u64,
    pub(crate) rate_limited: u64,
    /// Injected faults, indexed like `Kind::ALL`.
    faults: [u64; 4],
}

impl Counters {
    pub(crate) fn new(names: &'static [&'static str]) -> Counters {
        Counters {
            names,
            requests: vec![0; names.len()],
            recalled: 0,
            duplicate_recalls: 0,
            cancelled: 0,
            auth_failures: 0,
            rate_limited: 0,
            faults: [0; 4],
        }
    }

    /// Counts one injected fault (a rate-limit one also in `rate_limited`).
    pub(crate) fn fault(&mut self, kind: Kind) {
        self.faults[kind.index()] += 1;
        if kind == Kind::RateLimited {
            self.rate_limited += 1;
        }
    }

    /// Counts one request to the endpoint at `index` in `names`.
    pub(crate) fn request(&mut self, index: usize) {
        if let Some(slot) = self.requests.get_mut(index) {
            *slot += 1;
        }
    }

    pub(crate) fn snapshot(&self, messages: usize) -> VendorStats {
        VendorStats {
            requests: self
                .names
                .iter()
                .zip(&self.requests)
                .map(|(name, n)| ((*name).to_owned(), *n))
                .collect(),
            messages: messages as u64,
            recalled: self.recalled,
            duplicate_recalls: self.duplicate_recalls,
            cancelled: self.cancelled,
            auth_failures: self.auth_failures,
            rate_limited: self.rate_limited,
            faults_injected: Kind::NAMES
                .iter()
                .zip(self.faults)
                .map(|(name, n)| ((*name).to_owned(), n))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_lists_every_endpoint() {
        let mut c = Counters::new(&["push", "withdraw"]);
        c.request(1);
        c.request(1);
        c.recalled = 1;
        let s = c.snapshot(3);
        assert_eq!(s.requests["push"], 0);
        assert_eq!(s.requests["withdraw"], 2);
        assert_eq!(s.messages, 3);
        assert_eq!(s.recalled, 1);
        assert_eq!(s.faults_injected.len(), 4);
        assert!(s.faults_injected.values().all(|n| *n == 0));
    }

    #[test]
    fn a_rate_limit_fault_is_also_a_rate_limited_answer() {
        let mut c = Counters::new(&["push"]);
        c.fault(Kind::RateLimited);
        c.fault(Kind::Timeout);
        let s = c.snapshot(0);
        assert_eq!(s.faults_injected["rate_limited"], 1);
        assert_eq!(s.faults_injected["timeout"], 1);
        assert_eq!(s.faults_injected["server_error"], 0);
        assert_eq!(s.rate_limited, 1);
    }
}
