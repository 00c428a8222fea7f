//! `POST /api/v1/dead-letters/delete`: removes dead letters for good — those
//! that cannot be replayed (their target is gone, a producer's bad message)
//! or are not wanted any more. One id (a letter's, or a job's its letter
//! covers), one target's, or every letter with `"all": true`; nothing is
//! deleted without saying which.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::ReceiverState;
use super::api::{authorize, bad_request, json_body};
use super::error::ReceiveError;
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

/// The handler: `{"id"?, "target"?, "all"?}` → `{"deleted": [letters]}`.
pub async fn delete(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<ReceiverState>,
) -> Result<HttpResponse, ReceiveError> {
    authorize(&request, &state)?;
    let body = json_body(&request, payload, &state).await?;
    let asked: DeleteRequest = serde_path_to_error::deserialize(serde_json::Value::Object(body))
        .map_err(|error| {
            let field = match error.path().to_string() {
                root if root == "." => "body".to_string(),
                field => field,
            };
            bad_request(field, error.into_inner().to_string())
        })?;
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
        return Err(ReceiveError::NoDeadLetter(id.clone()));
    }
    tracing::info!(
        deleted = deleted.len(),
        "dead letters deleted through the API"
    );
    Ok(HttpResponse::Ok().json(json!({ "deleted": deleted })))
}
