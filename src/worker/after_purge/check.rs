//! Checking one purged URL: a HEAD request (a GET when the server refuses
//! HEAD with 405 or 501), each spaced by the target's `verify_rate`, and
//! the cache's answer read by [`classify`](super::classify). The body of a
//! GET is not read.

use reqwest::StatusCode;
use reqwest::header::USER_AGENT;
use tokio::time::Instant;

use super::classify::{Freshness, classify, evidence};
use super::outcome::Outcome;
use super::spacing::Spacing;

/// The `User-Agent` of verification requests.
pub const VERIFY_AGENT: &str = concat!(
    "purgehook/",
    env!("CARGO_PKG_VERSION"),
    " (purge verification)"
);

/// What checking a URL found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Checked {
    /// How the URL was found.
    pub outcome: Outcome,
    /// The status and cache headers, or what failed.
    pub evidence: String,
    /// Requests made: 1, or 2 when HEAD was refused.
    pub requests: u32,
}

/// Checks `url`, purged at `purged_at`.
pub(super) async fn check(
    client: &reqwest::Client,
    url: &str,
    purged_at: Instant,
    spacing: &mut Spacing,
) -> Checked {
    spacing.ready().await;
    let mut requests = 1;
    let mut answer = send(client.head(url)).await;
    if let Ok(response) = &answer
        && matches!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED
        )
    {
        spacing.ready().await;
        requests += 1;
        answer = send(client.get(url)).await;
    }
    let (outcome, evidence) = match answer {
        Err(error) => (Outcome::Error, error.without_url().to_string()),
        Ok(response) => {
            let status = response.status();
            let headers = evidence(response.headers());
            let outcome = if status.is_server_error() {
                Outcome::Error
            } else {
                match classify(response.headers(), purged_at.elapsed()) {
                    Freshness::Fresh => Outcome::Fresh,
                    Freshness::Stale => Outcome::Stale,
                    Freshness::Unknown => Outcome::Unknown,
                }
            };
            (outcome, format!("{status}; {headers}"))
        }
    };
    Checked {
        outcome,
        evidence,
        requests,
    }
}

async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, reqwest::Error> {
    request.header(USER_AGENT, VERIFY_AGENT).send().await
}
