//! Fault injection: which requests get a fault instead of being handled.
//!
//! The decision is pure (`Injector::draw` takes the rules and returns a
//! kind); `reply` counts the fault and builds the vendor's answer, and
//! `routes` holds a timed-out request before answering. Each vendor draws from
//! its own seeded sequence, so one vendor's traffic never shifts another's
//! faults, and a run with a fixed seed and the same request order repeats
//! exactly. Changing `faults` (or a reset) starts the sequences over and
//! re-arms every `next`.

mod reply;

use fastrand::Rng;

use crate::Vendor;
use crate::config::{FaultConfig, FaultRules};

pub(crate) use reply::{answer, hold, plan};

/// The kinds of fault, in draw order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    ServerError,
    Timeout,
    RateLimited,
    Error,
}

impl Kind {
    pub(crate) const ALL: [Kind; 4] = [
        Kind::ServerError,
        Kind::Timeout,
        Kind::RateLimited,
        Kind::Error,
    ];

    /// As in `faults_injected` of the stats and in the fault settings.
    pub(crate) const NAMES: [&'static str; 4] =
        ["server_error", "timeout", "rate_limited", "error"];

    /// Position in `ALL` and `NAMES`.
    pub(crate) fn index(self) -> usize {
        match self {
            Kind::ServerError => 0,
            Kind::Timeout => 1,
            Kind::RateLimited => 2,
            Kind::Error => 3,
        }
    }
}

/// One vendor's draws.
#[derive(Debug)]
struct Lane {
    rng: Rng,
    /// Faults still owed from `next`, indexed like `Kind::ALL`.
    armed: [u32; 4],
    /// Rate-limit refusals left in the current burst.
    burst_left: u32,
}

/// The state of every draw: a lane per vendor and one for latency jitter.
#[derive(Debug)]
pub(crate) struct Injector {
    lanes: [Lane; 4],
    jitter: Rng,
}

/// A generator for draw sequence `stream`: seeded when `seed` is given.
fn rng(seed: Option<u64>, stream: u64) -> Rng {
    match seed {
        Some(seed) => Rng::with_seed(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        None => Rng::new(),
    }
}

impl Injector {
    /// Sequences at their start and every `next` armed, as `config` says.
    pub(crate) fn new(config: &FaultConfig) -> Injector {
        let lane = |vendor: Vendor| Lane {
            rng: rng(config.seed, vendor.index() as u64 + 1),
            armed: config.rules(vendor).armed(),
            burst_left: 0,
        };
        Injector {
            lanes: Vendor::ALL.map(lane),
            jitter: rng(config.seed, 0),
        }
    }

    /// The fault for one request of `vendor` to `endpoint`, if any: an
    /// ongoing burst first, then armed faults, then one draw by fraction.
    pub(crate) fn draw(
        &mut self,
        rules: &FaultRules,
        vendor: Vendor,
        endpoint: &str,
    ) -> Option<Kind> {
        if let Some(only) = &rules.endpoints
            && !only.iter().any(|name| name == endpoint)
        {
            return None;
        }
        let lane = &mut self.lanes[vendor.index()];
        if lane.burst_left > 0 {
            lane.burst_left -= 1;
            return Some(Kind::RateLimited);
        }
        if let Some(i) = lane.armed.iter().position(|n| *n > 0) {
            lane.armed[i] -= 1;
            return Some(Kind::ALL[i]);
        }
        // Unvalidated configs (`Sandbox::new`) may hold anything: no share
        // below 0, and NaN counts as 0.
        let fractions = rules.fractions().map(|f| if f > 0.0 { f } else { 0.0 });
        if fractions.iter().all(|f| *f == 0.0) {
            return None;
        }
        let u = lane.rng.f64();
        let mut edge = 0.0;
        for (kind, fraction) in Kind::ALL.into_iter().zip(fractions) {
            edge += fraction;
            if u < edge {
                if kind == Kind::RateLimited {
                    lane.burst_left = rules.rate_limited.burst.saturating_sub(1);
                }
                return Some(kind);
            }
        }
        None
    }

    /// Extra latency, uniform in `0..=max` milliseconds.
    pub(crate) fn jitter_ms(&mut self, max: u64) -> u64 {
        if max == 0 {
            0
        } else {
            self.jitter.u64(0..=max)
        }
    }
}

#[cfg(test)]
mod tests;
