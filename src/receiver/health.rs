//! The operations endpoints: `GET /healthz` (the process runs), `GET
//! /readyz` (the queue can take jobs) and `GET /metrics` (Prometheus text).

use actix_web::{HttpResponse, web};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use crate::queue::Queue;

/// What the operations endpoints need.
pub struct OpsState {
    /// The queue whose readiness `/readyz` reports.
    pub queue: Queue,
    /// The metrics registry.
    pub metrics: PrometheusHandle,
}

/// 200 while the process runs.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// 200 when the queue is usable, else 503.
pub async fn readyz(state: web::Data<OpsState>) -> HttpResponse {
    let ready = state.queue.is_ready().await;
    crate::telemetry::queue_ready(ready);
    if ready {
        HttpResponse::Ok().json(json!({"status": "ready"}))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({
            "error": "queue_unavailable",
            "message": "the queue is not reachable",
        }))
    }
}

/// The metrics in Prometheus text format.
pub async fn metrics(state: web::Data<OpsState>) -> HttpResponse {
    crate::telemetry::queue_ready(state.queue.is_ready().await);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

/// Registers the operations routes.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}
