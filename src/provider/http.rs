//! What every HTTP provider shares: one pooled `reqwest` client, the
//! exchange of a request for a bounded, read [`Answer`], the classification
//! of failures into [`ProviderError`]s, `Retry-After` parsing, and a
//! readable excerpt of whatever error body came back.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};

use super::ProviderError;

/// Timeout of one provider call, connection included.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest excerpt of a provider's body kept in an error message.
const EXCERPT_CHARS: usize = 300;

/// The most of a provider's answer that is read; a longer body is an error
/// (a provider that streams gigabytes must not take the worker's memory).
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// The shared client: connection pooling, TLS (rustls with ring), timeouts.
/// Fails only if TLS cannot be set up, which is a start-up error.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    // Installing the process-wide crypto provider fails only if one is
    // already installed, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("purgehook/", env!("CARGO_PKG_VERSION")))
        .timeout(CALL_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .build()
}

/// Timeout of one request of a purge's follow-ups (verification, warming).
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The client of a purge's follow-ups: requests to the purged pages
/// themselves, through their cache. It follows no redirect (a cache's
/// answer is read as it is) and waits at most 10 s for an answer.
pub fn probe_client() -> Result<reqwest::Client, reqwest::Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("purgehook/", env!("CARGO_PKG_VERSION")))
        .timeout(PROBE_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// A provider's answer, read in full (up to [`MAX_ANSWER_BYTES`]).
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, as text (lossy).
    pub body: String,
}

impl Answer {
    /// The answer if its status is a success, else the classified failure
    /// with the provider's own words.
    pub fn success(self, provider: &str) -> Result<Answer, ProviderError> {
        if self.status.is_success() {
            Ok(self)
        } else {
            Err(self.failure(provider))
        }
    }

    /// The classified failure this (non-success) answer is.
    pub fn failure(&self, provider: &str) -> ProviderError {
        classify_failure(
            provider,
            self.status,
            &self.headers,
            &error_detail(&self.body),
        )
    }
}

/// Sends `request` and reads the answer, whatever its status. A transport
/// failure, or a body over [`MAX_ANSWER_BYTES`], is retryable.
pub async fn exchange(provider: &str, request: RequestBuilder) -> Result<Answer, ProviderError> {
    let mut response = request
        .send()
        .await
        .map_err(|e| transport_error(provider, e))?;
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(provider, e))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(ProviderError::Retryable {
                message: format!(
                    "{provider} answered {status} with a body over {MAX_ANSWER_BYTES} bytes; it was not read"
                ),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// A transport failure (connection refused, timeout…): always retryable.
pub fn transport_error(provider: &str, error: reqwest::Error) -> ProviderError {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    ProviderError::Retryable {
        message: format!("{provider}: {what}: {}", without_url(&error)),
    }
}

fn without_url(error: &reqwest::Error) -> String {
    // reqwest's Display names the URL, which may carry credentials in its
    // userinfo; the source chain says what went wrong without it.
    let mut source = std::error::Error::source(error);
    let mut parts = Vec::new();
    while let Some(err) = source {
        parts.push(err.to_string());
        source = err.source();
    }
    if parts.is_empty() {
        "no details".into()
    } else {
        parts.join(": ")
    }
}

/// Classifies a non-success status per HTTP semantics: 429 → rate limited
/// (with `Retry-After`), 408 and 5xx → retryable, other 4xx → permanent.
/// `detail` is the provider's own message, already extracted.
pub fn classify_failure(
    provider: &str,
    status: StatusCode,
    headers: &HeaderMap,
    detail: &str,
) -> ProviderError {
    let message = format!("{provider} answered {status}: {detail}");
    if status == StatusCode::TOO_MANY_REQUESTS {
        ProviderError::RateLimited {
            retry_after: retry_after(headers, SystemTime::now()),
            message,
        }
    } else if status == StatusCode::NOT_IMPLEMENTED {
        // It will not get better by asking again.
        ProviderError::Permanent { message }
    } else if status == StatusCode::REQUEST_TIMEOUT || status.is_server_error() {
        ProviderError::Retryable { message }
    } else {
        ProviderError::Permanent { message }
    }
}

/// The longest wait a `Retry-After` is honoured for: a target holds the
/// jobs it collects while it waits, and must not hold them for hours.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// The delay a `Retry-After` header asks for: delta-seconds or an HTTP date,
/// at most [`MAX_RETRY_AFTER`].
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let asked = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(now).unwrap_or(Duration::ZERO)
        }
    };
    Some(asked.min(MAX_RETRY_AFTER))
}

/// The provider's own words from an error body: the JSON `message` (and the
/// messages of an `errors` array), else a short excerpt of the text.
pub fn error_detail(body: &str) -> String {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(body) {
        let mut parts = Vec::new();
        // `message` (WordPress, WP Engine…), `msg` (Fastly), RFC 7807
        // `title`/`detail` (OCM).
        for field in ["message", "msg", "title", "detail"] {
            if let Some(text) = json.get(field).and_then(|m| m.as_str()) {
                parts.push(text.to_string());
            }
        }
        if let Some(code) = json.get("o:errorCode").and_then(|c| c.as_str()) {
            parts.push(format!("[{code}]"));
        }
        if let Some(errors) = json.get("errors").and_then(|e| e.as_array()) {
            for error in errors {
                let field = error.get("field").and_then(|f| f.as_str()).unwrap_or("");
                let message = error.get("message").and_then(|m| m.as_str()).unwrap_or("");
                if !message.is_empty() {
                    parts.push(if field.is_empty() {
                        message.to_string()
                    } else {
                        format!("{field}: {message}")
                    });
                }
            }
        }
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    excerpt(body)
}

/// A short, single-line excerpt of a body, for messages.
pub fn excerpt(body: &str) -> String {
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.is_empty() {
        return "(empty body)".into();
    }
    let mut cut: String = flat.chars().take(EXCERPT_CHARS).collect();
    if flat.chars().count() > EXCERPT_CHARS {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("42"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(42)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(90)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("18446744073709551615"),
        );
        assert_eq!(retry_after(&headers, now), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn statuses_are_classified() {
        let h = HeaderMap::new();
        let c = |code: u16| classify_failure("p", StatusCode::from_u16(code).unwrap(), &h, "x");
        assert!(matches!(c(429), ProviderError::RateLimited { .. }));
        assert!(matches!(c(408), ProviderError::Retryable { .. }));
        assert!(matches!(c(503), ProviderError::Retryable { .. }));
        assert!(matches!(c(501), ProviderError::Permanent { .. }));
        assert!(matches!(c(401), ProviderError::Permanent { .. }));
        assert!(matches!(c(400), ProviderError::Permanent { .. }));
    }

    #[test]
    fn error_details_prefer_the_providers_words() {
        let wpe = r#"{"message":"Invalid Site","errors":[{"field":"name","message":"Name is too long"}]}"#;
        assert_eq!(error_detail(wpe), "Invalid Site; name: Name is too long");
        let html = "<html>\n<body>502   Bad Gateway</body></html>";
        assert_eq!(
            error_detail(html),
            "<html> <body>502 Bad Gateway</body></html>"
        );
        assert_eq!(error_detail(""), "(empty body)");
    }
}
