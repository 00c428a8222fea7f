//! The operator API under `/api/v1`, behind `Authorization: Bearer <token>`
//! (tokens from `[server] api_tokens`): `POST /api/v1/purge` queues one
//! action for one target by hand; `GET /api/v1/dead-letters` lists the dead
//! letters and `POST /api/v1/dead-letters/replay` queues them again — how
//! `purgehook purge` and `purgehook dlq` reach a running embedded store.
//! Failed authentications are counted, logged (never the token) and, past
//! `[server] api_auth_failures` from one address, lock that address out of
//! the API for `api_lockout` (429 + `Retry-After`, the token unchecked).

use std::time::Instant;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;
use tracing::Instrument as _;

use super::error::{ReceiveError, quoted};
use super::hooks::read_body;
use super::limits::{ClientKey, Failed};
use super::{REFUSALS, ReceiverState};
use crate::action::Action;
use crate::capability::Refusal;
use crate::job::{Job, TargetId};
use crate::queue::ReplayFilter;
use crate::telemetry;
use crate::telemetry::trace::trace_span;

/// Registers the routes.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/api/v1/purge", web::post().to(purge))
        .route("/api/v1/dead-letters", web::get().to(dead_letters))
        .route("/api/v1/dead-letters/replay", web::post().to(replay))
        .route(
            "/api/v1/dead-letters/delete",
            web::post().to(super::dead_letters::delete),
        );
}

/// Refuses the request unless it carries one of the configured tokens, and
/// any request from an address locked out for failing too often.
pub(super) fn authorize(request: &HttpRequest, state: &ReceiverState) -> Result<(), ReceiveError> {
    let client = request.peer_addr().map(|peer| ClientKey::of(peer.ip()));
    let now = Instant::now();
    let lockout = &state.limits.lockout;
    if let Some(left) = client.and_then(|client| lockout.locked(client, now)) {
        telemetry::limited("api_locked_out");
        return Err(ReceiveError::LockedOut(left));
    }
    check_token(request, state).inspect_err(|error| {
        telemetry::api_auth_failure();
        let failed = client.map(|client| lockout.fail(client, now));
        let client = client.map(|client| client.to_string());
        if let Some(Failed::LockedOut(_)) = failed {
            if let Some(held_back) = REFUSALS.admit("api_locked_out") {
                tracing::warn!(
                    client,
                    held_back,
                    "too many failed API authentications; address locked out"
                );
            }
        } else if let Some(held_back) = REFUSALS.admit("api_auth_failure") {
            let failures = match failed {
                Some(Failed::Counted(count)) => count,
                _ => 0,
            };
            tracing::warn!(client, failures, held_back, %error, "API authentication failed");
        }
    })
}

/// Whether the request carries one of the configured tokens.
fn check_token(request: &HttpRequest, state: &ReceiverState) -> Result<(), ReceiveError> {
    if state.api_tokens.is_empty() {
        return Err(ReceiveError::Unauthorized(
            "the API is off: no [server] api_tokens are configured".into(),
        ));
    }
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| {
            ReceiveError::Unauthorized("an Authorization: Bearer <token> header is required".into())
        })?;
    let known = state.api_tokens.iter().fold(false, |found, token| {
        found | bool::from(token.expose().trim().as_bytes().ct_eq(presented.as_bytes()))
    });
    if known {
        Ok(())
    } else {
        Err(ReceiveError::Unauthorized(
            "the bearer token is not valid".into(),
        ))
    }
}

pub(super) fn bad_request(field: impl Into<String>, message: impl Into<String>) -> ReceiveError {
    ReceiveError::BadRequest {
        field: field.into(),
        message: message.into(),
    }
}

/// Reads a bounded JSON object body.
pub(super) async fn json_body(
    request: &HttpRequest,
    payload: web::Payload,
    state: &ReceiverState,
) -> Result<serde_json::Map<String, serde_json::Value>, ReceiveError> {
    let body = read_body(request, payload, state).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice(&body) {
        Ok(serde_json::Value::Object(object)) => Ok(object),
        Ok(_) => Err(bad_request("body", "expected a JSON object")),
        Err(error) => Err(bad_request("body", format!("not valid JSON: {error}"))),
    }
}

