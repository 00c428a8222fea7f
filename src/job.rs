//! The purge vocabulary and the job wire schema (v1).
//!
//! An [`Action`] says what to purge at one target; a [`Job`] is an action on
//! the queue, with its id, target, originating event and attempt count. The
//! JSON shape of [`Job`] is a public contract: message producers publish it
//! and the dead-letter tools print it, so fields are only ever added.

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The job schema version this build reads and writes.
pub const SCHEMA_VERSION: u8 = 1;

/// Upper bound on the items of one action (URLs, tags, ids…). Larger requests
/// are refused rather than silently truncated.
pub const MAX_ACTION_ITEMS: usize = 10_000;

/// What to purge at one target: the common purge vocabulary of DESIGN.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Everything the target caches.
    Everything {
        /// Also run the provider's heavier maintenance, where it offers one
        /// (Brilliant Directories' `full=true`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        full: bool,
    },
    /// Absolute URLs.
    Urls {
        /// The URLs to purge, each absolute (`https://…`).
        urls: Vec<String>,
    },
    /// URL prefixes (with or without scheme).
    Prefixes {
        /// The prefixes to purge.
        prefixes: Vec<String>,
    },
    /// Cache tags / surrogate keys.
    Tags {
        /// The tags to purge.
        tags: Vec<String>,
    },
    /// WordPress post ids, optionally with their related pages.
    PostIds {
        /// The post ids.
        post_ids: Vec<u64>,
        /// Also purge the archives, taxonomies… the posts appear on.
        #[serde(default)]
        related: bool,
    },
    /// Named cache areas of the provider (e.g. `object`, `page`, `cdn`).
    Scopes {
        /// The areas.
        scopes: Vec<String>,
        /// Ask for a full (deep) refresh where the provider offers one.
        #[serde(default)]
        full: bool,
    },
    /// A named resource and its parameters (the cache task API).
    Resource {
        /// The resource's title.
        title: String,
        /// Its parameters.
        #[serde(default)]
        params: BTreeMap<String, serde_json::Value>,
    },
    /// A provider command that is not a purge (`clear_opcache`, …).
    Command {
        /// The command's name.
        name: String,
    },
}

/// The kind of an [`Action`], without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActionKind {
    /// [`Action::Everything`]
    Everything,
    /// [`Action::Urls`]
    Urls,
    /// [`Action::Prefixes`]
    Prefixes,
    /// [`Action::Tags`]
    Tags,
    /// [`Action::PostIds`]
    PostIds,
    /// [`Action::Scopes`]
    Scopes,
    /// [`Action::Resource`]
    Resource,
    /// [`Action::Command`]
    Command,
}

impl ActionKind {
    /// The name used in JSON and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Everything => "everything",
            ActionKind::Urls => "urls",
            ActionKind::Prefixes => "prefixes",
            ActionKind::Tags => "tags",
            ActionKind::PostIds => "post_ids",
            ActionKind::Scopes => "scopes",
            ActionKind::Resource => "resource",
            ActionKind::Command => "command",
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Action {
    /// `everything`, without the heavier maintenance.
    pub const EVERYTHING: Action = Action::Everything { full: false };

    /// This action's kind.
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Everything { .. } => ActionKind::Everything,
            Action::Urls { .. } => ActionKind::Urls,
            Action::Prefixes { .. } => ActionKind::Prefixes,
            Action::Tags { .. } => ActionKind::Tags,
            Action::PostIds { .. } => ActionKind::PostIds,
            Action::Scopes { .. } => ActionKind::Scopes,
            Action::Resource { .. } => ActionKind::Resource,
            Action::Command { .. } => ActionKind::Command,
        }
    }

    /// How many items the action names (1 for the kinds without a list).
    pub fn item_count(&self) -> usize {
        match self {
            Action::Urls { urls } => urls.len(),
            Action::Prefixes { prefixes } => prefixes.len(),
            Action::Tags { tags } => tags.len(),
            Action::PostIds { post_ids, .. } => post_ids.len(),
            Action::Scopes { scopes, .. } => scopes.len(),
            Action::Everything { .. } | Action::Resource { .. } | Action::Command { .. } => 1,
        }
    }

    /// Checks what every provider relies on: lists are non-empty and not
    /// absurdly long, strings are non-empty, URLs are absolute http(s).
    /// The error names the offending field.
    pub fn validate(&self) -> Result<(), InvalidAction> {
        let field = self.kind().as_str();
        if self.item_count() == 0 {
            return Err(InvalidAction::new(field, "must not be empty"));
        }
        if self.item_count() > MAX_ACTION_ITEMS {
            return Err(InvalidAction::new(
                field,
                format!(
                    "has {} items; at most {MAX_ACTION_ITEMS} are accepted",
                    self.item_count()
                ),
            ));
        }
        match self {
            Action::Urls { urls } => urls.iter().try_for_each(|u| check_absolute_url(u)),
            Action::Prefixes { prefixes: items }
            | Action::Tags { tags: items }
            | Action::Scopes { scopes: items, .. } => items.iter().try_for_each(|item| {
                if item.trim().is_empty() {
                    Err(InvalidAction::new(field, "contains an empty string"))
                } else {
                    Ok(())
                }
            }),
            Action::PostIds { post_ids, .. } => {
                if post_ids.contains(&0) {
                    Err(InvalidAction::new(field, "post ids start at 1; got 0"))
                } else {
                    Ok(())
                }
            }
            Action::Resource { title, .. } if title.trim().is_empty() => {
                Err(InvalidAction::new("title", "must not be empty"))
            }
            Action::Command { name } if name.trim().is_empty() => {
                Err(InvalidAction::new("name", "must not be empty"))
            }
            _ => Ok(()),
        }
    }
}

