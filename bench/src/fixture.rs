//! What the commands stand up: the vendor sandbox (with a log of when each
//! vendor request arrived), a daemon config, an in-process daemon, a signing
//! bench client, and tracking in signed batches.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail, ensure};
use recalld::auth::{
    WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP, decode_whsec, sign_standard,
};
use recalld::config::Config;
use recalld::host::library_file_name;
use recalld::server::{Running, start};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use warp::Filter as _;
use warp::path::FullPath;

/// The bench client's secret (Standard Webhooks); a fixture, not a credential.
pub const SECRET: &str = "whsec_cmVjYWxsZC1iZW5jaC1ib3Qtbm90LWZvci1wcm9kdWN0aW9u";
pub const CLIENT: &str = "bench-bot";

/// Wall-clock milliseconds since the epoch.
pub fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// `file` in the directory of this binary (where cargo puts the plugins and `recalld`).
pub fn beside_exe(file: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating recalld-bench")?;
    Ok(exe
        .parent()
        .context("recalld-bench has no directory")?
        .join(file))
}

/// The library of plugin `name`: `explicit`, else beside this binary.
pub fn plugin_file(explicit: Option<&Path>, name: &str) -> anyhow::Result<PathBuf> {
    let path = match explicit {
        Some(path) => path.to_owned(),
        None => beside_exe(&library_file_name(name))?,
    };
    if !path.is_file() {
        bail!(
            "{} is missing; build it first: `cargo build --release --workspace`",
            path.display()
        );
    }
    Ok(path)
}

/// Signs bodies as [`CLIENT`], each with a fresh delivery id.
pub struct Signer {
    key: Vec<u8>,
    /// Distinguishes ids of this run from those of earlier runs on the same store.
    run: u64,
    next: AtomicU64,
}

impl Signer {
    pub fn new() -> anyhow::Result<Signer> {
        let key = decode_whsec(SECRET).map_err(anyhow::Error::msg)?;
        let run = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        Ok(Signer {
            key,
            run,
            next: AtomicU64::new(0),
        })
    }

    /// The three Standard Webhooks headers for `body`.
    pub fn headers(&self, body: &[u8]) -> [(&'static str, String); 3] {
        let id = format!(
            "bench_{:x}_{}",
            self.run,
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        let timestamp = now_ms() / 1000;
        let signature = sign_standard(&self.key, &id, timestamp, body);
        [
            (WEBHOOK_ID, id),
            (WEBHOOK_TIMESTAMP, timestamp.to_string()),
            (WEBHOOK_SIGNATURE, signature),
        ]
    }

    /// A complete signed HTTP/1.1 `POST`, for the raw load generator.
    pub fn raw_post(&self, addr: SocketAddr, path: &str, body: &[u8]) -> Vec<u8> {
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (name, value) in self.headers(body) {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        request
    }
}

/// A signed JSON client of one daemon (control requests, tracking batches).
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    signer: Arc<Signer>,
}

impl Api {
    pub fn new(addr: SocketAddr) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        Ok(Api {
            http,
            base: format!("http://{addr}"),
            signer: Arc::new(Signer::new()?),
        })
    }

    /// The daemon's `/metrics` text (unsigned, like a scraper's request).
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let url = format!("{}/metrics", self.base);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        ensure!(
            response.status().is_success(),
            "{url}: status {}",
            response.status()
        );
        Ok(response.text().await?)
    }

    /// Sends a signed request; the answer must have status `want`.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
        want: u16,
    ) -> anyhow::Result<Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        for (name, value) in self.signer.headers(&body) {
            request = request.header(name, value);
        }
        if !body.is_empty() {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {}{path}", self.base))?;
        let status = response.status().as_u16();
        let answer: Value = serde_json::from_slice(&response.bytes().await?).unwrap_or(Value::Null);
        if status != want {
            bail!("{path}: expected {want}, got {status}: {answer}");
        }
        Ok(answer)
    }
}

/// The vendor sandbox on a free loopback port, logging when each vendor
/// request (not `/_sandbox/` controls) arrived, before its simulated latency.
pub struct Vendors {
    pub sandbox: sandbox::Sandbox,
    pub addr: SocketAddr,
    arrivals: Arc<Mutex<Vec<Instant>>>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Vendors {
    pub async fn start(config: sandbox::Config) -> anyhow::Result<Vendors> {
        let sandbox = sandbox::Sandbox::new(config);
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&arrivals);
        let logged = warp::path::full()
            .map(move |path: FullPath| {
                if !path.as_str().starts_with("/_sandbox") {
                    log.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(Instant::now());
                }
            })
            .untuple_one()
            .and(sandbox.routes());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = warp::serve(logged).incoming(listener).graceful(async {
            let _ = stopped.await;
        });
        let task = tokio::spawn(server.run());
        Ok(Vendors {
            sandbox,
            addr,
            arrivals,
            stop,
            task,
        })
    }

