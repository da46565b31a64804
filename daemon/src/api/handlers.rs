//! What each route does once the request is signed. Order inside every
//! handler: scope check, body parsing and validation, then one store call
//! that records the delivery id together with the request's writes, so a
//! refused or replayed request writes nothing.

use bytes::Bytes;
use http::StatusCode;
use plugin_api::OperationKind;
use serde::de::DeserializeOwned;
use warp::Reply as _;
use warp::reply::Response;

use super::AppState;
use super::auth::Caller;
use super::errors::ApiError;
use super::models::*;
use crate::accounts::{unsupported, unsupported_reached};
use crate::config::Action;
use crate::rules::MessageView;
use crate::scope::{require_action, require_event, require_selector, require_tags};
use crate::selector::Selector;
use crate::store::{JobSpec, NewMessage};

pub(super) type Handled = Result<Response, warp::Rejection>;

pub(super) fn json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}

/// Parses a JSON body; the error names the field (`messages[2].sent_at`).
///
/// Well-formed bodies (nearly all of them) are parsed once with plain
/// serde_json; only a body that fails is parsed again, tracking the path,
/// to name the field. Both parses are deterministic, so the second fails
/// exactly where the first did.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    match serde_json::from_slice(body) {
        Ok(value) => Ok(value),
        Err(_) => parse_json_naming_the_field(body),
    }
}

/// The slow path of [`parse_json`]: the same parse, tracking where it is.
fn parse_json_naming_the_field<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::MalformedJson(inner.to_string())
        } else if field == "." {
            ApiError::invalid("body", inner.to_string())
        } else {
            ApiError::invalid(field, inner.to_string())
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    Ok(value)
}

pub(super) fn unknown_account(state: &AppState, field: String, name: &str) -> ApiError {
    let known: Vec<&str> = state.accounts().keys().map(String::as_str).collect();
    ApiError::unprocessable(
        "unknown_account",
        field,
        format!(
            "unknown account {name:?} (configured: {})",
            known.join(", ")
        ),
    )
}

fn action_kind(action: RecallAction) -> (Action, OperationKind) {
    match action {
        RecallAction::Recall => (Action::Recall, OperationKind::Recall),
        RecallAction::Cancel => (Action::Cancel, OperationKind::Cancel),
    }
}

fn refuse_unsupported(
    action: OperationKind,
    accounts: Vec<String>,
    hint: &str,
) -> Result<(), ApiError> {
    if accounts.is_empty() {
        return Ok(());
    }
    Err(ApiError::unprocessable(
        "unsupported_action",
        "action",
        format!(
            "{action} is not supported by account(s) {}{hint}",
            accounts.join(", ")
        ),
    ))
}

/// `POST /v1/messages`.
pub async fn track(caller: Caller, body: Bytes, state: AppState) -> Handled {
    let client = &caller.client;
    require_action(&client.name, &client.scopes, Action::Track).map_err(ApiError::from)?;
    let request: TrackRequest = parse_json(&body)?;
    let now = crate::clock::now_ms();
    let rules = state.rules().current();
    let plan_age = rules.has_age_rules();
    let mut planned = false;
    let mut messages = Vec::with_capacity(request.messages.len());
    for (i, m) in request.messages.into_iter().enumerate() {
        if !state.accounts().contains_key(&m.account) {
            return Err(
                unknown_account(&state, format!("messages[{i}].account"), &m.account).into(),
            );
        }
        if m.remote_id.is_empty() {
            return Err(ApiError::unprocessable(
                "invalid_message",
                format!("messages[{i}].remote_id"),
                "is empty",
            )
            .into());
        }
        if m.tags.iter().any(String::is_empty) {
            return Err(ApiError::unprocessable(
                "invalid_message",
                format!("messages[{i}].tags"),
                "contains an empty tag",
            )
            .into());
        }
        // Tracking a tag is a way to select: an age rule on it would recall
        // the message, so only tags the client may select are accepted.
        require_tags(
            &client.name,
            &client.scopes,
            "track",
            m.tags.iter().map(String::as_str),
        )
        .map_err(ApiError::from)?;
        if !m.meta.is_object() {
            return Err(
                ApiError::invalid(format!("messages[{i}].meta"), "must be a JSON object").into(),
            );
        }
        let sent_at_ms = m.sent_at.map_or(now, |t| t.0);
        let age = if plan_age {
            rules.plan_age(MessageView {
                account: &m.account,
                remote_id: &m.remote_id,
                sent_at_ms,
                tags: &m.tags,
                meta: &m.meta,
            })
        } else {
            Vec::new()
        };
        planned |= !age.is_empty();
        messages.push(NewMessage {
            account: m.account,
            remote_id: m.remote_id,
            sent_at_ms,
            tags: m.tags,
            meta: m.meta,
            age,
        });
    }
    let result = state
        .store()
        .track(messages, Some(caller.delivery))
        .await
        .map_err(ApiError::from)?;
    if planned {
        state.age_tracked().notify_one();
    }
    Ok(json(StatusCode::OK, &result))
}

