//! The job wire schema (v1): a [`Job`] is an [`Action`] on the queue, with
//! its id, [`TargetId`], originating event, creation time and attempt
//! count. The JSON shape of [`Job`] is a public contract: message producers
//! publish it and the dead-letter tools print it, so fields are only ever
//! added.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::action::{Action, InvalidAction};

/// The job schema version this build reads and writes.
pub const SCHEMA_VERSION: u8 = 1;

/// A point in time, written as RFC 3339 (`2026-11-23T20:31:00Z`); any
/// offset is read.
pub type Timestamp = jiff::Timestamp;

/// The current time, to the millisecond.
pub fn now() -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_millisecond(now.as_millisecond()).unwrap_or(now)
}

/// The id of a configured target (`[targets.<id>]`): letters, digits, `-`
/// and `_`. It names the target's queue and routing key.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TargetId(Arc<str>);

/// A target id that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a target id: ids use only letters, digits, '-' and '_'")]
pub struct InvalidTargetId(pub String);

impl TargetId {
    /// Checks and wraps an id.
    pub fn new(id: &str) -> Result<TargetId, InvalidTargetId> {
        let valid = !id.is_empty()
            && id.len() <= 200
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid {
            Ok(TargetId(Arc::from(id)))
        } else {
            Err(InvalidTargetId(id.to_string()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl PartialEq<str> for TargetId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for TargetId {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl Borrow<str> for TargetId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for TargetId {
    type Err = InvalidTargetId;

    fn from_str(id: &str) -> Result<Self, Self::Err> {
        TargetId::new(id)
    }
}

impl Serialize for TargetId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TargetId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let id = String::deserialize(deserializer)?;
        TargetId::new(&id).map_err(serde::de::Error::custom)
    }
}

/// Where a job came from, when it came from a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRef {
    /// The source id (`[sources.<id>]`).
    pub source: String,
    /// The event type (`push`, `post.published`…).
    #[serde(rename = "type")]
    pub event_type: String,
    /// The sender's delivery id, when it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
}

/// A purge request for one target, as it travels on the queue (schema v1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Schema version; always [`SCHEMA_VERSION`].
    pub v: u8,
    /// Unique id (UUID v7).
    pub id: Uuid,
    /// The target.
    pub target: TargetId,
    /// What to purge.
    pub action: Action,
    /// The originating event, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<EventRef>,
    /// When the job was made.
    pub created_at: Timestamp,
    /// How many times the job was tried before (0 for a new job).
    #[serde(default)]
    pub attempt: u32,
    /// For a job made by merging others (a merged call that failed): the
    /// ids of the jobs it covers, so that the ids a webhook or `purge`
    /// answered can be found in the dead letters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<Uuid>,
    /// For a job purging again URLs that verification found still cached
    /// after a purge: how many times they were purged again so far (1 for
    /// the first re-purge), so that `verify_retries` holds across re-purges.
    /// 0 (and absent on the wire) for every other job.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub repurge: u32,
}

fn is_zero(count: &u32) -> bool {
    *count == 0
}

impl Job {
    /// A new job for `target`, created now.
    pub fn new(target: TargetId, action: Action, event: Option<EventRef>) -> Self {
        Self {
            v: SCHEMA_VERSION,
            id: Uuid::now_v7(),
            target,
            action,
            event,
            created_at: now(),
            attempt: 0,
            merged_from: Vec::new(),
            repurge: 0,
        }
    }

    /// Whether this job is, or covers, the job `id`.
    pub fn answers_to(&self, id: &str) -> bool {
        self.id.to_string() == id || self.merged_from.iter().any(|m| m.to_string() == id)
    }

    /// Serializes to the wire format.
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Parses and validates a job from the wire: schema version, shape and action.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InvalidJob> {
        // A valid job in one pass (the common case); whatever that pass
        // refuses is read again below, for an error that names its field.
        if let Ok(job) = serde_json::from_slice::<Job>(bytes) {
            if job.v == SCHEMA_VERSION && job.action.validate().is_ok() {
                return Ok(job);
            }
        }
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| InvalidJob::NotJson(e.to_string()))?;
        match value.get("v") {
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(u64::from(SCHEMA_VERSION)) => {
            }
            Some(other) => return Err(InvalidJob::Version(other.to_string())),
            None => return Err(InvalidJob::Version("missing".into())),
        }
        // The action on its own first, for an error that names its field.
        if let Some(action) = value.get("action") {
            Action::from_json(action.clone()).map_err(InvalidJob::Action)?;
        }
        let job: Job = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            InvalidJob::Schema(format!("{path}: {}", e.into_inner()))
        })?;
        job.action.validate().map_err(InvalidJob::Action)?;
        Ok(job)
    }
}

/// Why bytes from the queue are not a valid v1 job.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InvalidJob {
    /// Not JSON at all.
    #[error("not valid JSON: {0}")]
    NotJson(String),
    /// Missing or unsupported `v`.
    #[error("unsupported schema version {0} (this build reads v1)")]
    Version(String),
    /// JSON, but not the job shape.
    #[error("not a valid v1 job: {0}")]
    Schema(String),
    /// A job whose action breaks the vocabulary's rules.
    #[error("invalid action: {0}")]
    Action(InvalidAction),
}

#[cfg(test)]
#[path = "job_tests.rs"]
mod tests;
