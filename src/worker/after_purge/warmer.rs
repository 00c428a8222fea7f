//! The warmer: requests each URL a purge made fresh once (GET, with a
//! `User-Agent` naming purgehook), spaced by the target's `warm_rate`, so
//! that the next visitor finds the page cached and the origin rebuilds it
//! once instead of for every visitor at the same moment. The body is read
//! (up to [`MAX_WARM_BYTES`]) so that the cache stores the whole page.

use reqwest::header::USER_AGENT;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::WarmPolicy;
use super::spacing::Spacing;
use crate::job::TargetId;
use crate::telemetry;

/// The `User-Agent` of warming requests.
pub const WARM_AGENT: &str = concat!("purgehook/", env!("CARGO_PKG_VERSION"), " (cache warming)");

/// The most of a warmed page that is read.
pub const MAX_WARM_BYTES: usize = 16 * 1024 * 1024;

/// URLs to warm, not before a time.
#[derive(Debug)]
pub(super) struct Warm {
    /// The URLs.
    pub urls: Vec<String>,
    /// When the purge has reached the caches.
    pub not_before: Instant,
}

/// A target's warmer.
pub(super) struct Warmer {
    target: TargetId,
    client: reqwest::Client,
    spacing: Spacing,
}

impl Warmer {
    pub fn new(target: &TargetId, client: &reqwest::Client, policy: WarmPolicy) -> Warmer {
        Warmer {
            target: target.clone(),
            client: client.clone(),
            spacing: Spacing::new(policy.rate),
        }
    }

    /// Warms what comes until `stop`, or until every sender is gone.
    pub async fn run(mut self, mut queue: mpsc::Receiver<Warm>, stop: CancellationToken) {
        loop {
            let warm = tokio::select! {
                () = stop.cancelled() => break,
                warm = queue.recv() => match warm {
                    Some(warm) => warm,
                    None => return,
                },
            };
            let warming = async {
                tokio::time::sleep_until(warm.not_before).await;
                for url in &warm.urls {
                    self.spacing.ready().await;
                    let outcome = self.warm(url).await;
                    telemetry::warm_request(self.target.as_str(), outcome);
                }
            };
            tokio::select! {
                () = stop.cancelled() => break,
                () = warming => {}
            }
        }
        if !queue.is_empty() {
            tracing::info!(target_id = %self.target, batches = queue.len(), "stopping: purged URLs left unwarmed");
        }
    }

    /// One warming request: `ok` once the page was read, else `error`.
    async fn warm(&self, url: &str) -> &'static str {
        let request = self.client.get(url).header(USER_AGENT, WARM_AGENT);
        let read = async {
            let mut response = request.send().await?;
            let status = response.status();
            let mut read = 0;
            while let Some(chunk) = response.chunk().await? {
                read += chunk.len();
                if read > MAX_WARM_BYTES {
                    break;
                }
            }
            Ok::<_, reqwest::Error>(status)
        };
        match read.await {
            Ok(status) if !status.is_server_error() => {
                tracing::debug!(target_id = %self.target, %url, %status, "warmed");
                "ok"
            }
            Ok(status) => {
                tracing::warn!(target_id = %self.target, %url, %status, "warming request answered with a server error");
                "error"
            }
            Err(error) => {
                let error = error.without_url();
                tracing::warn!(target_id = %self.target, %url, %error, "warming request failed");
                "error"
            }
        }
    }
}
