//! A history question — by URL, event, job or target, since a time — read
//! from the API's query string or the command line with errors that name
//! the parameter, and [`select`], which answers it from records: the direct
//! matches, joined through their ids (an event's jobs, the calls covering
//! those jobs, the verifications of those calls), newest first. Pure.

use std::collections::BTreeSet;
use std::time::Duration;

use super::record::{Kind, Record};
use crate::job::Timestamp;

/// What is asked; exactly one of `url`, `event`, `job`, `target`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Records about this URL.
    pub url: Option<String>,
    /// Records of this event and what it caused.
    pub event: Option<String>,
    /// Records of this job: its event, its calls, their verifications.
    pub job: Option<String>,
    /// Records of this target.
    pub target: Option<String>,
    /// Only records this recent (none: the whole retention).
    pub since: Option<Duration>,
}

/// A question that is not one, naming the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{parameter}: {problem}")]
pub struct BadQuery {
    /// The parameter (`url`, `since`…).
    pub parameter: String,
    /// What is wrong with it.
    pub problem: String,
}

fn bad(parameter: &str, problem: impl Into<String>) -> BadQuery {
    BadQuery {
        parameter: parameter.into(),
        problem: problem.into(),
    }
}

/// The parameters a query takes.
pub const PARAMETERS: [&str; 5] = ["url", "event", "job", "target", "since"];

impl Query {
    /// Reads a query from `(name, value)` pairs (a query string's).
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Query, BadQuery> {
        let mut query = Query::default();
        for (name, value) in pairs {
            let slot = match name {
                "url" => &mut query.url,
                "event" => &mut query.event,
                "job" => &mut query.job,
                "target" => &mut query.target,
                "since" => {
                    let since = humantime::parse_duration(value).map_err(|e| {
                        bad(
                            "since",
                            format!("{value:?} is not a duration like 1h or 30m ({e})"),
                        )
                    })?;
                    query.since = Some(since);
                    continue;
                }
                other => {
                    return Err(bad(
                        other,
                        format!("unknown parameter; use one of {}", PARAMETERS.join(", ")),
                    ));
                }
            };
            if value.trim().is_empty() {
                return Err(bad(name, "empty"));
            }
            if value.len() > 4096 {
                return Err(bad(name, "longer than 4096 characters"));
            }
            if slot.replace(value.to_string()).is_some() {
                return Err(bad(name, "given twice"));
            }
        }
        query.check()?;
        Ok(query)
    }

    /// Checks that exactly one subject is asked about.
    pub fn check(&self) -> Result<(), BadQuery> {
        let given = [&self.url, &self.event, &self.job, &self.target]
            .iter()
            .filter(|v| v.is_some())
            .count();
        match given {
            1 => Ok(()),
            0 => Err(bad(
                "url",
                "say what to look for: url, event, job or target",
            )),
            _ => Err(bad(
                "url",
                "ask about one of url, event, job, target at a time",
            )),
        }
    }

    /// The query string that asks this (for the API).
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        for (name, value) in [
            ("url", &self.url),
            ("event", &self.event),
            ("job", &self.job),
            ("target", &self.target),
        ] {
            if let Some(value) = value {
                pairs.push((name, value.clone()));
            }
        }
        if let Some(since) = self.since {
            pairs.push(("since", format!("{}s", since.as_secs().max(1))));
        }
        pairs
    }

    /// The oldest time asked about, given the time now.
    pub fn since_ms(&self, now: Timestamp, retention: Duration) -> u64 {
        let window = self.since.map_or(retention, |s| s.min(retention));
        let now_ms = u64::try_from(now.as_millisecond()).unwrap_or(0);
        now_ms.saturating_sub(window.as_millis() as u64)
    }
}

/// The records that answer `query`, newest first.
pub fn select(records: Vec<Record>, query: &Query) -> Vec<Record> {
    let direct = |r: &Record| {
        query.url.as_ref().is_some_and(|u| r.urls.contains(u))
            || query
                .event
                .as_deref()
                .is_some_and(|e| r.event.as_deref() == Some(e))
            || query.job.as_deref().is_some_and(|j| r.names_job(j))
            || query
                .target
                .as_deref()
                .is_some_and(|t| r.target.as_deref() == Some(t))
    };
    let mut jobs = BTreeSet::new();
    let mut calls = BTreeSet::new();
    if query.target.is_none() {
        jobs.extend(query.job.iter().cloned());
        for record in records.iter().filter(|r| direct(r)) {
            // A job stands for itself and what it merged; an event asked
            // about, for its jobs. A call covering many jobs does not pull
            // in the others, nor an event its other jobs.
            match record.kind {
                Kind::Job => {
                    jobs.extend(record.job.iter().cloned());
                    jobs.extend(record.jobs.iter().cloned());
                }
                Kind::Event if query.event.is_some() => jobs.extend(record.jobs.iter().cloned()),
                _ => {}
            }
            calls.extend(record.call.iter().cloned());
        }
        for record in records.iter().filter(|r| r.kind == Kind::Call) {
            if record.jobs.iter().any(|j| jobs.contains(j)) {
                calls.extend(record.call.iter().cloned());
            }
        }
    }
    let related = |r: &Record| match r.kind {
        Kind::Event | Kind::Job => r.job.iter().chain(&r.jobs).any(|j| jobs.contains(j)),
        Kind::Call => r.call.as_ref().is_some_and(|c| calls.contains(c)),
        Kind::Verify => {
            r.call.as_ref().is_some_and(|c| calls.contains(c))
                && query.url.as_ref().is_none_or(|u| r.urls.contains(u))
        }
    };
    let mut answer: Vec<Record> = records
        .into_iter()
        .filter(|r| direct(r) || related(r))
        .collect();
    answer.sort_by_key(|r| std::cmp::Reverse(r.at));
    answer
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
