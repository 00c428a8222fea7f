//! One line of the purge history: an accepted event, a job it made, a
//! provider call that covered jobs, or a purged URL's verification. The ids
//! join them: an event names its jobs, a job its event, a call the jobs it
//! covered (merged ones included), a verification its call. An event's
//! jobs are stored inside its record ([`MadeJob`]s: what they share with
//! the event is not written again) and read back as records of their own
//! ([`expand`]).

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
    /// As stored: the jobs an event made (its `jobs` then stays empty).
    /// Never in a record read back: [`expand`] makes them job records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub made: Vec<MadeJob>,
}

/// A job kept inside its event's record, with what is its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MadeJob {
    /// The job's id.
    pub job: String,
    /// Its target.
    pub target: String,
    /// The rule that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// What it purges (`urls ×2`).
    pub action: String,
    /// The URLs it purges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

/// Records as stored, newest first, to records as read: each event's jobs
/// become job records of their own, newest first as they were written
/// (after the event), and the event names them in `jobs` again.
pub fn expand(stored: Vec<Record>) -> Vec<Record> {
    let mut records = Vec::with_capacity(stored.len());
    for mut record in stored {
        let made = std::mem::take(&mut record.made);
        for job in made.iter().rev() {
            let mut own = Record::new(Kind::Job, record.at, "queued");
            own.source.clone_from(&record.source);
            own.delivery.clone_from(&record.delivery);
            own.event.clone_from(&record.event);
            own.rule.clone_from(&job.rule);
            own.job = Some(job.job.clone());
            own.target = Some(job.target.clone());
            own.action = Some(job.action.clone());
            own.urls.clone_from(&job.urls);
            records.push(own);
        }
        record.jobs.extend(made.into_iter().map(|job| job.job));
        records.push(record);
    }
    records
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
            made: Vec::new(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn made(job: &str, rule: &str) -> MadeJob {
        MadeJob {
            job: job.into(),
            target: "blog".into(),
            rule: Some(rule.into()),
            action: "urls ×1".into(),
            urls: vec![format!("https://blog.example/{job}/")],
        }
    }

    #[test]
    fn an_events_stored_jobs_are_read_back_as_job_records_after_it() {
        let at = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let mut event = Record::new(Kind::Event, at, "accepted");
        event.source = Some("wp".into());
        event.delivery = Some("d1".into());
        event.event = Some("e1".into());
        event.rule = Some("posts, pages".into());
        event.made = vec![made("j1", "posts"), made("j2", "pages")];
        let stored: Record = serde_json::from_slice(&serde_json::to_vec(&event).unwrap()).unwrap();
        let read = expand(vec![stored]);
        let kinds: Vec<Kind> = read.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, [Kind::Job, Kind::Job, Kind::Event], "newest first");
        assert_eq!(read[0].job.as_deref(), Some("j2"));
        assert_eq!(read[0].rule.as_deref(), Some("pages"));
        assert_eq!(read[1].job.as_deref(), Some("j1"));
        for job in &read[..2] {
            assert_eq!(job.source.as_deref(), Some("wp"));
            assert_eq!(job.delivery.as_deref(), Some("d1"));
            assert_eq!(job.event.as_deref(), Some("e1"));
            assert_eq!(job.target.as_deref(), Some("blog"));
            assert_eq!(job.outcome, "queued");
            assert_eq!(job.at, at);
        }
        assert_eq!(read[2].jobs, ["j1", "j2"]);
        assert!(read[2].made.is_empty());
    }

    #[test]
    fn records_stored_one_per_job_read_as_they_are() {
        let at = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let mut job = Record::new(Kind::Job, at, "queued");
        job.job = Some("j1".into());
        let mut event = Record::new(Kind::Event, at, "accepted");
        event.jobs = vec!["j1".into()];
        let stored = vec![job.clone(), event.clone()];
        assert_eq!(expand(stored), [job, event]);
    }
}
