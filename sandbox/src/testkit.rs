//! Helpers for route tests: requests go through `Sandbox::routes()` with
//! `warp::test`, never a socket, and the clock is frozen so no window is
//! crossed unless a test moves it.

use serde_json::Value;
use warp::http::HeaderMap;
use warp::test::RequestBuilder;

use crate::{Config, Sandbox};

/// A response, decoded.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    /// The body as JSON, or `Null` when it is not JSON.
    pub(crate) json: Value,
    pub(crate) text: String,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `json[key]` as i64, or a test failure naming the body.
    pub(crate) fn int(&self, key: &str) -> i64 {
        match self.json.get(key).and_then(Value::as_i64) {
            Some(n) => n,
            None => panic!("no integer {key:?} in {}", self.text),
        }
    }

    /// `json[key]` as a string, or a test failure naming the body.
    pub(crate) fn str(&self, key: &str) -> String {
        match self.json.get(key).and_then(Value::as_str) {
            Some(s) => s.to_owned(),
            None => panic!("no string {key:?} in {}", self.text),
        }
    }
}

/// A sandbox with the documented defaults and a frozen clock.
pub(crate) fn sandbox() -> Sandbox {
    sandbox_with(|_| {})
}

/// A sandbox with a frozen clock and `change` applied to the defaults.
pub(crate) fn sandbox_with(change: impl FnOnce(&mut Config)) -> Sandbox {
    let mut config = Config {
        frozen_clock: true,
        ..Config::default()
    };
    change(&mut config);
    Sandbox::new(config)
}

/// Sends one request through the sandbox's filter.
pub(crate) async fn call(sandbox: &Sandbox, request: RequestBuilder) -> Answer {
    let response = request.reply(&sandbox.routes()).await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = String::from_utf8_lossy(response.body()).into_owned();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        json,
        text,
    }
}

/// A request with a method and a path (which may carry a query string).
pub(crate) fn request(method: &str, path: &str) -> RequestBuilder {
    warp::test::request().method(method).path(path)
}

/// A request with a JSON body.
pub(crate) fn json_request(method: &str, path: &str, body: &Value) -> RequestBuilder {
    request(method, path)
        .header("content-type", "application/json; charset=utf-8")
        .body(body.to_string())
}
