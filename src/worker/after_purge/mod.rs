//! What follows a successful URL purge, off the target's batch loop. The
//! batch loop hands the URLs a batch purged ([`PurgedUrl`]) through a
//! [`Handoff`], which never waits, to two tasks of the target's own:
//!
//! - the verifier (`verify`) waits `verify_delay` after the purge, requests
//!   each URL (HEAD, else GET) spaced by `verify_rate`, and reads the
//!   cache's answer ([`classify`]); the URLs found stale are purged again
//!   through the queue, as a job carrying its re-purge count, so that the
//!   re-purge is durable, merges with other jobs, and `verify_retries`
//!   holds across re-purges;
//! - the warmer (`warm`) requests each URL the purge made fresh (or all of
//!   them, without `verify`, after `verify_delay`) once, spaced by
//!   `warm_rate`.
//!
//! Each queue holds [`QUEUE_BATCHES`] batches; when one is full, the
//! newest batch's URLs are not followed up (said in the log). A batch's
//! follow-ups cover at most `verify_max` URLs. Both tasks end at a stop,
//! leaving what they had not done.

mod check;
pub mod classify;
mod outcome;
mod spacing;
mod verifier;
mod warmer;

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::escalate::Storm;
use crate::action::Action;
use crate::history::History;
use crate::job::{Job, TargetId};
use crate::queue::Queue;
use crate::units::Rate;
pub use outcome::{Outcome, VerifyOutcome};
use verifier::Verifier;
use warmer::{Warm, Warmer};

/// How many batches each follow-up queue holds.
pub const QUEUE_BATCHES: usize = 64;

/// Verification of purged URLs (`verify`).
#[derive(Debug, Clone, Copy)]
pub struct VerifyPolicy {
    /// Requests per period (`verify_rate`).
    pub rate: Rate,
    /// Re-purges of URLs found stale before a warning (`verify_retries`).
    pub retries: u32,
}

/// Re-warming of purged URLs (`warm`).
#[derive(Debug, Clone, Copy)]
pub struct WarmPolicy {
    /// Requests per period (`warm_rate`).
    pub rate: Rate,
}

/// What a target does after a URL purge succeeded.
#[derive(Debug, Clone)]
pub struct AfterPurge {
    /// The client of the checks and warming requests (redirects not
    /// followed: a cache's answer is read as it is).
    pub client: reqwest::Client,
    /// How long after a purge its URLs are checked or warmed.
    pub delay: Duration,
    /// The most URLs of one batch followed up (`verify_max`).
    pub max_urls: usize,
    /// Verification, when on.
    pub verify: Option<VerifyPolicy>,
    /// Warming, when on.
    pub warm: Option<WarmPolicy>,
}

/// A URL a batch purged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgedUrl {
    /// The URL.
    pub url: String,
    /// When the call that purged it ended.
    pub at: Instant,
    /// How many times it was purged again already after being found stale.
    pub repurge: u32,
    /// Whether it may be warmed (a URL purged by name, not by a broader
    /// purge that replaced a storm of URLs).
    pub warm: bool,
    /// The provider call that purged it (its id in the history).
    pub call: Option<uuid::Uuid>,
}

/// The URLs a successful `call` of a batch purged: a URL call's own, or,
/// when the call is the broader purge that replaced a storm's URLs, those
/// (never warmed). Other calls name no URL: tags, prefixes, post ids (their
/// related pages are known only to the provider) are not followed up.
pub fn purged_urls<'a>(
    call: &Action,
    storm: Option<&Storm>,
    jobs: impl Iterator<Item = &'a Job>,
) -> Vec<PurgedUrl> {
    let (urls, warm) = match (call, storm) {
        (Action::Urls { urls }, _) => (urls, true),
        (_, Some(storm)) if storm.is_covered_by(call) => (&storm.urls, false),
        _ => return Vec::new(),
    };
    let mut repurged: HashMap<&str, u32> = HashMap::new();
    for job in jobs.filter(|job| job.repurge > 0) {
        if let Action::Urls { urls } = &job.action {
            for url in urls {
                let count = repurged.entry(url).or_default();
                *count = (*count).max(job.repurge);
            }
        }
    }
    let at = Instant::now();
    urls.iter()
        .map(|url| PurgedUrl {
            url: url.clone(),
            at,
            repurge: repurged.get(url.as_str()).copied().unwrap_or(0),
            warm,
            call: None,
        })
        .collect()
}

/// The batch loop's end of a target's follow-ups.
pub struct Handoff {
    target: TargetId,
    max_urls: usize,
    delay: Duration,
    verify: Option<mpsc::Sender<Vec<PurgedUrl>>>,
    warm: Option<mpsc::Sender<Warm>>,
}

impl Handoff {
    /// A handoff to nothing (a target without follow-ups).
    pub fn none(target: &TargetId) -> Handoff {
        Handoff {
            target: target.clone(),
            max_urls: 0,
            delay: Duration::ZERO,
            verify: None,
            warm: None,
        }
    }

