//! The vendor sandbox as a separate process (`recalld sandbox`), driven
//! through its `/_sandbox/` controls.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};

use crate::api::http;
use crate::process::{Process, recalld};

/// A `recalld sandbox` child on a free loopback port.
pub struct SandboxProcess {
    /// Where it listens.
    pub addr: SocketAddr,
    http: reqwest::Client,
    /// Killed when this is dropped.
    pub process: Process,
}

impl SandboxProcess {
    /// Starts `recalld sandbox --listen 127.0.0.1:0 ARGS` and reads the port
    /// from the line it prints once listening.
    pub async fn start(args: &[&str]) -> SandboxProcess {
        let mut command = recalld(&["sandbox", "--listen", "127.0.0.1:0"]);
        command.args(args);
        let mut process = Process::spawn("recalld sandbox", command);
        let addr = process
            .stderr_line("its address", Duration::from_secs(30), |line| {
                let rest = line.split_once("listening on http://")?.1;
                rest.split_whitespace().next()?.parse::<SocketAddr>().ok()
            })
            .await;
        SandboxProcess {
            addr,
            http: http(),
            process,
        }
    }

    async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(
            method.clone(),
            format!("http://{}/_sandbox/{path}", self.addr),
        );
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} /_sandbox/{path}: {e}"));
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        assert!(
            status.is_success(),
            "{method} /_sandbox/{path} answered {status}: {answer}"
        );
        answer
    }

    /// `POST /_sandbox/seed`: `count` sent messages of `vendor`; their ids.
    pub async fn seed(&self, vendor: &str, count: usize, sent_ago_secs: u64) -> Vec<String> {
        let body = json!({"count": count, "vendors": [vendor], "sent_ago_secs": sent_ago_secs});
        let answer = self
            .control(reqwest::Method::POST, "seed", Some(body))
            .await;
        serde_json::from_value(answer[vendor].clone())
            .unwrap_or_else(|e| panic!("seed answer {answer}: {e}"))
    }

    /// `GET /_sandbox/stats`.
    pub async fn stats(&self) -> Value {
        self.control(reqwest::Method::GET, "stats", None).await
    }

    /// `POST /_sandbox/config` with a partial document.
    pub async fn configure(&self, patch: Value) -> Value {
        self.control(reqwest::Method::POST, "config", Some(patch))
            .await
    }
}
