//! [`ReceiveError`]: every way an inbound request can fail, the [`ErrorCode`]
//! and status each one gets, and the JSON body (`{"error", "message"}`).
//! Messages are for the sender; they never carry secrets or internal
//! details, and what they quote of a request is cut ([`clip`]). The command
//! line reads the same [`ErrorCode`]s back from the API.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::rules::RouteError;
use crate::source::VerifyError;

/// Seconds a sender is asked to wait when the queue cannot take its event.
pub const RETRY_AFTER_SECONDS: u32 = 5;

/// Seconds a client with too many requests in progress is asked to wait.
pub const BUSY_RETRY_AFTER_SECONDS: u64 = 1;

/// The most characters of a client's own string (a source name, a target,
/// an id) that an answer or a log line quotes.
pub const QUOTED_CHARS: usize = 64;

/// The longest message or field name an answer carries, in characters.
const ANSWER_CHARS: usize = 512;

/// `text` cut to `max` characters (`…` marks a cut).
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// A client's own string as an answer or a log line may quote it.
pub fn quoted(text: &str) -> String {
    clip(text, QUOTED_CHARS)
}

/// The stable, machine-readable code of an error answer (`"error"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No such source.
    UnknownSource,
    /// The body is over the limit.
    BodyTooLarge,
    /// The body could not be read or parsed, or a header is malformed.
    BadRequest,
    /// The body could not be read from the connection.
    BadBody,
    /// A missing or wrong signature, or a stale timestamp.
    BadSignature,
    /// A matching rule cannot make a valid purge from the event.
    UnprocessableEvent,
    /// The queue cannot take jobs now.
    QueueUnavailable,
    /// The same delivery is being stored right now.
    InProgress,
    /// No such endpoint.
    NotFound,
    /// No or wrong bearer token.
    Unauthorized,
    /// An API body that is wrong; names the field.
    InvalidRequest,
    /// No such target.
    UnknownTarget,
    /// No dead letter with that id.
    NoDeadLetter,
    /// The body did not arrive within `[server] body_timeout`.
    BodyTimeout,
    /// Too many requests from this client: too many in progress, or too
    /// many failed authentications.
    TooManyRequests,
    /// A code this build does not know (from a newer server).
    #[serde(other)]
    Other,
}

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
    /// The hook URL's query string is malformed.
    #[error("the query string is not valid: {0}")]
    BadQuery(String),
    /// Signature or shape problems, from the source's scheme.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// A matching rule cannot make valid jobs from this event's data.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// The queue cannot take the jobs right now; nothing was accepted.
    #[error("the queue cannot accept events right now; retry later")]
    Unavailable,
    /// The same delivery is being stored by another request right now.
    #[error("the same delivery is being stored right now; retry shortly")]
    InProgress,
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
    /// A history question to a deployment that keeps none.
    #[error("{0}")]
    NoHistory(String),
    /// A replay of a dead letter that does not exist.
    #[error("no dead letter has id {0:?}")]
    NoDeadLetter(String),
    /// The body did not arrive within `[server] body_timeout`.
    #[error("the body did not arrive within {}s", .0.as_secs_f64())]
    BodyTimeout(Duration),
    /// The client's address has `[server] max_requests_per_client` requests
    /// in progress already.
    #[error("too many requests in progress from this address; retry later")]
    ClientBusy,
    /// The client's address failed to authenticate too often.
    #[error("too many failed authentications from this address; retry in {}s", .0.as_secs())]
    LockedOut(Duration),
}

