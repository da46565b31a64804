//! The one place that maps errors to HTTP: every [`ApiError`] and every warp
//! rejection becomes a status and `{"error": {"code", "message"}}`. Anything
//! unknown is logged and answered with a bare 500. Messages never carry
//! secrets: auth failures name headers, never their values.

use std::convert::Infallible;
use std::sync::Arc;

use http::StatusCode;
use warp::Reply as _;
use warp::reply::Response;

use crate::auth::AuthFailure;
use crate::metrics::Metrics;
use crate::store::StoreError;

/// Why the API refused or failed a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Auth(AuthFailure),
    #[error("the request body is larger than the {limit} bytes allowed (api.max_body_bytes)")]
    BodyTooLarge { limit: u64 },
    #[error("cannot read the request body: {0}")]
    BodyRead(String),
    /// Not JSON at all: syntax error or truncated.
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    /// JSON of the wrong shape: wrong type, unknown or missing field.
    #[error("{field}: {message}")]
    InvalidField { field: String, message: String },
    /// A well-formed request that names something wrong (unknown account,
    /// empty selector, action the vendor cannot do).
    #[error("{field}: {message}")]
    Unprocessable {
        code: &'static str,
        field: String,
        message: String,
    },
    /// The client's scopes do not allow this.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("the daemon is starting or shutting down")]
    NotReady,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl warp::reject::Reject for ApiError {}

/// A scope refusal is a 403 with its own code.
impl From<crate::scope::Refusal> for ApiError {
    fn from(refusal: crate::scope::Refusal) -> Self {
        ApiError::Forbidden {
            code: refusal.code,
            message: refusal.message,
        }
    }
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn unprocessable(
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ApiError::Unprocessable {
            code,
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Forbidden {
            code,
            message: message.into(),
        }
    }

    /// Status and machine-readable code. `None` means "unknown": log it and
    /// answer a bare 500.
    fn classify(&self) -> Option<(StatusCode, &'static str)> {
        Some(match self {
            ApiError::Auth(failure) => (StatusCode::UNAUTHORIZED, failure.code()),
            ApiError::BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            ApiError::BodyRead(_) => (StatusCode::BAD_REQUEST, "body_unreadable"),
            ApiError::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            ApiError::InvalidField { .. } => (StatusCode::BAD_REQUEST, "invalid_field"),
            ApiError::Unprocessable { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            ApiError::Forbidden { code, .. } => (StatusCode::FORBIDDEN, code),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::NotReady => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
            ApiError::Store(StoreError::Replay) => {
                (StatusCode::UNAUTHORIZED, AuthFailure::Replay.code())
            }
            ApiError::Store(StoreError::TooManyMessages { .. }) => {
                (StatusCode::FORBIDDEN, "too_many_messages")
            }
            ApiError::Store(StoreError::Closed) => {
                (StatusCode::SERVICE_UNAVAILABLE, "shutting_down")
            }
            ApiError::Store(StoreError::Database(_)) => return None,
        })
    }

    fn message(&self) -> String {
        match self {
            ApiError::Store(StoreError::TooManyMessages { matched, cap }) => format!(
                "the selector matches {matched} messages, more than the {cap} this client may touch at once; narrow the selector or split the request"
            ),
            ApiError::Store(StoreError::Replay) => AuthFailure::Replay.to_string(),
            other => other.to_string(),
        }
    }
}

/// The error body every non-2xx answer carries.
pub fn error_reply(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

fn internal(what: &dyn std::fmt::Debug) -> Response {
    tracing::error!("api: unexpected error: {what:?}");
    error_reply(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error; see the daemon log",
    )
}

/// Maps an [`ApiError`] to its answer; every 401 is counted in `metrics`.
pub fn api_error_reply(error: &ApiError, metrics: &Metrics) -> Response {
    let Some((status, code)) = error.classify() else {
        return internal(error);
    };
    if status == StatusCode::UNAUTHORIZED {
        metrics.auth_failure(code);
    }
    error_reply(status, code, &error.message())
}

/// warp's `recover`: the one mapping from rejections to answers.
pub async fn handle_rejection(
    rejection: warp::Rejection,
    metrics: Arc<Metrics>,
) -> Result<Response, Infallible> {
    if let Some(error) = rejection.find::<ApiError>() {
        return Ok(api_error_reply(error, &metrics));
    }
    let (status, code, message) = if rejection.is_not_found() {
        (
            StatusCode::NOT_FOUND,
            "not_found",
            "no such route; see GET /v1/openapi.json",
        )
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not accept that method",
        )
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is too large",
        )
    } else if rejection.find::<warp::reject::InvalidQuery>().is_some() {
        (
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "the query string cannot be decoded",
        )
    } else if rejection.find::<warp::reject::InvalidHeader>().is_some() {
        (
            StatusCode::BAD_REQUEST,
            "invalid_header",
            "a request header (e.g. content-length) is malformed",
        )
    } else {
        return Ok(internal(&rejection));
    };
    Ok(error_reply(status, code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_their_statuses_and_a_database_error_is_hidden() {
        let metrics = Metrics::new();
        let replay = api_error_reply(&ApiError::Store(StoreError::Replay), &metrics);
        assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
        let cap = api_error_reply(
            &ApiError::Store(StoreError::TooManyMessages {
                matched: 12,
                cap: 10,
            }),
            &metrics,
        );
        assert_eq!(cap.status(), StatusCode::FORBIDDEN);
        let db = ApiError::Store(StoreError::Database(
            "disk I/O error at /var/lib/secret-path".into(),
        ));
        assert_eq!(
            api_error_reply(&db, &metrics).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert!(
            metrics
                .render()
                .contains(r#"recalld_auth_failures_total{reason="replay"} 1"#)
        );
    }
}
