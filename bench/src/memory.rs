//! `memory` (issue 5): resident memory of a real `recalld serve` process,
//! idle and after tracking many messages, from `/proc/<pid>/status`.
//!
//! The binary is spawned with a file store in a temporary directory and one
//! account (never called). Messages go in through signed
//! `POST /v1/messages` batches from this process, so none of the client's
//! memory is counted.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::{Value, json};

use crate::fixture::{AccountSpec, Api, beside_exe, config_yaml, now_ms, track_all};
use crate::report::{Report, Row, Verdict, round};

const ACCOUNT: &str = "push-main";
const TAG: &str = "bench-memory";
const IDLE_GOAL_MB: f64 = 30.0;
const LOADED_GOAL_MB: f64 = 150.0;

#[derive(Debug, Args)]
pub struct MemoryArgs {
    /// The recalld binary (default: beside this binary).
    #[arg(long)]
    recalld: Option<PathBuf>,
    /// Messages to track.
    #[arg(long, default_value_t = 1_000_000)]
    messages: usize,
    /// Messages per tracking request.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Tracking requests in flight.
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
    /// Where the plugin libraries are (default: beside this binary).
    #[arg(long)]
    plugins: Option<PathBuf>,
}

/// Memory figures of a process, in MB (10^6 bytes).
#[derive(Debug, Clone, Copy)]
struct Rss {
    now: f64,
    peak: f64,
}

fn rss(pid: u32) -> anyhow::Result<Rss> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<f64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        let kb: f64 = line
            .trim_start_matches(name)
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()?;
        Ok(kb * 1024.0 / 1e6)
    };
    Ok(Rss {
        now: field("VmRSS:")?,
        peak: field("VmHWM:")?,
    })
}

/// A spawned `recalld serve`, stopped with SIGTERM when dropped.
struct Daemon {
    child: Child,
    addr: SocketAddr,
}

impl Daemon {
    fn spawn(recalld: &Path, config: &Path) -> anyhow::Result<Daemon> {
        let mut child = Command::new(recalld)
            .args(["--log-format", "json", "serve", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", recalld.display()))?;
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let (tx, rx) = mpsc::channel();
        // Reads the log for the listening address, then keeps draining it.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let parsed: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if let Some(addr) = parsed["fields"]["addr"].as_str() {
                    let _ = tx.send(addr.to_owned());
                } else if parsed.is_null() || parsed["level"] == "ERROR" {
                    eprintln!("recalld: {line}");
                }
            }
        });
        let mut daemon = Daemon {
            child,
            addr: ([127, 0, 0, 1], 0).into(),
        };
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .context("recalld did not say where it listens within 30 s")?;
        daemon.addr = addr
            .parse()
            .with_context(|| format!("recalld listens on {addr:?}?"))?;
        Ok(daemon)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn run(args: &MemoryArgs) -> anyhow::Result<Report> {
    let recalld = match &args.recalld {
        Some(path) => path.clone(),
        None => beside_exe("recalld")?,
    };
    if !recalld.is_file() {
        bail!(
            "{} is missing; build it first: `cargo build --release --workspace`",
            recalld.display()
        );
    }
    let temp = tempfile::tempdir()?;
    let accounts = [AccountSpec {
        name: ACCOUNT,
        plugin: "engagelab",
        per_second: None,
        concurrency: None,
    }];
    let yaml = config_yaml(
        temp.path(),
        args.plugins.as_deref(),
        ([127, 0, 0, 1], 9).into(),
        &accounts,
        10,
    )?;
    let config = temp.path().join("recalld.yaml");
    std::fs::write(&config, yaml)?;
    let daemon = Daemon::spawn(&recalld, &config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let api = Api::new(daemon.addr)?;
    let n = args.messages;

    let (idle, loaded, settled, tracking) = runtime.block_on(async {
        wait_ready(daemon.addr).await?;
        // Idle: started, one probe answered, nothing else for a second.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle = rss(daemon.pid())?;
        let messages: Vec<(String, String)> = (0..n)
            .map(|i| (ACCOUNT.to_owned(), format!("m{i}")))
            .collect();
        let tracking = track_all(
            &api,
            Arc::new(messages),
            TAG,
            now_ms(),
            args.batch,
            args.in_flight,
        )
        .await?;
        let loaded = rss(daemon.pid())?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let settled = rss(daemon.pid())?;
        Ok::<_, anyhow::Error>((idle, loaded, settled, tracking))
    })?;
    let store_mb = ["recalld.db", "recalld.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(temp.path().join(f)).ok())
        .map(|m| m.len() as f64 / 1e6)
        .sum::<f64>();
    drop(api);
    drop(daemon);

    let mut report = Report::new("memory");
    report.row(
        "idle_rss_mb",
        Row {
            figure: "RSS idle".into(),
            goal: "< 30 MB".into(),
            measured: format!("{:.1} MB", idle.now),
            reference: "goal 30 MB".into(),
            ratio: Some(idle.now / IDLE_GOAL_MB),
            verdict: Verdict::of(idle.now < IDLE_GOAL_MB),
        },
        json!(round(idle.now, 2)),
    );
    report.row(
        "loaded_rss_mb",
        Row {
            figure: format!("RSS after tracking {n} msgs"),
            goal: "< 150 MB".into(),
            measured: format!("{:.1} MB", loaded.now),
            reference: "goal 150 MB".into(),
            ratio: Some(loaded.now / LOADED_GOAL_MB),
            verdict: Verdict::of(loaded.now < LOADED_GOAL_MB),
        },
        json!(round(loaded.now, 2)),
    );
    report.row(
        "peak_rss_mb",
        Row {
            figure: "peak RSS (VmHWM) while tracking".into(),
            goal: "< 150 MB".into(),
            measured: format!("{:.1} MB", settled.peak),
            reference: "goal 150 MB".into(),
            ratio: Some(settled.peak / LOADED_GOAL_MB),
            verdict: Verdict::of(settled.peak < LOADED_GOAL_MB),
        },
        json!(round(settled.peak, 2)),
    );
    report.value("settled_rss_mb", json!(round(settled.now, 2)));
    report.value("store_mb", json!(round(store_mb, 1)));
    report.value("tracking_seconds", json!(round(tracking.as_secs_f64(), 3)));
    report.note(format!(
        "{} serve, file store (WAL); tracked through signed POST /v1/messages, batches of {}, {} in flight: {:.2} s ({:.0} msg/s); RSS 2 s later {:.1} MB; store on disk {store_mb:.0} MB",
        recalld.display(),
        args.batch,
        args.in_flight,
        tracking.as_secs_f64(),
        n as f64 / tracking.as_secs_f64(),
        settled.now
    ));
    report.note("VmRSS / VmHWM from /proc/<pid>/status (KiB), shown in MB = 10^6 bytes, the unit of the goals");
    Ok(report)
}

/// Polls `GET /readyz` until it answers 200 (30 s at most).
async fn wait_ready(addr: SocketAddr) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = http.get(format!("http://{addr}/readyz")).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("recalld at {addr} not ready within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
