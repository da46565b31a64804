//! The measured reference of `fanout`: the same vendor calls made directly,
//! without the daemon's dispatcher and store. Each call is what the daemon
//! does per task minus bookkeeping: the account's plugin (loaded through the
//! ABI, like the daemon's) prepares the request, a reqwest client sends it,
//! the plugin interprets the answer, which must be `done`. C calls per
//! account in flight. Its rate is what this machine can do right now; the
//! daemon's time divided by the time this rate implies is the daemon's
//! overhead, whatever else the machine is running.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use plugin_api::{
    Account, Header, HttpResponse, InterpretInput, Message, Operation, OperationKind, Outcome,
    Plugin, PrepareInput,
};
use recalld::host::PluginRegistry;

use crate::fixture::{AccountSpec, credentials, plugin_file};

/// One account's side of a direct run.
pub struct Lane {
    plugin: Arc<dyn Plugin>,
    account: Account,
    /// Remote ids to recall.
    ids: Vec<String>,
    sent_at_ms: i64,
}

/// Loads the plugin of `spec` (through the ABI) and describes its account.
pub fn lane(
    registry: &mut PluginRegistry,
    plugins: Option<&Path>,
    spec: &AccountSpec,
    vendor: std::net::SocketAddr,
    ids: Vec<String>,
    sent_at_ms: i64,
) -> anyhow::Result<Lane> {
    let plugin = match registry.get(spec.plugin) {
        Some(loaded) => Arc::clone(&loaded.plugin),
        None => {
            let path = match plugins {
                Some(dir) => plugin_file(
                    Some(&dir.join(recalld::host::library_file_name(spec.plugin))),
                    spec.plugin,
                )?,
                None => plugin_file(None, spec.plugin)?,
            };
            Arc::clone(
                &registry
                    .load_file(&path)
                    .with_context(|| format!("loading {}", path.display()))?
                    .plugin,
            )
        }
    };
    let account = Account {
        name: spec.name.to_owned(),
        base_url: Some(format!("http://{vendor}")),
        region: None,
        credentials: credentials(spec.plugin)?,
    };
    Ok(Lane {
        plugin,
        account,
        ids,
        sent_at_ms,
    })
}

/// Makes every lane's calls, `concurrency` at a time per lane; returns the
/// number of calls and how long they took.
pub async fn run(lanes: Vec<Lane>, concurrency: usize) -> anyhow::Result<(usize, Duration)> {
    let total_in_flight = concurrency * lanes.len();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(total_in_flight)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?;
    let calls: usize = lanes.iter().map(|l| l.ids.len()).sum();
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for lane in lanes {
        let lane = Arc::new(lane);
        let next = Arc::new(AtomicUsize::new(0));
        for _ in 0..concurrency {
            let (lane, next, http) = (Arc::clone(&lane), Arc::clone(&next), http.clone());
            workers.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(id) = lane.ids.get(i) else {
                        return Ok::<(), anyhow::Error>(());
                    };
                    call(&http, &lane, id).await?;
                }
            });
        }
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    Ok((calls, started.elapsed()))
}

/// One recall: prepare, send, interpret; anything but `done` is an error.
async fn call(http: &reqwest::Client, lane: &Lane, remote_id: &str) -> anyhow::Result<()> {
    let message = Message {
        account: lane.account.name.clone(),
        remote_id: remote_id.to_owned(),
        sent_at_ms: lane.sent_at_ms,
        tags: Vec::new(),
        meta: serde_json::Value::Null,
    };
    let operation = Operation {
        kind: OperationKind::Recall,
        message,
        params: serde_json::Value::Null,
    };
    let now_ms = crate::fixture::now_ms();
    let input = PrepareInput {
        account: lane.account.clone(),
        operation,
        token: None,
        now_ms,
    };
    let request = lane.plugin.prepare(&input)?;
    let method = reqwest::Method::from_bytes(request.method.as_bytes())?;
    let mut builder = http.request(method, &request.url);
    for header in &request.headers {
        builder = builder.header(&header.name, &header.value);
    }
    if let Some(body) = request.body {
        builder = builder.body(body);
    }
    let answer = builder.send().await?;
    let status = answer.status().as_u16();
    let headers = answer
        .headers()
        .iter()
        .filter_map(|(n, v)| v.to_str().ok().map(|v| Header::new(n.as_str(), v)))
        .collect();
    let body = String::from_utf8_lossy(&answer.bytes().await?).into_owned();
    let response = HttpResponse {
        status,
        headers,
        body,
    };
    let outcome = lane.plugin.interpret(&InterpretInput {
        account: lane.account.clone(),
        operation: input.operation,
        response,
        now_ms,
        attempt: Some(1),
    })?;
    if !matches!(outcome, Outcome::Done) {
        bail!(
            "direct recall of {remote_id} on {}: {outcome:?}",
            lane.account.name
        );
    }
    Ok(())
}