/// The `target` and `action` of a purge request, checked against the
/// target's provider.
fn purge_job(
    mut body: serde_json::Map<String, serde_json::Value>,
    state: &ReceiverState,
) -> Result<Job, ReceiveError> {
    let target = match body.remove("target") {
        Some(serde_json::Value::String(target)) => target,
        Some(_) => return Err(bad_request("target", "expected a string")),
        None => return Err(bad_request("target", "missing")),
    };
    // `{"target", "action": {…}}`, or the action's fields beside `target`.
    let (action, prefix) = match body.remove("action") {
        Some(action) => {
            if let Some(unknown) = body.keys().next() {
                return Err(bad_request(
                    unknown.clone(),
                    "unknown field; expected target and action",
                ));
            }
            (action, "action.")
        }
        None if body.contains_key("kind") => (serde_json::Value::Object(body), ""),
        None => return Err(bad_request("action", "missing")),
    };
    let capabilities = TargetId::new(&target)
        .ok()
        .and_then(|id| Some((state.targets.get(&id)?, id)));
    let Some((capabilities, target)) = capabilities else {
        return Err(ReceiveError::UnknownTarget(quoted(&target)));
    };
    // Where a field of the action is, in the body as sent.
    let field = |inner: &str| match (inner, prefix) {
        ("", "") => "body".to_string(),
        ("", _) => "action".to_string(),
        (inner, prefix) => format!("{prefix}{inner}"),
    };
    let action = Action::from_json(action)
        .map_err(|invalid| bad_request(field(&invalid.field), invalid.problem))?;
    match capabilities.accepts(&action) {
        Ok(()) => Ok(Job::new(target, action, None)),
        Err(Refusal::Invalid(invalid)) => Err(bad_request(field(&invalid.field), invalid.problem)),
        Err(Refusal::Kind { kind, .. }) => Err(bad_request(
            field("kind"),
            format!(
                "target {target:?} does not take {kind} purges; it takes {}",
                capabilities.kind_names()
            ),
        )),
        Err(refusal @ Refusal::Value(_)) => Err(bad_request(
            field(""),
            format!("target {target:?}: {refusal}"),
        )),
    }
}

/// `POST /api/v1/purge`.
async fn purge(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<ReceiverState>,
) -> Result<HttpResponse, ReceiveError> {
    authorize(&request, &state)?;
    let body = json_body(&request, payload, &state).await?;
    let job = purge_job(body, &state).inspect_err(|error| {
        tracing::warn!(code = error.code_name(), %error, "purge request refused");
    })?;
    let span = trace_span!("event", source = "api", job_id = %job.id, target_id = %job.target);
    let published = state
        .queue
        .publish(std::slice::from_ref(&job))
        .instrument(span)
        .await;
    if let Err(error) = published {
        tracing::error!(%error, "cannot queue purge request; answered 503");
        return Err(ReceiveError::Unavailable);
    }
    telemetry::jobs_queued(job.target.as_str(), 1);
    tracing::info!(target_id = %job.target, job_id = %job.id, kind = %job.action.kind(), "purge requested through the API");
    Ok(HttpResponse::Accepted().json(json!({"job_id": job.id, "target": job.target})))
}

/// `GET /api/v1/dead-letters`.
async fn dead_letters(
    request: HttpRequest,
    state: web::Data<ReceiverState>,
) -> Result<HttpResponse, ReceiveError> {
    authorize(&request, &state)?;
    let letters = state.queue.dead_letters().await.map_err(|error| {
        tracing::error!(%error, "cannot read dead letters");
        ReceiveError::Unavailable
    })?;
    Ok(HttpResponse::Ok().json(letters))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

/// `POST /api/v1/dead-letters/replay` with `{"target"?, "id"?}`.
async fn replay(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<ReceiverState>,
) -> Result<HttpResponse, ReceiveError> {
    authorize(&request, &state)?;
    let body = json_body(&request, payload, &state).await?;
    let asked: ReplayRequest = serde_path_to_error::deserialize(serde_json::Value::Object(body))
        .map_err(|error| {
            let field = match error.path().to_string() {
                root if root == "." => "body".to_string(),
                field => field,
            };
            bad_request(field, error.into_inner().to_string())
        })?;
    let filter = ReplayFilter {
        target: asked.target,
        id: asked.id,
        configured: Some(state.targets.keys().cloned().collect()),
    };
    let replayed = state.queue.replay(&filter).await.map_err(|error| {
        tracing::error!(%error, "cannot replay dead letters");
        ReceiveError::Unavailable
    })?;
    if let (Some(id), true) = (
        &filter.id,
        replayed.replayed.is_empty() && replayed.skipped.is_empty(),
    ) {
        return Err(ReceiveError::NoDeadLetter(quoted(id)));
    }
    tracing::info!(
        replayed = replayed.replayed.len(),
        skipped = replayed.skipped.len(),
        "dead letters replayed through the API"
    );
    Ok(HttpResponse::Ok().json(replayed))
}
