//! A client of the daemon's HTTP API that signs like a bot would (Standard
//! Webhooks, with the daemon's own public signing function), plus the few
//! calls the end-to-end tests make again and again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use recalld::auth::{
    WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP, decode_whsec, sign_standard,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::wait;

/// The client secret every test config gives its bot.
pub const BOT_SECRET: &str = "whsec_ZTJlLWJvdC1zZWNyZXQtOWM0ZjFhN2Itbm90LWZvci1wcm9k";

/// Messages per `POST /v1/messages`.
pub const TRACK_BATCH: usize = 500;

/// Epoch milliseconds, the daemon's clock.
pub fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// A plain HTTP client (rustls needs its provider installed first, even for
/// plain HTTP, because reqwest is built without one).
pub fn http() -> reqwest::Client {
    recalld::api::install_crypto();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

/// A signed client of one daemon.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    key: Vec<u8>,
}

impl Api {
    pub fn new(base: &str, secret: &str) -> Api {
        let key = decode_whsec(secret).expect("a valid whsec_ secret");
        Api {
            http: http(),
            base: base.trim_end_matches('/').to_owned(),
            key,
        }
    }

    /// A signed request; the status and the JSON answer (`null` when not JSON).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        self.try_send(method.clone(), path, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// [`Api::send`], with transport errors returned (the daemon may be gone).
    pub async fn try_send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), reqwest::Error> {
        static DELIVERIES: AtomicU64 = AtomicU64::new(0);
        let id = format!(
            "msg_e2e_{}_{}",
            std::process::id(),
            DELIVERIES.fetch_add(1, Ordering::Relaxed)
        );
        let timestamp = now_ms() / 1000;
        let bytes = body
            .map(|b| serde_json::to_vec(b).expect("JSON body"))
            .unwrap_or_default();
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header(WEBHOOK_ID, &id)
            .header(WEBHOOK_TIMESTAMP, timestamp.to_string())
            .header(
                WEBHOOK_SIGNATURE,
                sign_standard(&self.key, &id, timestamp, &bytes),
            );
        if body.is_some() {
            request = request
                .header("content-type", "application/json")
                .body(bytes);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// Sends and insists on `want`, naming the daemon's error otherwise.
    pub async fn expect(
        &self,
        want: StatusCode,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Value {
        let (status, answer) = self.send(method.clone(), path, body).await;
        assert_eq!(status, want, "{method} {path} answered {status}: {answer}");
        answer
    }

    /// Waits until `GET /readyz` answers 200.
    pub async fn ready(&self, timeout: Duration) {
        let url = format!("{}/readyz", self.base);
        wait::until(&format!("{url} to answer 200"), timeout, || async {
            match self.http.get(&url).send().await {
                Ok(r) if r.status() == StatusCode::OK => Ok(()),
                Ok(r) => Err(format!("status {}", r.status())),
                Err(e) => Err(e.to_string()),
            }
        })
        .await;
    }

    /// Tracks messages in signed batches of [`TRACK_BATCH`].
    pub async fn track(&self, messages: &[Value]) {
        for chunk in messages.chunks(TRACK_BATCH) {
            self.expect(
                StatusCode::OK,
                Method::POST,
                "/v1/messages",
                Some(&json!({ "messages": chunk })),
            )
            .await;
        }
    }

    /// Starts a job (`POST /v1/recalls`); its id and the number matched.
    pub async fn recall(&self, request: Value) -> (i64, u64) {
        let answer = self
            .expect(
                StatusCode::ACCEPTED,
                Method::POST,
                "/v1/recalls",
                Some(&request),
            )
            .await;
        let job_id = answer["job_id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no job_id in {answer}"));
        (job_id, answer["matched"].as_u64().unwrap_or(0))
    }

    /// `GET /v1/jobs/{id}`.
    pub async fn job(&self, job_id: i64) -> Value {
        self.expect(
            StatusCode::OK,
            Method::GET,
            &format!("/v1/jobs/{job_id}"),
            None,
        )
        .await
    }

    /// Polls the job until its state is `done`; its last progress.
    pub async fn job_done(&self, job_id: i64, timeout: Duration) -> Value {
        wait::until(&format!("job {job_id} to be done"), timeout, || async {
            let job = self.job(job_id).await;
            if job["state"] == "done" {
                Ok(job)
            } else {
                Err(job.to_string())
            }
        })
        .await
    }

    /// The whole ledger for `tag`, page by page (`GET /v1/messages`).
    pub async fn ledger(&self, tag: &str) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut after = 0;
        loop {
            let path = format!("/v1/messages?tag={tag}&limit=1000&after={after}");
            let page = self.expect(StatusCode::OK, Method::GET, &path, None).await;
            rows.extend(page["messages"].as_array().cloned().unwrap_or_default());
            match page["next_after"].as_i64() {
                Some(next) => after = next,
                None => return rows,
            }
        }
    }
}

/// The count `key` of a job progress (or of one of its accounts).
pub fn count(progress: &Value, key: &str) -> u64 {
    progress[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no count {key:?} in {progress}"))
}
