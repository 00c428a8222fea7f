//! The dead letters through the API (bearer): `GET /api/v1/dead-letters`
//! lists them, `POST /api/v1/dead-letters/replay` queues them again — how
//! `purgehook dlq` reaches a running embedded store — and
//! `POST /api/v1/dead-letters/delete` removes them for good: those that
//! cannot be replayed (their target is gone, a producer's bad message) or
//! are not wanted any more. One id (a letter's, or a job's its letter
//! covers), one target's, or every letter with `"all": true`; nothing is
//! deleted without saying which.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::ReceiverState;
use super::error::{ReceiveError, quoted};
use super::request::{authorize, bad_request, json_body, typed};
use crate::queue::ReplayFilter;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteRequest {
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    all: bool,
}

/// `POST /api/v1/dead-letters/delete` with `{"id"?, "target"?, "all"?}` → `{"deleted": [letters]}`.
pub async fn delete(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<ReceiverState>,
) -> Result<HttpResponse, ReceiveError> {
    authorize(&request, &state)?;
    let body = json_body(&request, payload, &state).await?;
    let asked: DeleteRequest = typed(body)?;
    if asked.target.is_none() && asked.id.is_none() && !asked.all {
        return Err(bad_request(
            "body",
            "say which letters: an id, a target, or \"all\": true",
        ));
    }
    let filter = ReplayFilter {
        target: asked.target,
        id: asked.id,
        configured: None,
    };
    let deleted = state.queue.delete_dead(&filter).await.map_err(|error| {
        tracing::error!(%error, "cannot delete dead letters");
        ReceiveError::Unavailable
    })?;
    if let (Some(id), true) = (&filter.id, deleted.is_empty()) {
        return Err(ReceiveError::NoDeadLetter(quoted(id)));
    }
    tracing::info!(
        deleted = deleted.len(),
        "dead letters deleted through the API"
    );
    Ok(HttpResponse::Ok().json(json!({ "deleted": deleted })))
}

/// `GET /api/v1/dead-letters`: every letter, oldest first.
pub async fn list(
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
pub async fn replay(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<ReceiverState>,
) -> Result<HttpResponse, ReceiveError> {
    authorize(&request, &state)?;
    let body = json_body(&request, payload, &state).await?;
    let asked: ReplayRequest = typed(body)?;
    let filter = ReplayFilter {
        target: asked.target,
        id: asked.id,
        configured: Some(state.routing.current().targets.keys().cloned().collect()),
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
