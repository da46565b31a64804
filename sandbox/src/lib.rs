//! A faithful local simulator of the four vendors recalld talks to, so tests,
//! benchmarks and the demo never reach a real vendor.
//!
//! All four vendors share one listener and are told apart by their real paths:
//! Feishu/Lark helpdesk under `/open-apis/…`, DingTalk at `/gettoken` and
//! `/topapi/…`, EngageLab at `/v4/…`, JPush at `/v3/…`. A client written for
//! the real vendor works against it unchanged: same paths, auth, envelopes,
//! error codes, windows and rate limits, as `shared/vendors.md` gives them;
//! where that file says "unverified", the answer follows
//! `docs/unverified-choices.md` and is switchable in [`Config`].
//!
//! Time is a virtual clock (wall clock plus an offset) that tests move forward
//! with [`Sandbox::advance_clock`] instead of sleeping. Controls live under
//! `/_sandbox/` and as methods here: clock, seeding many already-sent messages,
//! stats ("every message recalled exactly once"), latency with jitter, rate
//! limits, and fault injection (server errors, timeouts, rate-limit bursts and
//! any documented error code, seeded so a run repeats exactly).
//!
//! Layout: `routes` (the warp filter) → `control` or one module per vendor
//! (`feishu`, `dingtalk`, `engagelab`, `jpush`, with `push` shared by the two
//! push vendors) → `wire` (request model and response builders); `faults`
//! answers instead of a vendor when a fault is drawn, with codes from `codes`.
//! State is one `Mutex` per vendor, never held across an await.

#![forbid(unsafe_code)]

mod clock;
mod codes;
mod config;
mod control;
mod delay;
mod dingtalk;
mod engagelab;
mod faults;
mod feishu;
mod jpush;
mod push;
mod ratelimit;
mod routes;
mod stats;
mod vendor;
mod wire;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use serde_json::Value;

pub use config::{
    Config, ConfigError, DingTalkConfig, DingTalkUserLimits, EngageLabConfig, ErrorShape,
    FaultConfig, FaultRule, FaultRules, FeishuConfig, FeishuStatusCodes, InjectedError,
    JPushConfig, OverLimit, RateLimitedRule, RateLimits, RepeatRecall, TimeoutRule,
};
pub use control::{SeedRequest, SeedResponse};
pub use stats::{LatencyStats, Stats, VendorStats};
pub use vendor::Vendor;

/// A running simulator. Cloning is cheap and every clone shares the state.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Shared>,
}

/// The state behind a [`Sandbox`]: one lock per vendor so vendors never wait
/// on each other, and the config behind an `Arc` swapped as a whole.
pub(crate) struct Shared {
    config: RwLock<Arc<Config>>,
    pub(crate) clock: clock::Clock,
    /// Source of request ids and log ids.
    seq: AtomicU64,
    pub(crate) feishu: Mutex<feishu::State>,
    pub(crate) dingtalk: Mutex<dingtalk::State>,
    pub(crate) engagelab: Mutex<push::Store>,
    pub(crate) jpush: Mutex<push::Store>,
    /// Where every fault and jitter sequence stands.
    pub(crate) faults: Mutex<faults::Injector>,
    /// What the injected latency asked and held.
    pub(crate) held: delay::Held,
}

/// Locks a vendor's state. A handler that panicked mid-update leaves the state
/// as consistent as any single request can, so a poisoned lock is still used.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// The current configuration (a snapshot; later changes do not affect it).
    pub(crate) fn config(&self) -> Arc<Config> {
        let guard = self.config.read().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(&guard)
    }

    /// Swaps the config; new fault settings start their sequences over.
    fn replace_config(&self, config: Config) {
        self.clock.set_frozen(config.frozen_clock);
        let mut guard = self.config.write().unwrap_or_else(PoisonError::into_inner);
        if guard.faults != config.faults {
            *lock(&self.faults) = faults::Injector::new(&config.faults);
        }
        *guard = Arc::new(config);
    }

    /// Runs `f` on `vendor`'s counters, under that vendor's lock.
    pub(crate) fn counters<R>(
        &self,
        vendor: Vendor,
        f: impl FnOnce(&mut stats::Counters) -> R,
    ) -> R {
        match vendor {
            Vendor::Feishu => f(&mut lock(&self.feishu).counters),
            Vendor::DingTalk => f(&mut lock(&self.dingtalk).counters),
            Vendor::EngageLab => f(&mut lock(&self.engagelab).counters),
            Vendor::JPush => f(&mut lock(&self.jpush).counters),
        }
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// A fresh number for request ids and log ids.
    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }
}

