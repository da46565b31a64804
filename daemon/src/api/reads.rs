//! The routes that only read: job progress, ledger pages, probes, metrics
//! and the OpenAPI document. The signed ones record their delivery id like
//! every other signed request, so a replayed read is refused too.

use bytes::Bytes;
use http::StatusCode;
use warp::Reply as _;

use super::AppState;
use super::auth::Caller;
use super::errors::ApiError;
use super::handlers::{Handled, json, unknown_account};
use super::models::*;
use crate::config::Action;
use crate::scope::{may_read_job, require_action, require_ledger_tag};

/// `GET /v1/jobs/{id}`.
pub async fn job(job_id: i64, caller: Caller, _body: Bytes, state: AppState) -> Handled {
    require_action(&caller.client.name, &caller.client.scopes, Action::Read)
        .map_err(ApiError::from)?;
    state
        .store()
        .record_delivery(caller.delivery)
        .await
        .map_err(ApiError::from)?;
    let client = &caller.client;
    match state.store().job(job_id).await.map_err(ApiError::from)? {
        // A job the client may not see is answered like a missing one, so
        // its existence is not disclosed either.
        Some(progress)
            if may_read_job(
                &client.name,
                &client.scopes,
                &progress.requested_by,
                &progress.selector,
            ) =>
        {
            Ok(json(StatusCode::OK, &progress))
        }
        _ => Err(ApiError::NotFound(format!("no job {job_id}")).into()),
    }
}

/// `GET /v1/messages?tag=&account=&after=&limit=`.
pub async fn ledger(
    caller: Caller,
    _body: Bytes,
    pairs: Vec<(String, String)>,
    state: AppState,
) -> Handled {
    require_action(&caller.client.name, &caller.client.scopes, Action::Read)
        .map_err(ApiError::from)?;
    let query =
        LedgerQuery::parse(&pairs).map_err(|(field, message)| ApiError::invalid(field, message))?;
    let client = &caller.client;
    require_ledger_tag(&client.name, &client.scopes, query.tag.as_deref())
        .map_err(ApiError::from)?;
    if let Some(account) = &query.account
        && !state.accounts().contains_key(account)
    {
        return Err(unknown_account(&state, "account".into(), account).into());
    }
    state
        .store()
        .record_delivery(caller.delivery)
        .await
        .map_err(ApiError::from)?;
    let rows = state
        .store()
        .messages(query.tag, query.account, query.after, query.limit)
        .await
        .map_err(ApiError::from)?;
    let next_after = (rows.len() as u64 == u64::from(query.limit))
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(json(
        StatusCode::OK,
        &Ledger {
            messages: rows,
            next_after,
        },
    ))
}

pub async fn healthz() -> Handled {
    Ok(json(StatusCode::OK, &serde_json::json!({"status": "ok"})))
}

pub async fn readyz(state: AppState) -> Handled {
    if state.is_ready() {
        // A refused rule change does not make the daemon unready (the
        // previous rules run); it is reported here and in metrics.
        let rules = state.rules().status();
        Ok(json(
            StatusCode::OK,
            &serde_json::json!({"status": "ready", "rules": rules}),
        ))
    } else {
        Err(ApiError::NotReady.into())
    }
}

pub async fn metrics(state: AppState) -> Handled {
    let text = state.metrics().render();
    Ok(
        warp::reply::with_header(text, "content-type", crate::metrics::CONTENT_TYPE)
            .into_response(),
    )
}

pub async fn openapi() -> Handled {
    Ok(
        warp::reply::with_header(super::OPENAPI, "content-type", "application/json")
            .into_response(),
    )
}