impl ReceiveError {
    /// The stable machine-readable code of the error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ReceiveError::UnknownSource(_) => ErrorCode::UnknownSource,
            ReceiveError::TooLarge(_) => ErrorCode::BodyTooLarge,
            ReceiveError::Unreadable => ErrorCode::BadBody,
            ReceiveError::BadQuery(_) => ErrorCode::BadRequest,
            ReceiveError::Verify(e) if e.is_unauthenticated() => ErrorCode::BadSignature,
            ReceiveError::Verify(_) => ErrorCode::BadRequest,
            ReceiveError::Route(_) => ErrorCode::UnprocessableEvent,
            ReceiveError::Unavailable => ErrorCode::QueueUnavailable,
            ReceiveError::InProgress => ErrorCode::InProgress,
            ReceiveError::NotFound | ReceiveError::NoHistory(_) => ErrorCode::NotFound,
            ReceiveError::Unauthorized(_) => ErrorCode::Unauthorized,
            ReceiveError::BadRequest { .. } => ErrorCode::InvalidRequest,
            ReceiveError::UnknownTarget(_) => ErrorCode::UnknownTarget,
            ReceiveError::NoDeadLetter(_) => ErrorCode::NoDeadLetter,
            ReceiveError::BodyTimeout(_) => ErrorCode::BodyTimeout,
            ReceiveError::ClientBusy | ReceiveError::LockedOut(_) => ErrorCode::TooManyRequests,
        }
    }

    /// Seconds the client is asked to wait (`Retry-After`), if any.
    fn retry_after(&self) -> Option<u64> {
        match self {
            ReceiveError::Unavailable => Some(u64::from(RETRY_AFTER_SECONDS)),
            ReceiveError::ClientBusy | ReceiveError::InProgress => Some(BUSY_RETRY_AFTER_SECONDS),
            // Rounded up: a client that waits as told is let in.
            ReceiveError::LockedOut(left) => {
                Some(left.as_secs() + u64::from(left.subsec_nanos() > 0))
            }
            _ => None,
        }
    }

    /// The code as a metric label or log field.
    pub fn code_name(&self) -> &'static str {
        self.code().as_str()
    }
}

impl ErrorCode {
    /// The code as written in answers.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::UnknownSource => "unknown_source",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::BadBody => "bad_body",
            ErrorCode::BadSignature => "bad_signature",
            ErrorCode::UnprocessableEvent => "unprocessable_event",
            ErrorCode::QueueUnavailable => "queue_unavailable",
            ErrorCode::InProgress => "in_progress",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::UnknownTarget => "unknown_target",
            ErrorCode::NoDeadLetter => "no_dead_letter",
            ErrorCode::BodyTimeout => "body_timeout",
            ErrorCode::TooManyRequests => "too_many_requests",
            ErrorCode::Other => "other",
        }
    }
}

impl ResponseError for ReceiveError {
    fn status_code(&self) -> StatusCode {
        match self {
            ReceiveError::UnknownSource(_)
            | ReceiveError::NotFound
            | ReceiveError::NoHistory(_)
            | ReceiveError::UnknownTarget(_)
            | ReceiveError::NoDeadLetter(_) => StatusCode::NOT_FOUND,
            ReceiveError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ReceiveError::BadRequest { .. } | ReceiveError::BadQuery(_) => StatusCode::BAD_REQUEST,
            ReceiveError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ReceiveError::Unreadable => StatusCode::BAD_REQUEST,
            ReceiveError::Verify(e) if e.is_unauthenticated() => StatusCode::UNAUTHORIZED,
            ReceiveError::Verify(_) => StatusCode::BAD_REQUEST,
            ReceiveError::Route(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ReceiveError::Unavailable | ReceiveError::InProgress => StatusCode::SERVICE_UNAVAILABLE,
            ReceiveError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ReceiveError::ClientBusy | ReceiveError::LockedOut(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((CONTENT_TYPE, "application/json"));
        if let Some(seconds) = self.retry_after() {
            response.insert_header((RETRY_AFTER, seconds.to_string()));
        }
        // What is left of the request is not read: the connection closes.
        if matches!(
            self,
            ReceiveError::BodyTimeout(_) | ReceiveError::ClientBusy | ReceiveError::LockedOut(_)
        ) {
            response.force_close();
        }
        let message = clip(&self.to_string(), ANSWER_CHARS);
        let mut body = json!({"error": self.code(), "message": message});
        if let ReceiveError::BadRequest { field, .. } = self {
            body["field"] = json!(clip(field, ANSWER_CHARS));
        }
        if matches!(self, ReceiveError::Unauthorized(_)) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        response.body(body.to_string())
    }
}
