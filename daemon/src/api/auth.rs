//! The signature filter: size-limited body, then "which configured client
//! signed this?". Every client of the request's scheme is tried until one
//! of its keys verifies the signature. At most one can: the config refuses
//! two clients of one scheme that share a key (`Config::resolve_secrets`).
//! The replay check happens later, in the store, in the same transaction
//! as the request's writes.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut as _, Bytes, BytesMut};
use futures_util::{Stream, StreamExt as _};
use warp::Filter;
use warp::Rejection;

use super::errors::ApiError;
use super::{AppState, ClientAuth};
use crate::auth::{
    AuthFailure, GITHUB_DELIVERY, GITHUB_SIGNATURE, WEBHOOK_ID, WEBHOOK_SIGNATURE,
    WEBHOOK_TIMESTAMP,
};
use crate::auth::{StandardHeaders, verify_github};
use crate::config::Scheme;
use crate::store::Delivery;

/// GitHub deliveries carry no timestamp: their ids are remembered this long.
pub const GITHUB_REPLAY_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// Who signed a request, and the delivery id to record against replays.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub client: Arc<ClientAuth>,
    pub delivery: Delivery,
}

/// The body, at most `limit` bytes. A declared `Content-Length` over the
/// limit is refused before anything is read; a body without one (chunked)
/// is read up to the limit and refused as soon as it passes it.
pub fn limited_body(limit: u64) -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and_then(move |declared: Option<u64>| async move {
            match declared {
                Some(length) if length > limit => {
                    Err(warp::reject::custom(ApiError::BodyTooLarge { limit }))
                }
                _ => Ok(()),
            }
        })
        .untuple_one()
        .and(warp::body::stream())
        .and_then(move |stream| read_capped(stream, limit))
}

pub(super) async fn read_capped<S, B>(stream: S, limit: u64) -> Result<Bytes, Rejection>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: bytes::Buf,
{
    let mut stream = std::pin::pin!(stream);
    // A small body comes in one chunk: it is kept as it came (for `Bytes`,
    // `copy_to_bytes` copies nothing). Only a second chunk starts a buffer.
    let mut first = Bytes::new();
    let mut joined: Option<BytesMut> = None;
    let mut len = 0usize;
    while let Some(chunk) = stream.next().await {
        let mut chunk = chunk.map_err(|e| ApiError::BodyRead(e.to_string()))?;
        let n = chunk.remaining();
        if (len + n) as u64 > limit {
            return Err(ApiError::BodyTooLarge { limit }.into());
        }
        len += n;
        match &mut joined {
            Some(body) => body.put(chunk),
            None if first.is_empty() => first = chunk.copy_to_bytes(n),
            None => {
                let mut body = BytesMut::with_capacity(len);
                body.extend_from_slice(&first);
                body.put(chunk);
                joined = Some(body);
            }
        }
    }
    Ok(joined.map_or(first, BytesMut::freeze))
}

/// The body (size-limited) and who signed it; 401 rejections otherwise.
pub(crate) fn signed(
    state: AppState,
) -> impl Filter<Extract = (Caller, Bytes), Error = Rejection> + Clone {
    limited_body(state.config().api.max_body_bytes)
        .and(warp::header::headers_cloned())
        .and(warp::any().map(move || state.clone()))
        .and_then(
            |body: Bytes, headers: http::HeaderMap, state: AppState| async move {
                let tolerance = state.config().api.timestamp_tolerance;
                match authenticate(
                    state.clients(),
                    &headers,
                    &body,
                    crate::clock::now_ms(),
                    tolerance,
                ) {
                    Ok(caller) => Ok((caller, body)),
                    Err(failure) => Err(warp::reject::custom(ApiError::Auth(failure))),
                }
            },
        )
        .untuple_one()
}

