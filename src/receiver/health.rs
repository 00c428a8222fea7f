//! `GET /healthz` (the process runs) and `GET /readyz` (the queue can take jobs).

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::ReceiverState;

/// 200 while the process runs.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// 200 when the queue is usable, else 503.
pub async fn readyz(state: web::Data<ReceiverState>) -> HttpResponse {
    if state.queue.is_ready().await {
        HttpResponse::Ok().json(json!({"status": "ready"}))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({
            "error": "queue_unavailable",
            "message": "the queue is not reachable",
        }))
    }
}
