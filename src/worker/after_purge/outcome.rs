//! [`VerifyOutcome`]: how one purged URL was found, and
//! [`VerifyOutcome::record`], the one place an outcome leaves the
//! verifier — for the log, the metrics, and the purge history.

use crate::history::History;
use crate::job::TargetId;
use crate::telemetry;

/// How a purged URL was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// The origin answered, or the cache holds a copy younger than the purge.
    Fresh,
    /// The cache still served a copy older than the purge.
    Stale,
    /// The answer had no cache header to tell.
    Unknown,
    /// No answer (connection failed, timed out) or a server error.
    Error,
}

impl Outcome {
    /// Every outcome, in the metric's label order.
    pub const ALL: [Outcome; 4] = [
        Outcome::Fresh,
        Outcome::Stale,
        Outcome::Unknown,
        Outcome::Error,
    ];

    /// The name in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Fresh => "fresh",
            Outcome::Stale => "stale",
            Outcome::Unknown => "unknown",
            Outcome::Error => "error",
        }
    }
}

/// One URL's verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOutcome {
    /// The target whose purge it checks.
    pub target: TargetId,
    /// The URL.
    pub url: String,
    /// How it was found.
    pub outcome: Outcome,
    /// The answer's status and cache headers, or what failed.
    pub evidence: String,
    /// How many times the URL was purged again already before this check.
    pub repurge: u32,
    /// Requests it took (2 when HEAD was refused and GET asked instead).
    pub requests: u32,
    /// The provider call whose purge it checks (its id in the history).
    pub call: Option<uuid::Uuid>,
}

impl VerifyOutcome {
    /// Records the outcome: counted in `purgehook_purges_verified_total`,
    /// logged (stale at info, errors at warn, the rest at debug), and
    /// written to the purge history under its call.
    pub fn record(&self, history: &History) {
        telemetry::purge_verified(self.target.as_str(), self.outcome.as_str());
        history.verified(
            &self.target,
            self.call,
            &self.url,
            self.outcome.as_str(),
            &self.evidence,
        );
        let (target, url, evidence) = (&self.target, &self.url, &self.evidence);
        let outcome = self.outcome.as_str();
        match self.outcome {
            Outcome::Stale => {
                tracing::info!(target_id = %target, %url, outcome, %evidence, repurge = self.repurge, "purge verified: still cached from before the purge");
            }
            Outcome::Error => {
                tracing::warn!(target_id = %target, %url, outcome, %evidence, "purge not verified: the URL did not answer");
            }
            Outcome::Fresh | Outcome::Unknown => {
                tracing::debug!(target_id = %target, %url, outcome, %evidence, "purge verified");
            }
        }
    }
}
