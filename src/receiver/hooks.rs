//! `POST /hooks/{source}`: read the body (bounded in size and time), verify
//! it with the source's scheme, route it through the rules, queue the jobs
//! durably, and answer 202 only once every job is stored. Refusals are
//! counted under the source's id, or `unknown` for any other name, and
//! logged at most once per second per kind, with the name cut.

use std::collections::BTreeMap;
use std::time::SystemTime;

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt as _;
use serde_json::json;
use tracing::Instrument as _;
use uuid::Uuid;

use super::error::{ReceiveError, quoted};
use super::{REFUSALS, ReceiverState};
use crate::queue::{DeliveryKey, Published};
use crate::rules::Routed;
use crate::source::{Event, Inbound, Received};
use crate::telemetry;
use crate::telemetry::trace::trace_span;

/// The handler.
pub async fn receive(
    source_id: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<ReceiverState>,
) -> Result<HttpResponse, ReceiveError> {
    let source_id = source_id.into_inner();
    let result = handle(&source_id, &request, payload, &state).await;
    if let Err(error) = &result {
        let routing = state.routing.current();
        let label = match routing.sources.get_key_value(&source_id) {
            Some((id, _)) => id.as_str(),
            None => "unknown",
        };
        telemetry::webhook(label, error.code_name());
        if let Some(held_back) = REFUSALS.admit(error.code_name()) {
            let client = request.peer_addr().map(|peer| peer.ip().to_string());
            tracing::warn!(source = %quoted(&source_id), client, code = error.code_name(), %error, held_back, "webhook refused");
        }
    }
    result
}

async fn handle(
    source_id: &str,
    request: &HttpRequest,
    payload: web::Payload,
    state: &ReceiverState,
) -> Result<HttpResponse, ReceiveError> {
    let routing = state.routing.current();
    let source = routing
        .sources
        .get(source_id)
        .ok_or_else(|| ReceiveError::UnknownSource(quoted(source_id)))?;
    let body = read_body(request, payload, state).await?;
    let query = web::Query::<BTreeMap<String, String>>::from_query(request.query_string())
        .map_err(|error| ReceiveError::BadQuery(quoted(&error.to_string())))?
        .into_inner();
    let inbound = Inbound {
        headers: headers(request),
        query,
        path: request
            .uri()
            .path_and_query()
            .map_or_else(|| request.path().to_string(), |path| path.to_string()),
        body,
    };
    let event_id = Uuid::now_v7();
    let event = match source.verify(&inbound, SystemTime::now())? {
        Received::Ping { event_type } => {
            tracing::info!(source = %source_id, %event_type, "ping answered");
            telemetry::webhook(source_id, "ping");
            let message = format!("{event_type} received; nothing to purge");
            return Ok(nothing_to_do(event_id, message));
        }
        Received::Event(event) => event,
    };
    let routed = routing.rules.route(&event)?;
    if routed.jobs.is_empty() {
        return Ok(unwanted(source_id, &event, &routed, event_id));
    }
    let key = DeliveryKey::new(source_id, event.delivery_id.as_deref(), &inbound.body);
    let status = StatusCode::from_u16(source.accepted_status()).unwrap_or(StatusCode::ACCEPTED);
    let span = trace_span!(
        "event",
        source = %source_id,
        event_type = %event.event_type,
        delivery_id = event.delivery_id.as_deref().unwrap_or(""),
        %event_id,
        jobs = routed.jobs.len(),
    );
    accept(source_id, &event, routed, (event_id, key, status), state)
        .instrument(span)
        .await
}

/// 200: the same delivery was accepted before; nothing is queued again.
fn duplicate(source_id: &str, event: &Event, event_id: Uuid) -> HttpResponse {
    let delivery = event.delivery_id.as_deref().unwrap_or("(none)");
    tracing::info!(source = %source_id, delivery_id = %delivery, %event_id, "duplicate delivery; nothing queued");
    telemetry::webhook(source_id, "duplicate");
    HttpResponse::Ok().json(json!({
        "event_id": event_id,
        "jobs": [],
        "duplicate": true,
        "message": "this delivery was accepted before; nothing is queued again",
    }))
}