/// `POST /v1/recalls`: a job, or with `dry_run` what it would match.
pub async fn recall(caller: Caller, body: Bytes, state: AppState) -> Handled {
    let request: RecallRequest = parse_json(&body)?;
    let (action, kind) = action_kind(request.action);
    let client = &caller.client;
    require_action(&client.name, &client.scopes, action).map_err(ApiError::from)?;
    let selector = request.select;
    selector
        .validate(|a| state.accounts().contains_key(a))
        .map_err(|e| {
            ApiError::unprocessable("invalid_selector", format!("select.{}", e.field), e.message)
        })?;
    require_selector(&client.name, &client.scopes, &selector).map_err(ApiError::from)?;
    if request.dry_run {
        let preview = state
            .store()
            .preview(selector, DRY_RUN_SAMPLE)
            .await
            .map_err(ApiError::from)?;
        // The job itself would be refused over the client's cap: say so now.
        if preview.matched > client.scopes.max_messages {
            return Err(ApiError::from(crate::store::StoreError::TooManyMessages {
                matched: preview.matched,
                cap: client.scopes.max_messages,
            })
            .into());
        }
        let matched_accounts = preview.per_account.keys().map(String::as_str);
        refuse_unsupported(
            kind,
            unsupported(state.accounts(), matched_accounts, kind),
            "",
        )?;
        state
            .store()
            .record_delivery(caller.delivery)
            .await
            .map_err(ApiError::from)?;
        let sample = preview
            .sample
            .iter()
            .filter_map(|row| serde_json::to_value(row).ok())
            .collect();
        let answer = DryRun {
            dry_run: true,
            matched: preview.matched,
            per_account: preview.per_account,
            sample,
        };
        return Ok(json(StatusCode::OK, &answer));
    }
    check_supported(&state, kind, &selector).await?;
    let spec = JobSpec {
        requested_by: client.name.clone(),
        reason: request.reason,
        action: kind,
        selector,
        params: serde_json::Value::Null,
        max_messages: client.scopes.max_messages,
        now_ms: crate::clock::now_ms(),
    };
    accept_job(&state, spec, caller).await
}

/// Refuses a job whose matched messages live on accounts whose plugin
/// cannot do `action`. Only looks at the ledger when some candidate
/// account lacks the operation.
async fn check_supported(
    state: &AppState,
    action: OperationKind,
    selector: &Selector,
) -> Result<(), ApiError> {
    let lacking = unsupported_reached(state.store(), state.accounts(), selector, action).await?;
    let hint = if selector.accounts.is_empty() {
        "; narrow the selector with select.accounts"
    } else {
        ""
    };
    refuse_unsupported(action, lacking, hint)
}

async fn accept_job(state: &AppState, spec: JobSpec, caller: Caller) -> Handled {
    let action = spec.action;
    let created = state
        .store()
        .create_job(spec, Some(caller.delivery))
        .await
        .map_err(ApiError::from)?;
    state.metrics().job_created(action.as_str());
    for account in created.per_account.keys() {
        state.wake(account);
    }
    let answer = JobAccepted {
        job_id: created.job_id,
        matched: created.matched,
        per_account: created.per_account,
    };
    Ok(json(StatusCode::ACCEPTED, &answer))
}

/// `POST /v1/updates`: an `update` job for one message.
pub async fn update(caller: Caller, body: Bytes, state: AppState) -> Handled {
    let client = &caller.client;
    require_action(&client.name, &client.scopes, Action::Update).map_err(ApiError::from)?;
    let request: UpdateRequest = parse_json(&body)?;
    let Some(account) = state.accounts().get(&request.account) else {
        return Err(unknown_account(&state, "account".into(), &request.account).into());
    };
    if request.remote_id.is_empty() {
        return Err(ApiError::unprocessable("invalid_message", "remote_id", "is empty").into());
    }
    let kind = OperationKind::Update;
    refuse_unsupported(
        kind,
        unsupported(
            state.accounts(),
            std::iter::once(account.name.as_str()),
            kind,
        ),
        "",
    )?;
    let selector = Selector {
        ids: vec![request.remote_id.clone()],
        accounts: vec![request.account.clone()],
        ..Selector::default()
    };
    require_selector(&client.name, &client.scopes, &selector).map_err(ApiError::from)?;
    if state
        .store()
        .preview(selector.clone(), 0)
        .await
        .map_err(ApiError::from)?
        .matched
        == 0
    {
        return Err(ApiError::NotFound(format!(
            "no tracked message {:?} on account {}; track it with POST /v1/messages first",
            request.remote_id, request.account
        ))
        .into());
    }
    let spec = JobSpec {
        requested_by: client.name.clone(),
        reason: request.reason,
        action: kind,
        selector,
        params: serde_json::Value::Object(request.content),
        max_messages: client.scopes.max_messages,
        now_ms: crate::clock::now_ms(),
    };
    accept_job(&state, spec, caller).await
}

/// `POST /v1/events/{name}`: fires every enabled rule listening to the
/// event; 202 with their jobs, 200 when no rule listens, 422 when every
/// listening rule was refused.
pub async fn event(name: String, caller: Caller, body: Bytes, state: AppState) -> Handled {
    let client = &caller.client;
    require_action(&client.name, &client.scopes, Action::Event).map_err(ApiError::from)?;
    require_event(&client.name, &client.scopes, &name).map_err(ApiError::from)?;
    let payload: serde_json::Value = parse_json(&body)?;
    if !payload.is_object() {
        return Err(ApiError::invalid("body", "the event payload must be a JSON object").into());
    }
    let rules = state.rules().current();
    let outcome = state
        .firer()
        .event(
            &rules,
            &name,
            &payload,
            &client.name,
            &client.scopes,
            caller.delivery,
        )
        .await
        .map_err(ApiError::from)?;
    let status = if !outcome.jobs.is_empty() {
        StatusCode::ACCEPTED
    } else if !outcome.refused.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(json(status, &outcome))
}
