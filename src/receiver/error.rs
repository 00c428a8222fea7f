//! [`ReceiveError`]: every way an inbound request can fail, and the status
//! and JSON body (`{"error", "message"}`) each one gets. Messages are for
//! the sender; they never carry secrets or internal details.

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::rules::RouteError;
use crate::source::VerifyError;

/// Seconds a sender is asked to wait when the queue cannot take its event.
pub const RETRY_AFTER_SECONDS: u32 = 5;

/// Why a request was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// `POST /hooks/{source}` for a source that is not configured.
    #[error("no source named {0:?} is configured")]
    UnknownSource(String),
    /// A body over `[server] max_body_bytes`.
    #[error("the body is larger than the {0} bytes accepted")]
    TooLarge(usize),
    /// The body could not be read from the connection.
    #[error("the body could not be read")]
    Unreadable,
    /// Signature or shape problems, from the source's scheme.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// A matching rule cannot make valid jobs from this event's data.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// The queue cannot take the jobs right now; nothing was accepted.
    #[error("the queue cannot accept events right now; retry later")]
    Unavailable,
    /// No route for this path.
    #[error("no such endpoint")]
    NotFound,
}

impl ReceiveError {
    /// The stable machine-readable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            ReceiveError::UnknownSource(_) => "unknown_source",
            ReceiveError::TooLarge(_) => "body_too_large",
            ReceiveError::Unreadable => "bad_body",
            ReceiveError::Verify(e) if e.is_unauthenticated() => "bad_signature",
            ReceiveError::Verify(_) => "bad_request",
            ReceiveError::Route(_) => "unprocessable_event",
            ReceiveError::Unavailable => "queue_unavailable",
            ReceiveError::NotFound => "not_found",
        }
    }
}

impl ResponseError for ReceiveError {
    fn status_code(&self) -> StatusCode {
        match self {
            ReceiveError::UnknownSource(_) | ReceiveError::NotFound => StatusCode::NOT_FOUND,
            ReceiveError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ReceiveError::Unreadable => StatusCode::BAD_REQUEST,
            ReceiveError::Verify(e) if e.is_unauthenticated() => StatusCode::UNAUTHORIZED,
            ReceiveError::Verify(_) => StatusCode::BAD_REQUEST,
            ReceiveError::Route(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ReceiveError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((CONTENT_TYPE, "application/json"));
        if matches!(self, ReceiveError::Unavailable) {
            response.insert_header((RETRY_AFTER, RETRY_AFTER_SECONDS.to_string()));
        }
        response.body(json!({"error": self.code(), "message": self.to_string()}).to_string())
    }
}
