//! The HTTP model the vendor handlers work on: a fully read request, decoding
//! helpers (query strings, form bodies, Basic and Bearer auth) and response
//! builders. Handlers are plain synchronous functions from `Request` to
//! `Response`, so no lock can be held across an await.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};
use warp::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use warp::http::{HeaderMap, Method, StatusCode};

pub(crate) type Response = warp::reply::Response;

/// One request, body already read (and size-capped).
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: Method,
    pub(crate) path: String,
    /// The raw query string, without `?`; empty when absent.
    pub(crate) query: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The first value of a query parameter, percent-decoded.
    pub(crate) fn query_param(&self, name: &str) -> Option<String> {
        form_pairs(&self.query)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// True when the Content-Type header mentions `needle`.
    pub(crate) fn content_type_has(&self, needle: &str) -> bool {
        self.header(CONTENT_TYPE.as_str())
            .is_some_and(|ct| ct.to_ascii_lowercase().contains(needle))
    }

    /// The body as a JSON value, whatever the Content-Type says.
    pub(crate) fn json_body(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as a JSON object, or `None` when it is not one.
    pub(crate) fn json_object(&self) -> Option<Map<String, Value>> {
        match self.json_body() {
            Some(Value::Object(map)) => Some(map),
            _ => None,
        }
    }

    /// `Authorization: Basic base64(user:password)`, decoded.
    pub(crate) fn basic_auth(&self) -> Option<(String, String)> {
        let value = self.header("authorization")?;
        let (scheme, encoded) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = BASE64.decode(encoded.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        Some((user.to_owned(), password.to_owned()))
    }

    /// The path split on `/`, without the leading empty segment.
    pub(crate) fn segments(&self) -> Vec<&str> {
        self.path.trim_start_matches('/').split('/').collect()
    }
}

/// Decodes `a=1&b=x+y` (query strings and form bodies) into pairs.
pub(crate) fn form_pairs(input: &str) -> Vec<(String, String)> {
    input
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

fn decode_component(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// Base64 of `user:password`, as clients put it in `Authorization: Basic`.
#[cfg(test)]
pub(crate) fn basic_credentials(user: &str, password: &str) -> String {
    BASE64.encode(format!("{user}:{password}"))
}

/// Decodes standard base64 into text, for the Feishu helpdesk header.
pub(crate) fn decode_base64_text(encoded: &str) -> Option<String> {
    let bytes = BASE64.decode(encoded.trim()).ok()?;
    String::from_utf8(bytes).ok()
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A JSON response with the given status.
pub(crate) fn json(code: u16, body: &Value) -> Response {
    json_bytes(code, body.to_string().into_bytes())
}

/// Any serializable value as a JSON response, without building a `Value`
/// first (seed answers carry hundreds of thousands of ids).
pub(crate) fn json_of<T: serde::Serialize>(code: u16, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => json_bytes(code, bytes),
        Err(e) => {
            tracing::error!(error = %e, "response could not be serialized");
            text(500, "internal error")
        }
    }
}

fn json_bytes(code: u16, bytes: Vec<u8>) -> Response {
    let mut response = Response::new(bytes.into());
    *response.status_mut() = status(code);
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// A plain-text response, e.g. the 404 for an unknown path.
pub(crate) fn text(code: u16, body: &'static str) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status(code);
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The answer to a path no vendor serves.
pub(crate) fn not_found() -> Response {
    text(404, "404 page not found")
}

/// Sets a header; a value that is not a valid header value is skipped.
pub(crate) fn set_header(response: &mut Response, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(name), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str, auth: Option<&str>) -> Request {
        let mut headers = HeaderMap::new();
        if let Some(auth) = auth {
            headers.insert(
                "authorization",
                HeaderValue::from_str(auth).expect("valid header"),
            );
        }
        Request {
            method: Method::GET,
            path: "/x".into(),
            query: query.into(),
            headers,
            body: Bytes::new(),
        }
    }

    #[test]
    fn query_params_are_decoded() {
        let r = request("appkey=a%2Bb&appsecret=x+y&flag", None);
        assert_eq!(r.query_param("appkey").as_deref(), Some("a+b"));
        assert_eq!(r.query_param("appsecret").as_deref(), Some("x y"));
        assert_eq!(r.query_param("flag").as_deref(), Some(""));
        assert_eq!(r.query_param("missing"), None);
    }

    #[test]
    fn basic_auth_round_trips() {
        let header = format!("Basic {}", basic_credentials("key", "se:cret"));
        let r = request("", Some(&header));
        assert_eq!(r.basic_auth(), Some(("key".into(), "se:cret".into())));
        assert_eq!(request("", Some("Bearer x")).basic_auth(), None);
        assert_eq!(request("", Some("Basic !!!")).basic_auth(), None);
    }
}
