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
    /// An API request without a valid bearer token.
    #[error("{0}")]
    Unauthorized(String),
    /// An API request whose body is wrong; names the field.
    #[error("{field}: {message}")]
    BadRequest {
        /// The offending field (`action.urls[0]`, `target`…).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// An API request for a target that is not configured.
    #[error("no target named {0:?} is configured")]
    UnknownTarget(String),
    /// A replay of a dead letter that does not exist.
    #[error("no dead letter has id {0:?}")]
    NoDeadLetter(String),
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
            ReceiveError::Unauthorized(_) => "unauthorized",
            ReceiveError::BadRequest { .. } => "invalid_request",
            ReceiveError::UnknownTarget(_) => "unknown_target",
            ReceiveError::NoDeadLetter(_) => "no_dead_letter",
        }
    }
}

impl ResponseError for ReceiveError {
    fn status_code(&self) -> StatusCode {
        match self {
            ReceiveError::UnknownSource(_)
            | ReceiveError::NotFound
            | ReceiveError::UnknownTarget(_)
            | ReceiveError::NoDeadLetter(_) => StatusCode::NOT_FOUND,
            ReceiveError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ReceiveError::BadRequest { .. } => StatusCode::BAD_REQUEST,
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
        let mut body = json!({"error": self.code(), "message": self.to_string()});
        if let ReceiveError::BadRequest { field, .. } = self {
            body["field"] = json!(field);
        }
        if matches!(self, ReceiveError::Unauthorized(_)) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        response.body(body.to_string())
    }
}
