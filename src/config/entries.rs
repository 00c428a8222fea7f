//! The named entries of the configuration: `[sources.<id>]`,
//! `[targets.<id>]` and `[[rules]]`. Their common keys are read here; what
//! depends on a source's scheme or a target's provider is kept as an
//! [`Unread`] table, read by the source and provider registries with these
//! common keys listed as valid too.

use std::time::Duration;

use toml::{Table, Value};

use super::error::Problems;
use super::fields::{Fields, Read, type_name};
use super::follow_up::FollowUpSettings;
use crate::secret::Secret;
use crate::units::{HumaneDuration, Rate};

/// A table whose keys belong to a registry (a scheme's, a provider's), with
/// its path; read later with [`Unread::fields`]. Its `Debug` shows the keys,
/// never the values (credentials are among them).
#[derive(Clone, Default)]
pub struct Unread {
    /// The keys not read yet.
    pub table: Table,
    /// Where the table is (`targets.blog`).
    pub path: String,
    /// The keys already read from it, valid there too.
    pub read: &'static [&'static str],
}

impl std::fmt::Debug for Unread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unread")
            .field("path", &self.path)
            .field("keys", &self.table.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Unread {
    /// A reader of the remaining keys.
    pub fn fields<'p>(&self, problems: &'p mut Problems) -> Fields<'p> {
        Fields::new(self.table.clone(), self.path.clone(), problems).also_valid(self.read)
    }
}

/// `[sources.<id>]`: an inbound endpoint `POST /hooks/<id>`.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    /// The signature scheme (`github`, `standard`…), checked by the source
    /// registry, which names the schemes when it is missing.
    pub kind: Option<String>,
    /// Accepted secrets; several allow rotation.
    pub secrets: Vec<Secret>,
    /// The scheme's own keys.
    pub options: Unread,
}

/// The keys every source has.
pub const SOURCE_KEYS: &[&str] = &["kind", "secrets"];

impl SourceSettings {
    pub(super) fn read(mut fields: Fields<'_>) -> Self {
        let kind = fields.value_or("kind", None);
        let secrets = fields.secrets("secrets").unwrap_or_default();
        if secrets.is_empty() && !fields.has_problems_at("secrets") {
            fields.problem("secrets", "at least one secret is required");
        }
        let path = fields.path().to_string();
        Self {
            kind,
            secrets,
            options: Unread {
                table: fields.into_rest(),
                path,
                read: SOURCE_KEYS,
            },
        }
    }
}

/// `[targets.<id>]`: a provider instance and how the worker treats it.
#[derive(Debug, Clone)]
pub struct TargetSettings {
    /// The provider's name, checked by the provider registry, which names
    /// the providers when it is missing.
    pub provider: Option<String>,
    /// The provider's own keys (API, credentials).
    pub options: Unread,
    /// Coalescing window; `[worker] window` when absent.
    pub window: Option<Duration>,
    /// At most N calls per period.
    pub rate: Option<Rate>,
    /// Attempts before dead-lettering; `[worker] max_attempts` when absent.
    pub max_attempts: Option<u32>,
    /// Verification, re-warming and storm escalation.
    pub follow_up: FollowUpSettings,
}

/// The keys every target has.
pub const TARGET_KEYS: &[&str] = &[
    "provider",
    "window",
    "rate",
    "max_attempts",
    "verify",
    "verify_rate",
    "verify_max",
    "verify_retries",
    "verify_delay",
    "warm",
    "warm_rate",
    "escalate_after",
];

impl TargetSettings {
    pub(super) fn read(mut fields: Fields<'_>) -> Self {
        let provider = fields.value_or("provider", None);
        let window: Option<HumaneDuration> = fields.value_or("window", None);
        let rate = fields.value_or("rate", None);
        let max_attempts = fields.value_or("max_attempts", None);
        let follow_up = FollowUpSettings::read(&mut fields);
        let path = fields.path().to_string();
        Self {
            provider,
            options: Unread {
                table: fields.into_rest(),
                path,
                read: TARGET_KEYS,
            },
            window: window.map(|duration| duration.0),
            rate,
            max_attempts,
            follow_up,
        }
    }
}

/// One `[[rules]]` entry, shape-checked; compiled by the rule compiler.
#[derive(Debug, Clone)]
pub struct RuleSettings {
    /// A human name, used in every message about the rule.
    pub name: String,
    /// The source id the rule listens to.
    pub source: String,
    /// Glob on the event type (`push`, `post.*`); `*` when absent.
    pub event: String,
    /// A condition expression; the rule applies only when it is true.
    pub when: Option<String>,
    /// The actions; each a table with `target` and the action's fields.
    pub actions: Vec<Table>,
    /// Where the rule is (`rules[2]`).
    pub path: String,
}

impl RuleSettings {
    /// The rule at `fields`; `None` when its shape is too broken to compile
    /// (the problems are recorded).
    pub(super) fn read(mut fields: Fields<'_>) -> Option<Self> {
        let name = fields.required("name");
        let source = fields.required("source");
        let event = fields.value_or("event", "*".to_string());
        let when = fields.optional("when");
        let actions = action_tables(&mut fields);
        let path = fields.path().to_string();
        let finished = fields.finish();
        finished.ok()?;
        Some(Self {
            name: name.ok()?,
            source: source.ok()?,
            event,
            when: when.ok()?,
            actions: actions.ok()?,
            path,
        })
    }

    /// The targets the rule's actions name (for summaries).
    pub fn targets(&self) -> Vec<&str> {
        self.actions
            .iter()
            .filter_map(|action| action.get("target").and_then(Value::as_str))
            .collect()
    }
}

fn action_tables(fields: &mut Fields<'_>) -> Read<Vec<Table>> {
    let Some(value) = fields.raw("actions") else {
        return Err(fields.problem(
            "actions",
            "missing; at least one [[rules.actions]] is required",
        ));
    };
    let Value::Array(items) = value else {
        let got = type_name(&value);
        return Err(fields.problem(
            "actions",
            format!("expected [[rules.actions]] tables, got {got}"),
        ));
    };
    let mut tables = Vec::with_capacity(items.len());
    let mut bad = Ok(());
    for (index, item) in items.into_iter().enumerate() {
        match item {
            Value::Table(table) => tables.push(table),
            other => {
                let got = type_name(&other);
                bad = Err(fields.problem(
                    &format!("actions[{index}]"),
                    format!("expected a table, got {got}"),
                ));
            }
        }
    }
    if tables.is_empty() && bad.is_ok() {
        bad = Err(fields.problem("actions", "at least one [[rules.actions]] is required"));
    }
    bad.map(|()| tables)
}
