//! The operator API under `/api/v1`, behind `Authorization: Bearer <token>`
//! (tokens from `[server] api_tokens`; see [`request`](super::request) for
//! how failed authentications lock an address out): its routes, and
//! `POST /api/v1/purge`, which queues one action for one target by hand —
//! how `purgehook purge` reaches a running embedded store. The dead-letter
//! routes are in [`dead_letters`](super::dead_letters).

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use tracing::Instrument as _;

use super::ReceiverState;
use super::dead_letters;
use super::error::{ReceiveError, quoted};
use super::request::{authorize, bad_request, json_body};
use crate::action::Action;
use crate::capability::Refusal;
use crate::job::{Job, TargetId};
use crate::telemetry;
use crate::telemetry::trace::trace_span;

/// Registers the routes.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/api/v1/purge", web::post().to(purge))
        .route("/api/v1/history", web::get().to(super::history::answer))
        .route("/api/v1/dead-letters", web::get().to(dead_letters::list))
        .route(
            "/api/v1/dead-letters/replay",
            web::post().to(dead_letters::replay),
        )
        .route(
            "/api/v1/dead-letters/delete",
            web::post().to(dead_letters::delete),
        );
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
        .and_then(|id| Some((*state.routing.current().targets.get(&id)?, id)));
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
    state.history.queued(&job, "api");
    tracing::info!(target_id = %job.target, job_id = %job.id, kind = %job.action.kind(), "purge requested through the API");
    Ok(HttpResponse::Accepted().json(json!({"job_id": job.id, "target": job.target})))
}
