//! Fault injection settings: which share of a vendor's requests get a server
//! error, a timeout, a rate-limit refusal or a chosen documented error code,
//! instead of being handled. An injected fault is answered before any check
//! and changes no state. None are set by default.

use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::{Vendor, codes};

/// Longest `timeout.hold_ms`: a held request always ends by itself.
pub(crate) const MAX_HOLD_MS: u64 = 60_000;

/// Fault rules for every vendor, plus the seed of their draws.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Seed of the fault and latency-jitter draws, so a run repeats exactly;
    /// `None` seeds from entropy. Each vendor draws from its own sequence.
    pub seed: Option<u64>,
    /// Rules for every vendor whose own entry below is `None`.
    pub all: FaultRules,
    pub feishu: Option<FaultRules>,
    pub dingtalk: Option<FaultRules>,
    pub engagelab: Option<FaultRules>,
    pub jpush: Option<FaultRules>,
}

/// What to inject into one vendor's requests. Armed faults (`next`) come
/// first, in the order server_error, timeout, rate_limited, error; then one
/// draw per request picks a kind by the fractions (their sum is at most 1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultRules {
    /// Only requests to these endpoints (names as in the stats) get faults;
    /// `None`: every endpoint.
    pub endpoints: Option<Vec<String>>,
    /// The vendor's internal error: Feishu 500 155000, DingTalk errcode -1,
    /// EngageLab 400 21009, JPush 500 1000.
    pub server_error: FaultRule,
    /// Held for `hold_ms`, then answered with the vendor's timeout error
    /// (EngageLab 503 21030, JPush 503 1030; Feishu 155000, DingTalk -1).
    pub timeout: TimeoutRule,
    /// The vendor's rate-limit answer, with its headers.
    pub rate_limited: RateLimitedRule,
    /// Any documented code of the vendor (per vendor only).
    pub error: Option<InjectedError>,
}

/// How often a fault kind is injected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultRule {
    /// Share of requests, 0 to 1.
    pub fraction: f64,
    /// The next this many requests get it, whatever the fraction.
    pub next: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutRule {
    pub fraction: f64,
    pub next: u32,
    /// How long a timed-out request is held before its late answer; longer
    /// than a client's timeout means the client never sees the answer.
    pub hold_ms: u64,
}