/// Which client signed this request. The scheme is chosen by the headers
/// present (Standard Webhooks first); failures other than a bad signature
/// (missing or malformed header, stale timestamp) do not depend on the key,
/// so they are reported at once.
pub(crate) fn authenticate(
    clients: &[Arc<ClientAuth>],
    headers: &http::HeaderMap,
    body: &[u8],
    now_ms: i64,
    tolerance: Duration,
) -> Result<Caller, AuthFailure> {
    let speaks_standard = [WEBHOOK_ID, WEBHOOK_TIMESTAMP, WEBHOOK_SIGNATURE]
        .iter()
        .any(|h| headers.contains_key(*h));
    let speaks_github = [GITHUB_SIGNATURE, GITHUB_DELIVERY]
        .iter()
        .any(|h| headers.contains_key(*h));
    let scheme = match (speaks_standard, speaks_github) {
        (true, _) => Scheme::StandardWebhooks,
        (false, true) => Scheme::Github,
        (false, false) => {
            let only_github =
                !clients.is_empty() && clients.iter().all(|c| c.scheme == Scheme::Github);
            return Err(AuthFailure::MissingHeader(if only_github {
                GITHUB_SIGNATURE
            } else {
                WEBHOOK_SIGNATURE
            }));
        }
    };
    let now_secs = now_ms.div_euclid(1000);
    // The Standard Webhooks headers are the same whichever client signed:
    // checked and decoded once.
    let standard = match scheme {
        Scheme::StandardWebhooks => Some(StandardHeaders::parse(headers, now_secs, tolerance)?),
        Scheme::Github => None,
    };
    for client in clients.iter().filter(|c| c.scheme == scheme) {
        let verified = match &standard {
            Some(standard) => standard.verify(body, &client.keys),
            None => verify_github(headers, body, &client.keys),
        };
        match verified {
            Ok(verified) => {
                let expires_at_ms = match &standard {
                    Some(standard) => standard_expiry(now_ms, standard.timestamp, tolerance),
                    None => now_ms.saturating_add(
                        i64::try_from(GITHUB_REPLAY_WINDOW.as_millis()).unwrap_or(i64::MAX),
                    ),
                };
                return Ok(Caller {
                    client: Arc::clone(client),
                    delivery: Delivery {
                        client: client.name.clone(),
                        id: verified.delivery_id,
                        expires_at_ms,
                    },
                });
            }
            Err(AuthFailure::BadSignature) => continue,
            Err(other) => return Err(other),
        }
    }
    Err(AuthFailure::BadSignature)
}

