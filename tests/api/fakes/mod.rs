//! Local servers that behave as the providers' documents say.

pub mod async_jobs;
pub mod bigscoots;
pub mod brilliant;
pub mod cdn;
pub mod wpengine;

use wiremock::Request;

/// The JSON body of a recorded request.
pub fn json(request: &Request) -> serde_json::Value {
    serde_json::from_slice(&request.body).unwrap_or(serde_json::Value::Null)
}

/// The `Authorization` header a Basic-auth client sends for `user:password`.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}