    /// When each vendor request arrived, in arrival order; clears the log.
    pub fn take_arrivals(&self) -> Vec<Instant> {
        std::mem::take(&mut *self.arrivals.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// One vendor account of the daemon under test.
#[derive(Debug, Clone, Copy)]
pub struct AccountSpec {
    pub name: &'static str,
    pub plugin: &'static str,
    /// `rate_limit: {requests: N, per: 1s}`; the manifest's limits when `None`.
    pub per_second: Option<u32>,
    pub concurrency: Option<u32>,
}

/// The sandbox's credentials for a plugin's accounts (JSON, which is also YAML).
pub fn credentials(plugin: &str) -> anyhow::Result<serde_json::Map<String, Value>> {
    let value = match plugin {
        "engagelab" => json!({"app_key": "el-sandbox", "master_secret": "el-secret"}),
        "jpush" => json!({"app_key": "jp-sandbox", "master_secret": "jp-secret"}),
        "feishu-helpdesk" => {
            json!({"user_access_token": "u-sandbox", "helpdesk_id": "hd-sandbox", "helpdesk_token": "hd-token-sandbox"})
        }
        "dingtalk" => {
            json!({"appkey": "ding-sandbox", "appsecret": "ding-secret", "agent_id": 1000})
        }
        other => bail!("no sandbox credentials for plugin {other}"),
    };
    Ok(value.as_object().cloned().unwrap_or_default())
}

/// A `recalld.yaml`: loopback on a free port, a store file in `dir`, the
/// accounts' plugins from `plugins` (default: beside this binary), and the
/// bench client allowed to track, read and recall `bench-*` tags.
pub fn config_yaml(
    dir: &Path,
    plugins: Option<&Path>,
    vendor: SocketAddr,
    accounts: &[AccountSpec],
    max_messages: u64,
) -> anyhow::Result<String> {
    let mut names: Vec<&str> = accounts.iter().map(|a| a.plugin).collect();
    names.sort_unstable();
    names.dedup();
    let mut paths = Vec::new();
    for name in names {
        let path = match plugins {
            Some(dir) => plugin_file(Some(&dir.join(library_file_name(name))), name)?,
            None => plugin_file(None, name)?,
        };
        paths.push(format!("\"{}\"", path.display()));
    }
    let mut yaml = format!(
        "listen: 127.0.0.1:0\nstore: sqlite://{}\nplugins:\n  paths: [{}]\naccounts:\n",
        dir.join("recalld.db").display(),
        paths.join(", ")
    );
    for a in accounts {
        let _ = write!(
            yaml,
            "  {}:\n    plugin: {}\n    base_url: \"http://{vendor}\"\n    credentials: {}\n",
            a.name,
            a.plugin,
            Value::Object(credentials(a.plugin)?)
        );
        if let Some(n) = a.per_second {
            let _ = writeln!(yaml, "    rate_limit: {{requests: {n}, per: 1s}}");
        }
        if let Some(c) = a.concurrency {
            let _ = writeln!(yaml, "    concurrency: {c}");
        }
    }
    let _ = write!(
        yaml,
        "clients:\n  {CLIENT}:\n    secrets: [\"{SECRET}\"]\n    scopes: {{actions: [recall, track, read], tags: [\"bench-*\"], max_messages: {max_messages}}}\n"
    );
    Ok(yaml)
}

/// Writes the config into `dir` and starts a daemon from it on this runtime.
pub async fn start_daemon(dir: &Path, yaml: &str) -> anyhow::Result<Running> {
    let path = dir.join("recalld.yaml");
    std::fs::write(&path, yaml)?;
    let config = Config::parse(&path, yaml).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(start(config).await?)
}

/// A `POST /v1/messages` body. Invariant: accounts, ids and the tag are
/// plain ASCII names (letters, digits, `-`, `_`), so nothing needs escaping.
pub fn track_body<'a>(
    messages: impl IntoIterator<Item = (&'a str, &'a str)>,
    tag: &str,
    sent_at_ms: i64,
) -> Vec<u8> {
    let mut body = String::from("{\"messages\":[");
    for (i, (account, remote_id)) in messages.into_iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        let _ = write!(
            body,
            "{{\"account\":\"{account}\",\"remote_id\":\"{remote_id}\",\"tags\":[\"{tag}\"],\"sent_at\":{sent_at_ms}}}"
        );
    }
    body.push_str("]}");
    body.into_bytes()
}

/// Tracks `messages` (account, remote id) tagged `tag`, in signed batches of
/// `batch`, `in_flight` requests at a time. Returns how long it took; every
/// message must be new.
pub async fn track_all(
    api: &Api,
    messages: Arc<Vec<(String, String)>>,
    tag: &str,
    sent_at_ms: i64,
    batch: usize,
    in_flight: usize,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let chunks = messages.len().div_ceil(batch.max(1));
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..in_flight.max(1) {
        let (api, messages, next, tag) = (
            api.clone(),
            Arc::clone(&messages),
            Arc::clone(&next),
            tag.to_owned(),
        );
        workers.spawn(async move {
            loop {
                let chunk = next.fetch_add(1, Ordering::Relaxed);
                if chunk >= chunks {
                    return Ok::<(), anyhow::Error>(());
                }
                let part = &messages[chunk * batch..((chunk + 1) * batch).min(messages.len())];
                let body = track_body(
                    part.iter().map(|(a, r)| (a.as_str(), r.as_str())),
                    &tag,
                    sent_at_ms,
                );
                let answer = api
                    .call(reqwest::Method::POST, "/v1/messages", body, 200)
                    .await?;
                if answer["inserted"].as_u64() != Some(part.len() as u64) {
                    bail!(
                        "tracking a batch of {} inserted {}",
                        part.len(),
                        answer["inserted"]
                    );
                }
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    Ok(started.elapsed())
}