/// 200: the delivery was understood, and nothing is to be purged.
fn nothing_to_do(event_id: Uuid, message: String) -> HttpResponse {
    HttpResponse::Ok().json(json!({"event_id": event_id, "jobs": [], "message": message}))
}

/// The answer to an event that no rule made a job of, saying why.
fn unwanted(source_id: &str, event: &Event, routed: &Routed, event_id: Uuid) -> HttpResponse {
    let message = if routed.matched_rules.is_empty() {
        format!(
            "no rule wants event {:?} from source {source_id:?}",
            event.event_type
        )
    } else {
        format!(
            "the matching rules found nothing to purge in event {:?}",
            event.event_type
        )
    };
    tracing::info!(source = %source_id, event_type = %event.event_type, %event_id, "event wanted by no rule");
    telemetry::webhook(source_id, "ignored");
    nothing_to_do(event_id, message)
}

/// Queues the event's jobs durably; 202 once every one is stored — or 200
/// when the same delivery was accepted before, queueing nothing.
async fn accept(
    source_id: &str,
    event: &Event,
    routed: Routed,
    (event_id, key, status): (Uuid, DeliveryKey, StatusCode),
    state: &ReceiverState,
) -> Result<HttpResponse, ReceiveError> {
    let published = state
        .queue
        .publish_once(&routed.jobs, key, state.dedupe_window)
        .await;
    match published {
        Ok(Published::Stored) => {}
        Ok(Published::Duplicate) => return Ok(duplicate(source_id, event, event_id)),
        Ok(Published::InProgress) => return Err(ReceiveError::InProgress),
        Err(error) => {
            tracing::error!(source = %source_id, %event_id, %error, "cannot queue event; answered 503");
            return Err(ReceiveError::Unavailable);
        }
    }
    let job_ids: Vec<Uuid> = routed.jobs.iter().map(|j| j.id).collect();
    state
        .history
        .accepted(event_id, &routed.jobs, &routed.job_rules);
    telemetry::webhook(source_id, "accepted");
    for job in &routed.jobs {
        telemetry::jobs_queued(job.target.as_str(), 1);
    }
    tracing::info!(
        source = %source_id,
        event_type = %event.event_type,
        delivery_id = event.delivery_id.as_deref().unwrap_or(""),
        %event_id,
        jobs = job_ids.len(),
        "event accepted"
    );
    // 202, or 200 for a source whose sender retries anything else.
    Ok(HttpResponse::build(status).json(json!({"event_id": event_id, "jobs": job_ids})))
}

/// The request's headers, repeated ones joined with ", ". Their names are
/// lower-case already: `http::HeaderName` stores them so.
fn headers(request: &HttpRequest) -> BTreeMap<String, String> {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in request.headers() {
        let value = String::from_utf8_lossy(value.as_bytes());
        match headers.get_mut(name.as_str()) {
            Some(joined) => {
                joined.push_str(", ");
                joined.push_str(&value);
            }
            None => {
                headers.insert(name.as_str().to_string(), value.into_owned());
            }
        }
    }
    headers
}

/// The most memory reserved for a body before it arrives.
const INITIAL_CAPACITY: usize = 64 * 1024;

/// Reads the body, refusing it once it exceeds `[server] max_body_bytes`,
/// or when it has not arrived within `[server] body_timeout`.
pub(super) async fn read_body(
    request: &HttpRequest,
    payload: web::Payload,
    state: &ReceiverState,
) -> Result<Vec<u8>, ReceiveError> {
    let timeout = state.limits.body_timeout;
    tokio::time::timeout(
        timeout,
        read_bounded(request, payload, state.max_body_bytes),
    )
    .await
    .map_err(|_| ReceiveError::BodyTimeout(timeout))?
}

async fn read_bounded(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ReceiveError> {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ReceiveError::TooLarge(limit));
    }
    // Memory follows what arrives, not what a client declares.
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(INITIAL_CAPACITY));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ReceiveError::Unreadable)?;
        if body.len() + chunk.len() > limit {
            return Err(ReceiveError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