impl Default for TimeoutRule {
    fn default() -> TimeoutRule {
        TimeoutRule {
            fraction: 0.0,
            next: 0,
            hold_ms: 15_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitedRule {
    pub fraction: f64,
    pub next: u32,
    /// A drawn refusal starts a burst: this request and the `burst - 1`
    /// after it are refused.
    pub burst: u32,
    /// Seconds the reset headers (`x-ogw-ratelimit-reset`,
    /// `X-Rate-Limit-Reset`) tell the client to wait.
    pub reset_secs: u64,
}

impl Default for RateLimitedRule {
    fn default() -> RateLimitedRule {
        RateLimitedRule {
            fraction: 0.0,
            next: 0,
            burst: 1,
            reset_secs: 1,
        }
    }
}

/// A documented error code answered in the vendor's envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InjectedError {
    /// A code of this vendor listed in sandbox/README.md (any code when
    /// `http` is given).
    pub code: i64,
    #[serde(default)]
    pub fraction: f64,
    #[serde(default)]
    pub next: u32,
    /// HTTP status instead of the documented one (DingTalk always answers
    /// `dingtalk.error_http_status`).
    #[serde(default)]
    pub http: Option<u16>,
    /// Message instead of the documented one.
    #[serde(default)]
    pub message: Option<String>,
}

impl FaultConfig {
    /// The rules in force for `vendor`.
    pub(crate) fn rules(&self, vendor: Vendor) -> &FaultRules {
        let own = match vendor {
            Vendor::Feishu => &self.feishu,
            Vendor::DingTalk => &self.dingtalk,
            Vendor::EngageLab => &self.engagelab,
            Vendor::JPush => &self.jpush,
        };
        own.as_ref().unwrap_or(&self.all)
    }

    /// True when any vendor can get a fault.
    pub(crate) fn any(&self) -> bool {
        Vendor::ALL.iter().any(|v| self.rules(*v).any())
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.all.error.is_some() {
            return Err(ConfigError::ErrorForAll);
        }
        self.all.validate("faults.all", None)?;
        for vendor in Vendor::ALL {
            let own = match vendor {
                Vendor::Feishu => &self.feishu,
                Vendor::DingTalk => &self.dingtalk,
                Vendor::EngageLab => &self.engagelab,
                Vendor::JPush => &self.jpush,
            };
            if let Some(rules) = own {
                rules.validate(&format!("faults.{}", vendor.name()), Some(vendor))?;
            }
        }
        Ok(())
    }
}

impl FaultRules {
    /// The fractions in draw order: server_error, timeout, rate_limited, error.
    pub(crate) fn fractions(&self) -> [f64; 4] {
        [
            self.server_error.fraction,
            self.timeout.fraction,
            self.rate_limited.fraction,
            self.error.as_ref().map_or(0.0, |e| e.fraction),
        ]
    }

    /// The `next` counts, in the same order.
    pub(crate) fn armed(&self) -> [u32; 4] {
        [
            self.server_error.next,
            self.timeout.next,
            self.rate_limited.next,
            self.error.as_ref().map_or(0, |e| e.next),
        ]
    }

    fn any(&self) -> bool {
        self.fractions().iter().any(|f| *f > 0.0) || self.armed().iter().any(|n| *n > 0)
    }

    /// Checks ranges, endpoint names and the injected code; `vendor` is
    /// `None` for `faults.all` (endpoint names of any vendor pass).
    fn validate(&self, key: &str, vendor: Option<Vendor>) -> Result<(), ConfigError> {
        let names = ["server_error", "timeout", "rate_limited", "error"];
        for (name, fraction) in names.iter().zip(self.fractions()) {
            if !(0.0..=1.0).contains(&fraction) {
                return Err(range(format!("{key}.{name}.fraction"), fraction, "0..=1"));
            }
        }
        let sum: f64 = self.fractions().iter().sum();
        if sum > 1.0 + 1e-9 {
            return Err(range(
                format!("{key}.*.fraction (sum)"),
                sum,
                "fractions adding up to at most 1",
            ));
        }
        if self.timeout.hold_ms > MAX_HOLD_MS {
            return Err(range(
                format!("{key}.timeout.hold_ms"),
                self.timeout.hold_ms,
                "0..=60000",
            ));
        }
        if self.rate_limited.burst == 0 {
            return Err(range(format!("{key}.rate_limited.burst"), 0, "1 or more"));
        }
        for name in self.endpoints.iter().flatten() {
            let known = match vendor {
                Some(v) => v.endpoints().contains(&name.as_str()),
                None => Vendor::ALL
                    .iter()
                    .any(|v| v.endpoints().contains(&name.as_str())),
            };
            if !known {
                return Err(ConfigError::UnknownEndpoint {
                    key: format!("{key}.endpoints"),
                    vendor: vendor.map_or("vendor's", Vendor::name),
                    name: name.clone(),
                });
            }
        }
        if let (Some(error), Some(vendor)) = (&self.error, vendor) {
            if let Some(http) = error.http {
                if !(100..=599).contains(&http) {
                    return Err(range(format!("{key}.error.http"), http, "100..=599"));
                }
            } else if codes::find(vendor, error.code).is_none() {
                return Err(ConfigError::UnknownCode {
                    key: format!("{key}.error.code"),
                    vendor: vendor.name(),
                    code: error.code,
                });
            }
        }
        Ok(())
    }
}

fn range(key: String, value: impl ToString, allowed: &'static str) -> ConfigError {
    ConfigError::Range {
        key,
        value: value.to_string(),
        allowed,
    }
}
