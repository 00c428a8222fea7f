//! What every operator API handler does first: check the bearer token
//! (counting failures per address, and refusing an address locked out for
//! failing too often), read the bounded JSON object body, and turn it into
//! a typed request whose errors name the field.

use std::time::Instant;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, web};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::error::ReceiveError;
use super::hooks::read_body;
use super::limits::{ClientKey, Failed};
use super::{REFUSALS, ReceiverState};
use crate::telemetry;

/// Refuses the request unless it carries one of the configured tokens, and
/// any request from an address locked out for failing too often. On the
/// status address (`[server] status_listen`), the status page and the
/// dead-letter routes its buttons call need no token.
pub(super) fn authorize(request: &HttpRequest, state: &ReceiverState) -> Result<(), ReceiveError> {
    if on_status_address(request, state) {
        return Ok(());
    }
    let client = request.peer_addr().map(|peer| ClientKey::of(peer.ip()));
    let now = Instant::now();
    let lockout = &state.limits.lockout;
    if let Some(left) = client.and_then(|client| lockout.locked(client, now)) {
        telemetry::limited("api_locked_out");
        return Err(ReceiveError::LockedOut(left));
    }
    check_token(request, state).inspect_err(|error| {
        telemetry::api_auth_failure();
        let failed = client.map(|client| lockout.fail(client, now));
        let client = client.map(|client| client.to_string());
        if let Some(Failed::LockedOut(_)) = failed {
            if let Some(held_back) = REFUSALS.admit("api_locked_out") {
                tracing::warn!(
                    client,
                    held_back,
                    "too many failed API authentications; address locked out"
                );
            }
        } else if let Some(held_back) = REFUSALS.admit("api_auth_failure") {
            let failures = match failed {
                Some(Failed::Counted(count)) => count,
                _ => 0,
            };
            tracing::warn!(client, failures, held_back, %error, "API authentication failed");
        }
    })
}

/// Whether the request carries one of the configured tokens.
/// Whether `request` came to the status address for the status page or
/// the dead letters it shows.
fn on_status_address(request: &HttpRequest, state: &ReceiverState) -> bool {
    let path = request.path();
    state.status_port == Some(request.app_config().local_addr().port())
        && (path.starts_with("/status") || path.starts_with("/api/v1/dead-letters"))
}

fn check_token(request: &HttpRequest, state: &ReceiverState) -> Result<(), ReceiveError> {
    let routing = state.routing.current();
    if routing.api_tokens.is_empty() {
        return Err(ReceiveError::Unauthorized(
            "the API is off: no [server] api_tokens are configured".into(),
        ));
    }
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| {
            ReceiveError::Unauthorized("an Authorization: Bearer <token> header is required".into())
        })?;
    let known = routing.api_tokens.iter().fold(false, |found, token| {
        found | bool::from(token.expose().trim().as_bytes().ct_eq(presented.as_bytes()))
    });
    if known {
        Ok(())
    } else {
        Err(ReceiveError::Unauthorized(
            "the bearer token is not valid".into(),
        ))
    }
}

pub(super) fn bad_request(field: impl Into<String>, message: impl Into<String>) -> ReceiveError {
    ReceiveError::BadRequest {
        field: field.into(),
        message: message.into(),
    }
}

/// Reads a bounded JSON object body.
pub(super) async fn json_body(
    request: &HttpRequest,
    payload: web::Payload,
    state: &ReceiverState,
) -> Result<serde_json::Map<String, serde_json::Value>, ReceiveError> {
    let body = read_body(request, payload, state).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice(&body) {
        Ok(serde_json::Value::Object(object)) => Ok(object),
        Ok(_) => Err(bad_request("body", "expected a JSON object")),
        Err(error) => Err(bad_request("body", format!("not valid JSON: {error}"))),
    }
}

/// A body as the request type `T`, or a 400 naming the field that is wrong.
pub(super) fn typed<T: DeserializeOwned>(
    body: serde_json::Map<String, serde_json::Value>,
) -> Result<T, ReceiveError> {
    serde_path_to_error::deserialize(serde_json::Value::Object(body)).map_err(|error| {
        let field = match error.path().to_string() {
            root if root == "." => "body".to_string(),
            field => field,
        };
        bad_request(field, error.into_inner().to_string())
    })
}
