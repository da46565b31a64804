//! The one warp filter: it reads any request whole (size-capped), hands control
//! routes to `control`, applies the injected latency without holding any lock,
//! and sends everything else to the vendor its path belongs to.

use std::convert::Infallible;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use warp::Filter;
use warp::http::{HeaderMap, Method};
use warp::path::FullPath;

use crate::wire::{self, Request, Response};
use crate::{Sandbox, control, dingtalk, engagelab, feishu, jpush};

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
    let latency_ms = sandbox.inner.config().latency_ms;
    if latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(latency_ms)).await;
    }
    dispatch(&sandbox, &request)
}

/// Picks the vendor by its real path prefix.
fn dispatch(sandbox: &Sandbox, request: &Request) -> Response {
    let shared = &sandbox.inner;
    let path = request.path.as_str();
    if path.starts_with("/open-apis/") {
        feishu::handle(shared, request)
    } else if path == "/gettoken" || path.starts_with("/topapi/") {
        dingtalk::handle(shared, request)
    } else if path.starts_with("/v4/") {
        engagelab::handle(shared, request)
    } else if path.starts_with("/v3/") {
        jpush::handle(shared, request)
    } else {
        wire::not_found()
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
