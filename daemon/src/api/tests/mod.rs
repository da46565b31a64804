//! Route tests: `warp::test::request()` against [`routes`] with an
//! in-memory SQLite store and two in-process test plugins.

mod events;
mod fuzz;
mod http_auth;
mod inputs;
mod interop;
mod jobs;
mod limits;
mod openapi;
mod scopes;

use std::path::Path;
use std::sync::{Arc, Mutex};

use http::StatusCode;
use plugin_api::{
    CredentialSchema, CredentialType, HttpRequest, InterpretInput, Manifest, OperationKind,
    Outcome, Plugin, PluginError, PrepareInput, Region,
};
use serde_json::{Value, json};

use super::{AppState, routes};
use crate::auth::{
    GITHUB_DELIVERY, GITHUB_SIGNATURE, WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP,
};
use crate::auth::{decode_whsec, sign_github, sign_standard};
use crate::config::Config;
use crate::host::PluginRegistry;
use crate::metrics::Metrics;
use crate::store::{SqliteStore, Store as _};

/// Client `bot`: every action, every tag, `all`, at most 100 messages.
pub const BOT: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Client `narrow`: recall and read, tags `incident-*`, at most 2 messages.
pub const NARROW: &str = "whsec_bmFycm93LWNsaWVudC1zZWNyZXQ=";
/// Client `tracker`: track only, tags `incident-*`.
pub const TRACKER: &str = "whsec_dHJhY2tlci1jbGllbnQtc2VjcmV0";
/// Client `hub` (GitHub scheme): recall and track, every tag.
pub const HUB: &str = "it's a secret to everybody";
/// The body limit of the test config.
pub const MAX_BODY: usize = 4096;

fn config(rules: Option<&Path>) -> Config {
    let rules = rules.map_or(String::new(), |dir| {
        format!("rules: {{files: [\"{}/*.yaml\"]}}\n", dir.display())
    });
    let text = format!(
        r#"listen: 127.0.0.1:0
store: "sqlite::memory:"
accounts:
  ding: {{plugin: recaller, credentials: {{token: t-ding}}}}
  feishu: {{plugin: editor, credentials: {{token: t-feishu}}}}
clients:
  bot:
    secrets: ["{BOT}"]
    scopes: {{actions: [recall, cancel, update, track, event, read], tags: ["*"], max_messages: 100, all: true}}
  narrow:
    secrets: ["{NARROW}"]
    scopes: {{actions: [recall, read, event], tags: ["incident-*"], max_messages: 2, events: ["incident.*"]}}
  tracker:
    secrets: ["{TRACKER}"]
    scopes: {{actions: [track], tags: ["incident-*"]}}
  hub:
    secrets: ["{HUB}"]
    scheme: github
    scopes: {{actions: [recall, track], tags: ["*"]}}
api: {{max_body_bytes: {MAX_BODY}, timestamp_tolerance: 5m}}
{rules}"#
    );
    Config::parse(Path::new("/test/recalld.yaml"), &text).expect("the test config parses")
}

/// The manifest of a test plugin `name` doing `operations`: one `token`
/// credential (secret), one region, no limits, no recall window.
pub fn test_manifest(name: &str, operations: Vec<OperationKind>) -> Manifest {
    Manifest {
        name: name.into(),
        version: "0.1.0".into(),
        vendor: "Test".into(),
        description: String::new(),
        operations,
        recall_window_secs: None,
        rate_limits: vec![],
        regions: vec![Region {
            name: "default".into(),
            base_url: "http://127.0.0.1:9".into(),
        }],
        credentials: CredentialSchema::new().field(
            "token",
            CredentialType::String,
            true,
            true,
            "token",
        ),
        uses_token: false,
    }
}

/// A plugin that is never called: only its manifest matters here.
struct TestPlugin {
    name: &'static str,
    operations: Vec<OperationKind>,
}

impl Plugin for TestPlugin {
    fn manifest(&self) -> Manifest {
        test_manifest(self.name, self.operations.clone())
    }
    fn prepare(&self, _: &PrepareInput) -> Result<HttpRequest, PluginError> {
        Err(PluginError::new("unused", "not called by route tests"))
    }
    fn interpret(&self, _: &InterpretInput) -> Result<Outcome, PluginError> {
        Err(PluginError::new("unused", "not called by route tests"))
    }
}

/// The API under test, its store and what it woke.
pub struct Harness {
    pub state: AppState,
    pub store: Arc<SqliteStore>,
    pub woken: Arc<Mutex<Vec<String>>>,
    pub metrics: Arc<Metrics>,
    /// The rules folder, when the harness has rules.
    pub rules_dir: Option<tempfile::TempDir>,
}

