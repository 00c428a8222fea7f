//! One line of the purge history: an accepted event, a job it made, a
//! provider call that covered jobs, or a purged URL's verification. The ids
//! join them: an event names its jobs, a job its event, a call the jobs it
//! covered (merged ones included), a verification its call.

use serde::{Deserialize, Serialize};

use crate::job::Timestamp;

/// What a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A webhook event accepted (its jobs stored).
    Event,
    /// A job queued (by an event's rule, the API or the command line).
    Job,
    /// A provider call: its outcome.
    Call,
    /// A purged URL checked after a call.
    Verify,
}

impl Kind {
    /// The name in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Event => "event",
            Kind::Job => "job",
            Kind::Call => "call",
            Kind::Verify => "verify",
        }
    }
}

/// One history record. Fields that do not apply to its kind are empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// When it happened.
    pub at: Timestamp,
    /// What it is about.
    pub kind: Kind,
    /// The source id (`api` for a purge through the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The sender's delivery id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
    /// The event id a webhook answered with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The rule that made the job (an event: the rules that matched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The job (of a job record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The jobs an event made, or a call covered (merged ones included).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<String>,
    /// The target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The provider call (of a call or a verification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    /// What it purged: the action's kind and items (`urls: a, b`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The URLs it concerns, for `--url`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// `accepted`, `queued`, `ok`, `retry`, `dead`, `requeued`, or a
    /// verification's `fresh`, `stale`, `unknown`, `error`.
    pub outcome: String,
    /// More: the provider's error, the cache's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Record {
    /// An empty record of `kind` at `at` with `outcome`.
    pub fn new(kind: Kind, at: Timestamp, outcome: impl Into<String>) -> Record {
        Record {
            at,
            kind,
            source: None,
            delivery: None,
            event: None,
            rule: None,
            job: None,
            jobs: Vec::new(),
            target: None,
            call: None,
            action: None,
            urls: Vec::new(),
            outcome: outcome.into(),
            detail: None,
        }
    }

    /// Milliseconds since the epoch (the store's key).
    pub fn at_ms(&self) -> u64 {
        u64::try_from(self.at.as_millisecond()).unwrap_or(0)
    }

    /// Whether the record names the job `id` (its own or one it covers).
    pub fn names_job(&self, id: &str) -> bool {
        self.job.as_deref() == Some(id) || self.jobs.iter().any(|j| j == id)
    }
}