/// How long a Standard Webhooks id is remembered: twice the tolerance from
/// now, and at least until its timestamp stops being accepted (the check
/// takes `timestamp` up to `tolerance` seconds ahead, to the end of that
/// second), so an id is never purged while a replay of it would still pass.
fn standard_expiry(now_ms: i64, timestamp: i64, tolerance: Duration) -> i64 {
    let window_ms = i64::try_from(tolerance.saturating_mul(2).as_millis()).unwrap_or(i64::MAX);
    let tolerance_secs = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    let last_accepted = timestamp
        .saturating_add(tolerance_secs)
        .saturating_add(1)
        .saturating_mul(1000);
    now_ms.saturating_add(window_ms).max(last_accepted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{sign_github, sign_standard};
    use crate::config::Scopes;
    use http::{HeaderMap, HeaderValue};

    const TOLERANCE: Duration = Duration::from_secs(300);
    const NOW_MS: i64 = 1_800_000_000_000;

    fn client(name: &str, scheme: Scheme, key: &[u8]) -> Arc<ClientAuth> {
        Arc::new(ClientAuth {
            name: name.into(),
            scheme,
            keys: vec![crate::auth::HmacKey::new(key)],
            scopes: Scopes {
                events: Vec::new(),
                actions: vec![],
                tags: vec![],
                max_messages: 1,
                all: false,
            },
        })
    }

    fn standard(key: &[u8], id: &str, ts: i64, body: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(WEBHOOK_ID, HeaderValue::from_str(id).unwrap());
        h.insert(
            WEBHOOK_TIMESTAMP,
            HeaderValue::from_str(&ts.to_string()).unwrap(),
        );
        h.insert(
            WEBHOOK_SIGNATURE,
            HeaderValue::from_str(&sign_standard(key, id, ts, body)).unwrap(),
        );
        h
    }

    #[test]
    fn the_first_client_whose_secret_matches_wins_and_its_window_is_set() {
        let clients = [
            client("a", Scheme::StandardWebhooks, b"key-a"),
            client("b", Scheme::StandardWebhooks, b"key-b"),
        ];
        let caller = authenticate(
            &clients,
            &standard(b"key-b", "msg_1", NOW_MS / 1000, b"{}"),
            b"{}",
            NOW_MS,
            TOLERANCE,
        )
        .unwrap();
        assert_eq!(caller.client.name, "b");
        assert_eq!(
            (caller.delivery.client.as_str(), caller.delivery.id.as_str()),
            ("b", "msg_1")
        );
        assert_eq!(caller.delivery.expires_at_ms, NOW_MS + 600_000);
    }

    #[test]
    fn an_id_is_remembered_as_long_as_its_timestamp_is_accepted() {
        let clients = [client("a", Scheme::StandardWebhooks, b"k")];
        let now_secs = NOW_MS / 1000;
        for (now_ms, ts) in [
            (NOW_MS, now_secs + 300),
            (NOW_MS + 999, now_secs + 300),
            (NOW_MS + 999, now_secs + 17),
        ] {
            let caller = authenticate(
                &clients,
                &standard(b"k", "msg_1", ts, b""),
                b"",
                now_ms,
                TOLERANCE,
            )
            .unwrap();
            // The last instant the timestamp passes is (ts + 301) s - 1 ms;
            // purging keeps rows whose expiry is not before now.
            let last_accepted_ms = (ts + 301) * 1000 - 1;
            assert!(
                caller.delivery.expires_at_ms > last_accepted_ms,
                "{ts}: expires {} but accepted until {last_accepted_ms}",
                caller.delivery.expires_at_ms
            );
            assert!(caller.delivery.expires_at_ms >= now_ms + 600_000);
        }
    }

    #[test]
    fn github_clients_are_found_by_their_header_and_remember_ids_for_a_week() {
        let clients = [
            client("std", Scheme::StandardWebhooks, b"k"),
            client("gh", Scheme::Github, b"gh-secret"),
        ];
        let mut h = HeaderMap::new();
        h.insert(GITHUB_DELIVERY, HeaderValue::from_static("d-1"));
        h.insert(
            GITHUB_SIGNATURE,
            HeaderValue::from_str(&sign_github(b"gh-secret", b"x")).unwrap(),
        );
        let caller = authenticate(&clients, &h, b"x", NOW_MS, TOLERANCE).unwrap();
        assert_eq!(caller.client.name, "gh");
        assert_eq!(caller.delivery.expires_at_ms, NOW_MS + 7 * 24 * 3600 * 1000);
        assert_eq!(
            authenticate(&clients, &h, b"y", NOW_MS, TOLERANCE).unwrap_err(),
            AuthFailure::BadSignature
        );
    }

    #[test]
    fn no_signature_headers_names_the_configured_scheme_header() {
        let std_only = [client("a", Scheme::StandardWebhooks, b"k")];
        let gh_only = [client("g", Scheme::Github, b"k")];
        let none = HeaderMap::new();
        assert_eq!(
            authenticate(&std_only, &none, b"", NOW_MS, TOLERANCE).unwrap_err(),
            AuthFailure::MissingHeader(WEBHOOK_SIGNATURE)
        );
        assert_eq!(
            authenticate(&gh_only, &none, b"", NOW_MS, TOLERANCE).unwrap_err(),
            AuthFailure::MissingHeader(GITHUB_SIGNATURE)
        );
        assert_eq!(
            authenticate(&[], &none, b"", NOW_MS, TOLERANCE).unwrap_err(),
            AuthFailure::MissingHeader(WEBHOOK_SIGNATURE)
        );
    }

    #[test]
    fn a_stale_request_is_stale_whatever_the_client() {
        let clients = [client("a", Scheme::StandardWebhooks, b"k")];
        let old = NOW_MS / 1000 - 301;
        let err = authenticate(
            &clients,
            &standard(b"k", "msg_1", old, b""),
            b"",
            NOW_MS,
            TOLERANCE,
        )
        .unwrap_err();
        assert_eq!(
            err,
            AuthFailure::StaleTimestamp {
                tolerance_secs: 300
            }
        );
    }
}
