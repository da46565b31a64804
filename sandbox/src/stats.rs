//! What the sandbox saw, per vendor: the JSON of `GET /_sandbox/stats`, so a
//! test can assert "every message recalled exactly once".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Counters for all four vendors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub feishu: VendorStats,
    pub dingtalk: VendorStats,
    pub engagelab: VendorStats,
    pub jpush: VendorStats,
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
    /// Requests answered with the vendor's rate-limit error.
    pub rate_limited: u64,
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
    }
}
