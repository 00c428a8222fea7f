//! The verifier: for each batch handed over, waits `verify_delay` after
//! the purge, checks each URL in turn (spaced by `verify_rate`), records
//! each [`VerifyOutcome`], purges again — as a job on the queue, its
//! re-purge count one higher — the URLs found stale until they have been
//! purged again `verify_retries` times (then warns and counts them), and
//! hands the URLs found fresh or unknown to the warmer.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::check::check;
use super::outcome::{Outcome, VerifyOutcome};
use super::spacing::Spacing;
use super::warmer::Warm;
use super::{PurgedUrl, VerifyPolicy};
use crate::action::Action;
use crate::history::History;
use crate::job::{Job, TargetId};
use crate::queue::Queue;
use crate::telemetry;

/// A target's verifier.
pub(super) struct Verifier {
    pub target: TargetId,
    pub client: reqwest::Client,
    pub policy: VerifyPolicy,
    pub delay: Duration,
    pub queue: Queue,
    pub warm: Option<mpsc::Sender<Warm>>,
    pub history: History,
}

/// What one batch's checks found, beyond the outcomes recorded.
#[derive(Default)]
struct Found {
    /// Stale URLs, by how many times they were purged again already.
    stale: BTreeMap<u32, Vec<String>>,
    /// URLs to warm.
    warm: Vec<String>,
    /// Outcomes counted, for the batch's summary line.
    counts: BTreeMap<Outcome, usize>,
    /// Requests made.
    requests: u32,
}

impl Verifier {
    /// Verifies what comes until `stop`, or until the handoff is gone.
    pub async fn run(self, mut queue: mpsc::Receiver<Vec<PurgedUrl>>, stop: CancellationToken) {
        let mut spacing = Spacing::new(self.policy.rate);
        loop {
            let urls = tokio::select! {
                () = stop.cancelled() => break,
                urls = queue.recv() => match urls {
                    Some(urls) => urls,
                    None => return,
                },
            };
            let found = tokio::select! {
                () = stop.cancelled() => break,
                found = self.verify(urls, &mut spacing) => found,
            };
            self.conclude(found).await;
        }
        if !queue.is_empty() {
            tracing::info!(target_id = %self.target, batches = queue.len(), "stopping: purged URLs left unverified");
        }
    }

    /// Checks a batch's URLs once the purge has had `delay` to spread.
    async fn verify(&self, urls: Vec<PurgedUrl>, spacing: &mut Spacing) -> Found {
        let due = urls.iter().map(|u| u.at).max().unwrap_or_else(Instant::now) + self.delay;
        tokio::time::sleep_until(due).await;
        let mut found = Found::default();
        for purged in urls {
            let checked = check(&self.client, &purged.url, purged.at, spacing).await;
            found.requests += checked.requests;
            *found.counts.entry(checked.outcome).or_default() += 1;
            let outcome = VerifyOutcome {
                target: self.target.clone(),
                url: purged.url,
                outcome: checked.outcome,
                evidence: checked.evidence,
                repurge: purged.repurge,
                requests: checked.requests,
                call: purged.call,
            };
            outcome.record(&self.history);
            match outcome.outcome {
                Outcome::Stale => found
                    .stale
                    .entry(purged.repurge)
                    .or_default()
                    .push(outcome.url),
                Outcome::Fresh | Outcome::Unknown if purged.warm => found.warm.push(outcome.url),
                _ => {}
            }
        }
        found
    }

    /// Purges the stale URLs again (or gives up on them), hands the rest to
    /// the warmer, and logs the batch's summary.
    async fn conclude(&self, found: Found) {
        let count = |outcome| found.counts.get(&outcome).copied().unwrap_or(0);
        tracing::info!(
            target_id = %self.target,
            fresh = count(Outcome::Fresh),
            stale = count(Outcome::Stale),
            unknown = count(Outcome::Unknown),
            error = count(Outcome::Error),
            requests = found.requests,
            "purge verified"
        );
        for (repurged, urls) in found.stale {
            self.purge_again(repurged, urls).await;
        }
        if let Some(warm) = &self.warm
            && !found.warm.is_empty()
        {
            let urls = found.warm.len();
            let batch = Warm {
                urls: found.warm,
                not_before: Instant::now(),
            };
            if warm.try_send(batch).is_err() {
                tracing::warn!(target_id = %self.target, urls, "warming queue full: these purged URLs are not warmed");
            }
        }
    }

    /// Queues a job purging `urls` again, unless they were purged again
    /// `verify_retries` times already.
    async fn purge_again(&self, repurged: u32, urls: Vec<String>) {
        if repurged >= self.policy.retries {
            telemetry::still_stale(self.target.as_str(), urls.len());
            tracing::warn!(
                target_id = %self.target,
                urls = %urls.join(" "),
                repurges = repurged,
                "still cached from before the purge after every re-purge (verify_retries); another cache layer may hold them"
            );
            return;
        }
        let job = Job {
            repurge: repurged + 1,
            ..Job::new(self.target.clone(), Action::Urls { urls }, None)
        };
        match self.queue.publish(std::slice::from_ref(&job)).await {
            Ok(()) => {
                telemetry::jobs_queued(self.target.as_str(), 1);
                tracing::info!(target_id = %self.target, job_id = %job.id, urls = job.action.item_count(), repurge = job.repurge, "stale URLs queued to be purged again");
            }
            Err(error) => {
                tracing::error!(target_id = %self.target, %error, urls = job.action.item_count(), "cannot queue the stale URLs to be purged again");
            }
        }
    }
}
