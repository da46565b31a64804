//! A lane against a vendor on loopback, with a store whose writes wait at a
//! gate: what a call holds, and when it lets go.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plugin_api::{
    HttpRequest, InterpretInput, Manifest, OperationKind, Outcome, Plugin, PluginError,
    PrepareInput, TokenInput, TokenParseInput, TokenReply,
};
use tokio::sync::watch;
use warp::Filter as _;

use super::testkit::{Gated, job_store, until};
use super::{Dispatcher, UNRECORDED_PER_CALL};
use crate::api::tests::test_manifest;
use crate::config::{Config, DispatchConfig};
use crate::host::PluginRegistry;
use crate::metrics::Metrics;
use crate::store::{JobProgress, Store};

/// The account's concurrency in these tests.
const CONCURRENCY: usize = 2;

/// Recalls with one `POST {base_url}/recall`; any 200 is done. Messages
/// older than `window_secs` are past its recall window. With `tokens`, it
/// gets a token from `GET {base_url}/token` first.
struct Recaller {
    window_secs: Option<u64>,
    tokens: bool,
}

impl Plugin for Recaller {
    fn manifest(&self) -> Manifest {
        Manifest {
            recall_window_secs: self.window_secs,
            uses_token: self.tokens,
            ..test_manifest("recaller", vec![OperationKind::Recall])
        }
    }
    fn token_request(&self, input: &TokenInput) -> Result<Option<HttpRequest>, PluginError> {
        Ok(self.tokens.then(|| HttpRequest {
            method: "GET".into(),
            url: format!("{}/token", input.account.base_url(&[]).unwrap_or_default()),
            headers: vec![],
            body: None,
        }))
    }
    fn token_parse(&self, _: &TokenParseInput) -> Result<TokenReply, PluginError> {
        Ok(TokenReply::Granted {
            token: "t".into(),
            expires_in_secs: 3_600,
        })
    }
    fn prepare(&self, input: &PrepareInput) -> Result<HttpRequest, PluginError> {
        Ok(HttpRequest {
            method: "POST".into(),
            url: format!("{}/recall", input.account.base_url(&[])?),
            headers: vec![],
            body: None,
        })
    }
    fn interpret(&self, input: &InterpretInput) -> Result<Outcome, PluginError> {
        Ok(match input.response.status {
            200 => Outcome::Done,
            status => Outcome::Failed {
                code: status.to_string(),
                message: "unexpected status".into(),
                permanent: true,
            },
        })
    }
}

/// A dispatcher running until [`Running::stop`].
struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    fn start(dispatcher: Arc<Dispatcher>) -> Running {
        let (stop, shutdown) = watch::channel(false);
        Running {
            stop,
            task: tokio::spawn(dispatcher.run(shutdown)),
        }
    }

    async fn stop(self) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap();
    }
}

/// Calls a [`vendor`] received, when, and the most it held at once.
#[derive(Default)]
struct Seen {
    calls: AtomicUsize,
    in_flight: AtomicUsize,
    most: AtomicUsize,
    arrivals: Mutex<Vec<Instant>>,
}

/// A vendor on 127.0.0.1 that answers every call with 200 after `hold`.
async fn vendor(hold: Duration) -> (String, Arc<Seen>) {
    vendor_with_tokens(hold, Duration::ZERO).await
}