    /// Hands the URLs a batch purged to the verifier, or to the warmer
    /// when the target does not verify. Never waits: a full queue leaves
    /// them out, which the log says.
    pub fn purged(&self, mut urls: Vec<PurgedUrl>) {
        if urls.is_empty() || (self.verify.is_none() && self.warm.is_none()) {
            return;
        }
        if urls.len() > self.max_urls {
            tracing::info!(target_id = %self.target, purged = urls.len(), followed_up = self.max_urls, "more URLs purged than verify_max: only the first are followed up");
            urls.truncate(self.max_urls);
        }
        let count = urls.len();
        let full = match (&self.verify, &self.warm) {
            (Some(verify), _) => is_full(verify.try_send(urls)),
            (None, Some(warm)) => {
                let not_before = urls.iter().map(|u| u.at).max().unwrap_or_else(Instant::now);
                let urls: Vec<String> =
                    urls.into_iter().filter(|u| u.warm).map(|u| u.url).collect();
                let not_before = not_before + self.delay;
                !urls.is_empty() && is_full(warm.try_send(Warm { urls, not_before }))
            }
            (None, None) => false,
        };
        if full {
            tracing::warn!(target_id = %self.target, urls = count, "follow-up queue full: these purged URLs are not verified or warmed");
        }
    }
}

/// Whether a handoff found its queue full (a closed one: the target is
/// stopping, and nothing is said).
fn is_full<T>(sent: Result<(), mpsc::error::TrySendError<T>>) -> bool {
    matches!(sent, Err(mpsc::error::TrySendError::Full(_)))
}

impl AfterPurge {
    /// Starts `target`'s follow-ups: the handoff for its batch loop, and
    /// the future running the verifier and the warmer until `stop`, or
    /// until the handoff is dropped and their queues are empty.
    pub fn start(
        &self,
        target: &TargetId,
        (queue, history): (&Queue, &History),
        stop: &CancellationToken,
    ) -> (Handoff, impl Future<Output = ()> + Send + 'static) {
        let (warm_tx, warmer) = match self.warm {
            Some(policy) => {
                let (tx, rx) = mpsc::channel(QUEUE_BATCHES);
                let warmer = Warmer::new(target, &self.client, policy);
                (Some(tx), Some(warmer.run(rx, stop.clone())))
            }
            None => (None, None),
        };
        let (verify_tx, verifier) = match self.verify {
            Some(policy) => {
                let (tx, rx) = mpsc::channel(QUEUE_BATCHES);
                let verifier = Verifier {
                    target: target.clone(),
                    client: self.client.clone(),
                    policy,
                    delay: self.delay,
                    queue: queue.clone(),
                    warm: warm_tx.clone(),
                    history: history.clone(),
                };
                (Some(tx), Some(verifier.run(rx, stop.clone())))
            }
            None => (None, None),
        };
        let handoff = Handoff {
            target: target.clone(),
            max_urls: self.max_urls,
            delay: self.delay,
            verify: verify_tx,
            // With a verifier, the warmer hears from it alone.
            warm: if verifier.is_some() { None } else { warm_tx },
        };
        let tasks = async move {
            let verifying = async {
                if let Some(verifier) = verifier {
                    verifier.await;
                }
            };
            let warming = async {
                if let Some(warmer) = warmer {
                    warmer.await;
                }
            };
            tokio::join!(verifying, warming);
        };
        (handoff, tasks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: &[&str]) -> Action {
        Action::Urls {
            urls: list.iter().map(|u| u.to_string()).collect(),
        }
    }

    #[test]
    fn a_url_call_is_followed_up_with_each_urls_repurge_count() {
        let target = TargetId::new("t").unwrap();
        let fresh = Job::new(target.clone(), urls(&["https://a.example/1"]), None);
        let again = Job {
            repurge: 2,
            ..Job::new(target, urls(&["https://a.example/2"]), None)
        };
        let call = urls(&["https://a.example/1", "https://a.example/2"]);
        let purged = purged_urls(&call, None, [&fresh, &again].into_iter());
        let counts: Vec<(&str, u32, bool)> = purged
            .iter()
            .map(|p| (p.url.as_str(), p.repurge, p.warm))
            .collect();
        assert_eq!(
            counts,
            [
                ("https://a.example/1", 0, true),
                ("https://a.example/2", 2, true)
            ]
        );
    }

    #[test]
    fn broader_purges_are_followed_up_only_for_a_storms_urls_and_never_warmed() {
        let none = std::iter::empty();
        for call in [
            Action::EVERYTHING,
            Action::Tags {
                tags: vec!["t".into()],
            },
            Action::Prefixes {
                prefixes: vec!["https://a.example/blog/".into()],
            },
            Action::PostIds {
                post_ids: vec![1],
                related: true,
            },
        ] {
            assert!(
                purged_urls(&call, None, none.clone()).is_empty(),
                "{call:?}"
            );
        }
        let storm = Storm {
            urls: vec!["https://a.example/1".into(), "https://a.example/2".into()],
            broader: Some(Action::EVERYTHING),
        };
        let purged = purged_urls(&Action::EVERYTHING, Some(&storm), none.clone());
        assert_eq!(purged.len(), 2);
        assert!(purged.iter().all(|p| !p.warm));
        let tags = Action::Tags {
            tags: vec!["t".into()],
        };
        assert!(purged_urls(&tags, Some(&storm), none).is_empty());
    }

    #[tokio::test]
    async fn the_handoff_never_waits_and_follows_up_at_most_verify_max_urls() {
        let (tx, mut rx) = mpsc::channel(1);
        let handoff = Handoff {
            target: TargetId::new("t").unwrap(),
            max_urls: 2,
            delay: Duration::ZERO,
            verify: Some(tx),
            warm: None,
        };
        let call = urls(&[
            "https://a.example/1",
            "https://a.example/2",
            "https://a.example/3",
        ]);
        let purged = || purged_urls(&call, None, std::iter::empty());
        handoff.purged(purged());
        handoff.purged(purged());
        let first = rx.try_recv().expect("the first batch");
        assert_eq!(first.len(), 2, "verify_max");
        assert!(rx.try_recv().is_err(), "the second found the queue full");
        drop(rx);
        handoff.purged(purged());
    }
}