fn check_absolute_url(candidate: &str) -> Result<(), InvalidAction> {
    match url::Url::parse(candidate) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => Ok(()),
        _ => Err(InvalidAction::new(
            "urls",
            format!("{candidate:?} is not an absolute http(s) URL"),
        )),
    }
}

/// An action that breaks a rule of the vocabulary; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct InvalidAction {
    /// The offending field.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl InvalidAction {
    /// Builds the error.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
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
    /// The target id (`[targets.<id>]`).
    pub target: String,
    /// What to purge.
    pub action: Action,
    /// The originating event, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<EventRef>,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// How many times the job was tried before (0 for a new job).
    #[serde(default)]
    pub attempt: u32,
}

impl Job {
    /// A new job for `target`, created now.
    pub fn new(target: impl Into<String>, action: Action, event: Option<EventRef>) -> Self {
        Self {
            v: SCHEMA_VERSION,
            id: Uuid::now_v7(),
            target: target.into(),
            action,
            event,
            created_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            attempt: 0,
        }
    }

    /// Serializes to the wire format.
    pub fn to_bytes(&self) -> Vec<u8> {
        // A Job holds only strings, numbers and JSON values: it always serializes.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses and validates a job from the wire: schema version, shape and action.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InvalidJob> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| InvalidJob::NotJson(e.to_string()))?;
        match value.get("v") {
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(u64::from(SCHEMA_VERSION)) => {
            }
            Some(other) => return Err(InvalidJob::Version(other.to_string())),
            None => return Err(InvalidJob::Version("missing".into())),
        }
        let job: Job =
            serde_json::from_value(value).map_err(|e| InvalidJob::Schema(e.to_string()))?;
        if job.target.trim().is_empty() {
            return Err(InvalidJob::Schema("target: must not be empty".into()));
        }
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
mod tests {
    use super::*;

    #[test]
    fn design_example_round_trips() {
        let wire = br#"{"v":1,"id":"0193a6f0-0000-7000-8000-000000000000","target":"blog",
            "action":{"kind":"post_ids","post_ids":[42,43],"related":true},
            "event":{"source":"wp","type":"post.published","delivery_id":"msg_2Kx"},
            "created_at":"2026-11-23T20:31:00Z","attempt":0}"#;
        let job = Job::from_bytes(wire).expect("valid job");
        assert_eq!(
            job.action,
            Action::PostIds {
                post_ids: vec![42, 43],
                related: true
            }
        );
        assert_eq!(Job::from_bytes(&job.to_bytes()).expect("round trip"), job);
    }

    #[test]
    fn wrong_version_and_bad_actions_are_named() {
        let v2 = br#"{"v":2,"id":"0193a6f0-0000-7000-8000-000000000000","target":"b","action":{"kind":"everything"},"created_at":"x"}"#;
        assert!(matches!(Job::from_bytes(v2), Err(InvalidJob::Version(_))));
        let empty = Action::Urls { urls: vec![] };
        assert_eq!(empty.validate().unwrap_err().field, "urls");
        let relative = Action::Urls {
            urls: vec!["/blog/".into()],
        };
        assert!(
            relative
                .validate()
                .unwrap_err()
                .problem
                .contains("absolute")
        );
        assert!(Job::from_bytes(b"not json").is_err());
    }

    #[test]
    fn unknown_action_fields_are_rejected() {
        let extra = r#"{"kind":"urls","urls":["https://a.example/"],"color":"red"}"#;
        assert!(serde_json::from_str::<Action>(extra).is_err());
    }
}
