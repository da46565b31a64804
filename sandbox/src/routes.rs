//! The one warp filter: it reads any request whole (size-capped), hands control
//! routes to `control`, draws the injected latency and fault, waits without
//! holding any lock, and sends everything else to the vendor its path belongs
//! to (or answers with the fault instead).

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use warp::Filter;
use warp::http::{HeaderMap, Method};
use warp::path::FullPath;

use crate::wire::{self, Request, Response};
use crate::{Sandbox, Vendor, control, delay, dingtalk, engagelab, faults, feishu, jpush};

/// Every route of every vendor plus the controls; never rejects.
pub(crate) fn filter(
    sandbox: Sandbox,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(
            move |method: Method, path: FullPath, query: String, headers: HeaderMap, body| {
                let sandbox = sandbox.clone();
                async move {
                    let path = path.as_str().to_owned();
                    answer(sandbox, method, path, query, headers, body).await
                }
            },
        )
        .recover(|_rejection: warp::Rejection| async {
            // Only reachable if the body was taken twice: a bug here, not the client's.
            Ok::<_, Infallible>(wire::text(500, "internal error"))
        })
        .unify()
}

async fn answer<S, B>(
    sandbox: Sandbox,
    method: Method,
    path: String,
    query: String,
    headers: HeaderMap,
    body: S,
) -> Response
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    // The injected latency counts from the request's arrival: reading its
    // body is inside it.
    let arrived = Instant::now();
    let limit = sandbox.inner.config().max_body_bytes;
    let body = match read_body(body, limit).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return wire::text(413, "payload too large"),
        Err(BodyError::Read) => return wire::text(400, "request body could not be read"),
    };
    let request = Request {
        method,
        path,
        query,
        headers,
        body,
    };
    if request.path.starts_with("/_sandbox/") {
        return control::handle(&sandbox, &request);
    }
    let shared = &sandbox.inner;
    let config = shared.config();
    let vendor = Vendor::of_path(&request.path);
    // Parsing the endpoint twice costs a little: only when faults are set.
    let target = vendor
        .filter(|_| config.faults.any())
        .and_then(|v| endpoint(v, &request).map(|e| (v, e)));
    let (fault, jitter_ms) = faults::plan(shared, &config, target);
    let latency_ms = config.latency_ms.saturating_add(jitter_ms);
    if latency_ms > 0 {
        let asked = Duration::from_millis(latency_ms);
        delay::until(arrived + asked).await;
        shared.held.record(asked, arrived.elapsed());
    }
    match (fault, target) {
        (Some(kind), Some((vendor, endpoint))) => {
            if kind == faults::Kind::Timeout {
                tokio::time::sleep(faults::hold(&config, vendor)).await;
            }
            faults::answer(shared, &config, vendor, endpoint, kind)
        }
        _ => dispatch(&sandbox, vendor, &request),
    }
}

/// The endpoint a request of `vendor` calls (index into its names).
fn endpoint(vendor: Vendor, request: &Request) -> Option<usize> {
    match vendor {
        Vendor::Feishu => feishu::endpoint(request),
        Vendor::DingTalk => dingtalk::endpoint(request),
        Vendor::EngageLab => engagelab::endpoint(request),
        Vendor::JPush => jpush::endpoint(request),
    }
}

/// Hands the request to the vendor its path belongs to.
fn dispatch(sandbox: &Sandbox, vendor: Option<Vendor>, request: &Request) -> Response {
    let shared = &sandbox.inner;
    match vendor {
        Some(Vendor::Feishu) => feishu::handle(shared, request),
        Some(Vendor::DingTalk) => dingtalk::handle(shared, request),
        Some(Vendor::EngageLab) => engagelab::handle(shared, request),
        Some(Vendor::JPush) => jpush::handle(shared, request),
        None => wire::not_found(),
    }
}

enum BodyError {
    TooLarge,
    Read,
}

/// Reads the body, refusing it as soon as it grows past `limit`, so a large
/// or endless upload costs at most `limit` bytes of memory.
async fn read_body<S, B>(body: S, limit: usize) -> Result<Bytes, BodyError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut body = std::pin::pin!(body);
    let mut collected = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|_| BodyError::Read)?;
        if collected.len() + chunk.remaining() > limit {
            return Err(BodyError::TooLarge);
        }
        while chunk.has_remaining() {
            let piece = chunk.chunk();
            collected.extend_from_slice(piece);
            let n = piece.len();
            chunk.advance(n);
        }
    }
    Ok(collected.freeze())
}
