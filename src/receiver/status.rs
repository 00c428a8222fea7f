//! The status page: `GET /status`, one HTML page with its CSS and script
//! inline (`status.html`, no build step, no external assets), which polls
//! `GET /status/data` — each target with its provider, breaker state,
//! rate-limit slot, queue depth and last calls (and their
//! verifications), the dead letters, and the recent events — and whose
//! buttons call the dead-letter API. Behind the API's bearer token; on the
//! `[server] status_listen` address, without one (bind it to a private
//! address).

use std::net::TcpListener;
use std::time::Duration;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::json;

use super::error::ReceiveError;
use super::request::authorize;
use super::{OpsState, ReceiverState};
use crate::history::{Kind, Record};
use crate::telemetry;
use crate::units::Rate;

/// The page.
const PAGE: &str = include_str!("status.html");

/// How far back the page looks for calls and events.
const RECENT: Duration = Duration::from_secs(3600);

/// Calls shown per target, and events shown.
const SHOWN: usize = 12;

/// Registers the routes.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/status", web::get().to(page))
        .route("/status/data", web::get().to(data));
}

/// Binds `[server] status_listen`, if set: the listener and its port.
pub fn bind(address: Option<&str>) -> std::io::Result<Option<(TcpListener, u16)>> {
    let Some(address) = address else {
        return Ok(None);
    };
    let listener = TcpListener::bind(address).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {address} ([server] status_listen): {e}"),
        )
    })?;
    let port = listener.local_addr()?.port();
    Ok(Some((listener, port)))
}

async fn page(
    request: HttpRequest,
    state: web::Data<ReceiverState>,
) -> Result<HttpResponse, ReceiveError> {
    authorize(&request, &state)?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(PAGE))
}

/// One target's line.
#[derive(Serialize)]
struct TargetStatus {
    id: String,
    provider: &'static str,
    /// `open` or `closed`.
    breaker: &'static str,
    #[serde(flatten)]
    slot: RateSlot,
    /// Jobs waiting (`null` where the queue cannot tell: RabbitMQ).
    queue_depth: Option<usize>,
    /// The last calls and verifications, newest first.
    calls: Vec<Record>,
}

/// A target's rate-limit slot.
#[derive(Serialize)]
struct RateSlot {
    /// The rate limit in force: the target's `rate`, else its provider's
    /// documented one, if it has one.
    rate_limit: Option<String>,
    /// Where it comes from: `target` or `provider`.
    rate_limit_from: Option<&'static str>,
    /// Seconds until the next call may start (0: now) — by the rate, a
    /// `Retry-After` or the open breaker's probe; `null` when no
    /// worker in this process calls the target (a receiver alone).
    next_slot_in_seconds: Option<f64>,
    /// Whether a provider's `Retry-After` holds every call now.
    retry_after_hold: bool,
}

impl RateSlot {
    /// `target`'s slot, with its own `rate` if set and its provider's
    /// documented one, as its worker (if in this process) last published.
    fn of(target: &str, own: Option<Rate>, documented: Option<Rate>) -> RateSlot {
        let now = crate::job::now().as_millisecond();
        let slot = telemetry::rate_slot::get(target);
        RateSlot {
            rate_limit: own.or(documented).map(|rate| rate.to_string()),
            rate_limit_from: match (own, documented) {
                (Some(_), _) => Some("target"),
                (None, Some(_)) => Some("provider"),
                (None, None) => None,
            },
            next_slot_in_seconds: slot.map(|s| (s.next_call_at - now).max(0) as f64 / 1000.0),
            retry_after_hold: slot.is_some_and(|s| s.held_until > now),
        }
    }
}

async fn data(
    request: HttpRequest,
    state: web::Data<ReceiverState>,
    ops: web::Data<OpsState>,
) -> Result<HttpResponse, ReceiveError> {
    authorize(&request, &state)?;
    let recent = match state.history.recent(RECENT).await {
        Ok(records) => Some(records),
        Err(error) => {
            tracing::debug!(%error, "the status page shows no history");
            None
        }
    };
    let metrics = ops.metrics.render();
    let routing = state.routing.current();
    let targets: Vec<TargetStatus> = routing
        .targets
        .iter()
        .map(|(id, capabilities)| TargetStatus {
            id: id.to_string(),
            provider: capabilities.provider,
            breaker: if breaker_open(&metrics, id.as_str()) {
                "open"
            } else {
                "closed"
            },
            slot: RateSlot::of(
                id.as_str(),
                routing.rates.get(id).copied(),
                capabilities.default_rate.map(|d| d.rate),
            ),
            queue_depth: state.queue.pending_jobs(id.as_str()),
            calls: (recent.iter().flatten())
                .filter(|r| matches!(r.kind, Kind::Call | Kind::Verify))
                .filter(|r| r.target.as_deref() == Some(id.as_str()))
                .take(SHOWN)
                .cloned()
                .collect(),
        })
        .collect();
    let events: Vec<&Record> = (recent.iter().flatten())
        .filter(|r| r.kind == Kind::Event)
        .take(SHOWN)
        .collect();
    let dead_letters = state.queue.dead_letters().await.map_err(|error| {
        tracing::error!(%error, "cannot read dead letters for the status page");
        ReceiveError::Unavailable
    })?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(json!({
            "generated_at": crate::job::now(),
            "backend": match state.queue {
                crate::queue::Queue::Embedded(_) => "embedded",
                crate::queue::Queue::Amqp(_) => "rabbitmq",
            },
            "history": recent.is_some(),
            "targets": targets,
            "dead_letters": dead_letters,
            "events": events,
        })))
}

/// Whether the metrics say `target`'s breaker is open.
fn breaker_open(metrics: &str, target: &str) -> bool {
    let label = format!("target=\"{target}\"");
    metrics
        .lines()
        .filter(|line| line.starts_with("purgehook_breaker_open{") && line.contains(&label))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .any(|value| value >= 1.0)
}
