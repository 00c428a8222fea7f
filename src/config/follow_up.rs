//! A target's keys for what follows a purge and for purge storms:
//! verification (`verify`, or a `verify = { … }` table to tune it, and the
//! flat `verify_rate`, `verify_max`, `verify_retries`, `verify_delay`),
//! re-warming (`warm`, `warm_rate`) and storm escalation
//! (`escalate_after`). Read with the target's other common keys; whether
//! the target's provider can do them is checked once the provider is known.

use std::time::Duration;

use toml::Value;

use super::fields::{Fields, type_name};
use crate::action::MAX_ACTION_ITEMS;
use crate::units::{HumaneDuration, Rate};

/// What a target does after a URL purge succeeded, and when a batch is a
/// storm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUpSettings {
    /// Request each purged URL and read the cache's answer.
    pub verify: bool,
    /// At most this many verification requests per period.
    pub verify_rate: Rate,
    /// At most this many URLs verified (and warmed) per batch.
    pub verify_max: usize,
    /// How many times URLs found stale are purged again before a warning.
    pub verify_retries: u32,
    /// How long after a purge its URLs are checked (and warmed): CDN purges
    /// take a moment to reach every edge.
    pub verify_delay: Duration,
    /// Request each purged URL once, so the next visitor finds it cached.
    pub warm: bool,
    /// At most this many warming requests per period.
    pub warm_rate: Rate,
    /// A merged batch with more URLs than this becomes one broader purge.
    pub escalate_after: Option<usize>,
}

impl Default for FollowUpSettings {
    fn default() -> Self {
        Self {
            verify: false,
            verify_rate: Rate {
                calls: 5,
                period: Duration::from_secs(1),
            },
            verify_max: 100,
            verify_retries: 2,
            verify_delay: Duration::from_secs(2),
            warm: false,
            warm_rate: Rate {
                calls: 2,
                period: Duration::from_secs(1),
            },
            escalate_after: None,
        }
    }
}

/// A `verify = { … }` table's values (`rate`, `max`, `retries`, `delay`:
/// each also a flat `verify_<key>`), each absent unless given.
#[derive(Default)]
struct Tuning {
    rate: Option<Rate>,
    max: Option<usize>,
    retries: Option<u32>,
    delay: Option<HumaneDuration>,
}

impl FollowUpSettings {
    /// Reads these keys from a target's table.
    pub(super) fn read(fields: &mut Fields<'_>) -> Self {
        let d = Self::default();
        let (verify, tuning) = read_verify(fields);
        let verify_rate = flat_or(fields, "verify_rate", tuning.rate, d.verify_rate);
        let verify_max = flat_or(fields, "verify_max", tuning.max, d.verify_max);
        if !(1..=MAX_ACTION_ITEMS).contains(&verify_max) {
            fields.problem(
                "verify_max",
                format!("must be between 1 and {MAX_ACTION_ITEMS}, got {verify_max}"),
            );
        }
        let verify_retries = flat_or(fields, "verify_retries", tuning.retries, d.verify_retries);
        let verify_delay = flat_or(
            fields,
            "verify_delay",
            tuning.delay,
            HumaneDuration(d.verify_delay),
        );
        let escalate_after: Option<usize> = fields.value_or("escalate_after", None);
        if escalate_after == Some(0) {
            fields.problem("escalate_after", "must be at least 1 (a number of URLs)");
        }
        Self {
            verify,
            verify_rate,
            verify_max: verify_max.clamp(1, MAX_ACTION_ITEMS),
            verify_retries,
            verify_delay: verify_delay.0,
            warm: fields.value_or("warm", d.warm),
            warm_rate: fields.value_or("warm_rate", d.warm_rate),
            escalate_after: escalate_after.filter(|n| *n > 0),
        }
    }
}

impl FollowUpSettings {
    /// What is on, for `check` (`, verify 5/1s …`); empty when nothing is.
    pub fn describe(&self) -> String {
        let mut text = String::new();
        if self.verify {
            text.push_str(&format!(
                ", verify {} (at most {} URLs a batch, {} re-purges, after {})",
                self.verify_rate,
                self.verify_max,
                self.verify_retries,
                humantime::format_duration(self.verify_delay)
            ));
        }
        if self.warm {
            text.push_str(&format!(", warm {}", self.warm_rate));
        }
        if let Some(after) = self.escalate_after {
            text.push_str(&format!(", escalate after {after} URLs"));
        }
        text
    }
}

/// `verify`: `true`/`false`, or a table tuning it (which turns it on).
fn read_verify(fields: &mut Fields<'_>) -> (bool, Tuning) {
    match fields.raw("verify") {
        None => (false, Tuning::default()),
        Some(Value::Boolean(on)) => (on, Tuning::default()),
        Some(Value::Table(table)) => {
            let path = fields.path_of("verify");
            let mut table_fields = Fields::new(table, path, fields.problems());
            let tuning = Tuning {
                rate: table_fields.value_or("rate", None),
                max: table_fields.value_or("max", None),
                retries: table_fields.value_or("retries", None),
                delay: table_fields.value_or("delay", None),
            };
            let _ = table_fields.finish();
            (true, tuning)
        }
        Some(other) => {
            let got = type_name(&other);
            fields.problem(
                "verify",
                format!("expected true, false or a table like {{ rate = \"5/s\" }}, got {got}"),
            );
            (false, Tuning::default())
        }
    }
}

/// The flat key `key` (`verify_rate`), or the table's value, or `default`;
/// both given is a problem.
fn flat_or<T: serde::de::DeserializeOwned>(
    fields: &mut Fields<'_>,
    key: &'static str,
    from_table: Option<T>,
    default: T,
) -> T {
    let flat: Option<T> = fields.value_or(key, None);
    match (flat, from_table) {
        (Some(_), Some(tuned)) => {
            let inner = key.trim_start_matches("verify_");
            fields.problem(
                key,
                format!("given twice: as {key} and as verify.{inner}; keep one"),
            );
            tuned
        }
        (Some(value), None) | (None, Some(value)) => value,
        (None, None) => default,
    }
}