/// A [`vendor`] whose `GET /token` answers after `token_hold` (and is not
/// counted as a call).
async fn vendor_with_tokens(hold: Duration, token_hold: Duration) -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let counted = Arc::clone(&seen);
    let token = warp::path("token").then(move || async move {
        tokio::time::sleep(token_hold).await;
        "{}"
    });
    let call = warp::any().then(move || {
        let seen = Arc::clone(&counted);
        async move {
            seen.arrivals.lock().unwrap().push(Instant::now());
            seen.calls.fetch_add(1, Ordering::SeqCst);
            let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            seen.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(hold).await;
            seen.in_flight.fetch_sub(1, Ordering::SeqCst);
            "{}"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(token.or(call)).incoming(listener).run());
    (format!("http://{addr}"), seen)
}

/// A dispatcher over `store` with account `a` of `plugin` at `base_url`,
/// limited to `rate` calls a second.
fn dispatcher(store: &Arc<Gated>, plugin: Recaller, base_url: &str, rate: u32) -> Arc<Dispatcher> {
    dispatcher_with(store, plugin, base_url, rate, DispatchConfig::default())
}

/// A [`dispatcher`] with its own dispatch settings.
fn dispatcher_with(
    store: &Arc<Gated>,
    plugin: Recaller,
    base_url: &str,
    rate: u32,
    settings: DispatchConfig,
) -> Arc<Dispatcher> {
    let text = format!(
        "listen: 127.0.0.1:0\nstore: \"sqlite::memory:\"\naccounts:\n  a: {{plugin: recaller, base_url: \"{base_url}\", concurrency: {CONCURRENCY}, rate_limit: {{requests: {rate}, per: 1s}}, credentials: {{token: t}}}}\n"
    );
    let config = Config::parse(Path::new("/test/recalld.yaml"), &text).expect("the config parses");
    let mut registry = PluginRegistry::new();
    registry.insert_in_process(Arc::new(plugin)).unwrap();
    let accounts = crate::accounts::build_accounts(&config, &registry).expect("the account builds");
    Dispatcher::new(
        Arc::clone(store) as Arc<dyn Store>,
        accounts,
        Arc::new(Metrics::new()),
        settings,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_frees_its_concurrency_slot_at_the_answer_and_its_unrecorded_permit_at_the_commit() {
    let n = 12;
    let (store, job) = job_store(n, &["a"], 0, 0).await;
    let (base_url, seen) = vendor(Duration::from_millis(20)).await;
    let plugin = Recaller {
        window_secs: None,
        tokens: false,
    };
    let running = Running::start(dispatcher(&store, plugin, &base_url, 10_000));

    // No result can be written: the calls go on while the results wait, up
    // to the unrecorded permits, and then stop.
    let unrecorded = CONCURRENCY * UNRECORDED_PER_CALL;
    until("the calls the unrecorded permits allow", || {
        seen.calls.load(Ordering::SeqCst) == unrecorded
    })
    .await;
    // Absence cannot be polled for: give a leak time to show (each call is
    // answered in 20 ms, so more calls would come well within 300 ms).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        seen.calls.load(Ordering::SeqCst),
        unrecorded,
        "more calls than unrecorded permits while no result is written"
    );
    assert!(store.entered.load(Ordering::SeqCst) >= 1, "a write waits");

    store.gate.add_permits(1_000);
    let progress = done(&store, job, Duration::from_secs(10)).await;
    assert_eq!(progress.counts.recalled, n as u64);
    assert_eq!(seen.calls.load(Ordering::SeqCst), n);
    assert!(
        seen.most.load(Ordering::SeqCst) <= CONCURRENCY,
        "{} calls at the vendor at once, more than the concurrency",
        seen.most.load(Ordering::SeqCst)
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_past_their_window_expire_without_waiting_for_the_rate_limit() {
    // Sent at 1 s after the epoch: far past a one-hour window.
    let n = 12;
    let (store, job) = job_store(n, &["a"], 1_000, 0).await;
    let (base_url, seen) = vendor(Duration::ZERO).await;
    let plugin = Recaller {
        window_secs: Some(3_600),
        tokens: false,
    };
    let running = Running::start(dispatcher(&store, plugin, &base_url, 1));

    // At one call a second, waiting for the limit would take 11 s.
    let progress = done(&store, job, Duration::from_secs(5)).await;
    assert_eq!(progress.counts.expired, n as u64, "{progress:?}");
    assert_eq!(seen.calls.load(Ordering::SeqCst), 0);
    running.stop().await;
}

/// Job `job`'s progress once it is done, failing after `within`.
async fn done(store: &Gated, job: i64, within: Duration) -> JobProgress {
    let deadline = Instant::now() + within;
    loop {
        let progress = store.job(job).await.unwrap().unwrap();
        if progress.state == "done" {
            return progress;
        }
        assert!(
            Instant::now() < deadline,
            "the job is not done: {progress:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

mod calls;
mod stop;