pub fn harness() -> Harness {
    build_harness(None)
}

/// A harness whose config loads `rules` (YAML) from a rules folder.
pub fn harness_with_rules(rules: &str) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yaml"), rules).unwrap();
    build_harness(Some(dir))
}

fn build_harness(rules_dir: Option<tempfile::TempDir>) -> Harness {
    let config = config(rules_dir.as_ref().map(tempfile::TempDir::path));
    let mut registry = PluginRegistry::new();
    registry
        .insert_in_process(Arc::new(TestPlugin {
            name: "recaller",
            operations: vec![OperationKind::Recall],
        }))
        .unwrap();
    let all = vec![
        OperationKind::Recall,
        OperationKind::Cancel,
        OperationKind::Update,
    ];
    registry
        .insert_in_process(Arc::new(TestPlugin {
            name: "editor",
            operations: all,
        }))
        .unwrap();
    let accounts =
        crate::accounts::build_accounts(&config, &registry).expect("test accounts build");
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let woken = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&woken);
    let wake = Arc::new(move |account: &str| sink.lock().unwrap().push(account.to_owned()));
    let metrics = Arc::new(Metrics::new());
    let rules = crate::rules::live::LiveRules::start(
        config.rules.files.clone(),
        crate::rules::Env::from_accounts(&accounts),
        Arc::clone(&metrics),
    )
    .expect("test rules load");
    let state = AppState::new(
        Arc::new(config),
        store.clone(),
        accounts,
        wake,
        Arc::clone(&metrics),
        rules,
    )
    .unwrap();
    state.set_ready(true);
    Harness {
        state,
        store,
        woken,
        metrics,
        rules_dir,
    }
}

pub fn now_secs() -> i64 {
    crate::clock::now_ms() / 1000
}

pub fn fresh_id() -> String {
    format!("msg_{:016x}", fastrand::u64(..))
}

/// A request signed with Standard Webhooks by `secret`, at `timestamp`.
pub fn signed_at(
    method: &str,
    path: &str,
    body: &[u8],
    secret: &str,
    id: &str,
    timestamp: i64,
) -> warp::test::RequestBuilder {
    let key = decode_whsec(secret).unwrap();
    warp::test::request()
        .method(method)
        .path(path)
        .body(body)
        .header(WEBHOOK_ID, id)
        .header(WEBHOOK_TIMESTAMP, timestamp.to_string())
        .header(WEBHOOK_SIGNATURE, sign_standard(&key, id, timestamp, body))
}

/// A request signed now by `secret` with a fresh id.
pub fn signed(method: &str, path: &str, body: &Value, secret: &str) -> warp::test::RequestBuilder {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(body).unwrap()
    };
    signed_at(method, path, &bytes, secret, &fresh_id(), now_secs())
}

/// A request signed with the GitHub scheme.
pub fn github(
    method: &str,
    path: &str,
    body: &[u8],
    secret: &str,
    delivery: &str,
) -> warp::test::RequestBuilder {
    warp::test::request()
        .method(method)
        .path(path)
        .body(body)
        .header(GITHUB_DELIVERY, delivery)
        .header(GITHUB_SIGNATURE, sign_github(secret.as_bytes(), body))
}

/// Sends `request` through the routes: status and JSON body (`null` when not JSON).
pub async fn send(h: &Harness, request: warp::test::RequestBuilder) -> (StatusCode, Value) {
    let response = request.reply(&routes(h.state.clone())).await;
    let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    (response.status(), body)
}

/// The error code of an error answer.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

pub fn message(body: &Value) -> &str {
    body["error"]["message"]
        .as_str()
        .unwrap_or("<no error message>")
}

/// Tracks `(account, remote_id, tags)` as `bot`.
pub async fn track(h: &Harness, messages: &[(&str, &str, &[&str])]) {
    let list: Vec<Value> = messages
        .iter()
        .map(|(account, id, tags)| json!({"account": account, "remote_id": id, "tags": tags, "sent_at": 1_000}))
        .collect();
    let (status, body) = send(
        h,
        signed("POST", "/v1/messages", &json!({"messages": list}), BOT),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// How many jobs exist (ids are dense from 1).
pub async fn job_count(h: &Harness) -> i64 {
    let mut n = 0;
    while h.store.job(n + 1).await.unwrap().is_some() {
        n += 1;
    }
    n
}