impl Sandbox {
    /// A sandbox with no messages, the clock at the wall clock, and `config`.
    /// HTTP statuses in `config` outside 100..=599 are answered as 500; use
    /// [`Config::validate`] first to be told instead.
    pub fn new(config: Config) -> Sandbox {
        let clock = clock::Clock::new(config.frozen_clock);
        let injector = faults::Injector::new(&config.faults);
        Sandbox {
            inner: Arc::new(Shared {
                config: RwLock::new(Arc::new(config)),
                clock,
                seq: AtomicU64::new(1),
                feishu: Mutex::new(feishu::State::new()),
                dingtalk: Mutex::new(dingtalk::State::new()),
                engagelab: Mutex::new(push::Store::new(push::Flavor::EngageLab)),
                jpush: Mutex::new(push::Store::new(push::Flavor::JPush)),
                faults: Mutex::new(injector),
                held: delay::Held::default(),
            }),
        }
    }

    /// Every vendor route and the `/_sandbox/` controls. Never rejects: unknown
    /// paths get a 404, vendor errors get the vendor's own answer.
    pub fn routes(
        &self,
    ) -> impl warp::Filter<Extract = (impl warp::Reply,), Error = Infallible>
    + Clone
    + Send
    + Sync
    + 'static {
        routes::filter(self.clone())
    }

    /// Moves sandbox time forward (it never goes back).
    pub fn advance_clock(&self, by: Duration) {
        self.inner.clock.advance(by);
    }

    /// Sandbox time, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        self.inner.now_ms()
    }

    /// Creates `count` already-sent messages for each requested vendor.
    pub fn seed(&self, req: &SeedRequest) -> SeedResponse {
        control::seed(&self.inner, req)
    }

    /// What the sandbox saw, per vendor.
    pub fn stats(&self) -> Stats {
        control::stats(&self.inner)
    }

    /// Sets the delay added before each vendor request (whole milliseconds).
    pub fn set_latency(&self, latency: Duration) {
        let mut config = Config::clone(&self.inner.config());
        config.latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.inner.replace_config(config);
    }

    /// Sets the extra delay drawn per vendor request, uniform in
    /// `0..=jitter` (whole milliseconds), on top of the fixed latency.
    pub fn set_latency_jitter(&self, jitter: Duration) {
        let mut config = Config::clone(&self.inner.config());
        config.latency_jitter_ms = u64::try_from(jitter.as_millis()).unwrap_or(u64::MAX);
        self.inner.replace_config(config);
    }

    /// Replaces the fault settings after validating them; the sequences
    /// start over and every `next` is armed again.
    pub fn set_faults(&self, faults: FaultConfig) -> Result<(), ConfigError> {
        let config = Config {
            faults,
            ..Config::clone(&self.inner.config())
        };
        self.set_config(config)
    }

    /// The configuration in force.
    pub fn config(&self) -> Config {
        Config::clone(&self.inner.config())
    }

    /// Replaces the whole configuration after validating it.
    pub fn set_config(&self, config: Config) -> Result<(), ConfigError> {
        config.validate()?;
        self.inner.replace_config(config);
        Ok(())
    }

    /// Merges a partial JSON document over the configuration (as
    /// `POST /_sandbox/config` does) and returns the result.
    pub fn update_config(&self, patch: &Value) -> Result<Config, ConfigError> {
        let config = self.inner.config().merged(patch)?;
        self.inner.replace_config(config.clone());
        Ok(config)
    }

    /// Forgets every message, token, rate-limit window and counter, and starts
    /// the fault sequences over; keeps the configuration and the clock.
    pub fn reset(&self) {
        let injector = faults::Injector::new(&self.inner.config().faults);
        *lock(&self.inner.faults) = injector;
        lock(&self.inner.feishu).reset();
        lock(&self.inner.dingtalk).reset();
        lock(&self.inner.engagelab).reset();
        lock(&self.inner.jpush).reset();
        self.inner.held.reset();
    }

    /// Approves a Feishu notification waiting in review, as the helpdesk owner
    /// would (only needed when `feishu.creator_is_owner` is false). False when
    /// no such notification is in review.
    pub fn approve_feishu(&self, notification_id: &str) -> bool {
        feishu::approve(&mut lock(&self.inner.feishu), notification_id)
    }
}

/// Binds `addr` (use 127.0.0.1:0 for a free port) and serves until `shutdown`
/// resolves; then stops accepting, finishes requests in flight and ends the task.
pub async fn serve(
    sandbox: Sandbox,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let server = warp::serve(sandbox.routes())
        .incoming(listener)
        .graceful(shutdown);
    let task = tokio::spawn(server.run());
    Ok((local, task))
}

#[cfg(test)]
mod testkit;
