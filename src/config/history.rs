//! `[history]`: the purge history ("why was this purged?") — whether it is
//! kept, for how long, and where on RabbitMQ (PostgreSQL). On the embedded
//! backend it is on by default and lives in the store's own file; on
//! RabbitMQ it is on only with a `postgres_url`.

use std::time::Duration;

use super::fields::Fields;
use crate::units::HumaneDuration;

/// `[history]`.
#[derive(Clone)]
pub struct HistorySettings {
    /// `enabled`: `None` (absent) means the backend's default.
    pub enabled: Option<bool>,
    /// How long records are kept (`retention`, default 7 days).
    pub retention: Duration,
    /// PostgreSQL, where the history lives on RabbitMQ.
    pub postgres_url: Option<String>,
    /// The PostgreSQL table (`postgres_table`, default `purgehook_history`).
    pub postgres_table: String,
    /// Records waiting for the writer at most; beyond, records are dropped
    /// and counted (`buffer`, default 10000).
    pub buffer: usize,
}

impl Default for HistorySettings {
    fn default() -> Self {
        Self {
            enabled: None,
            retention: Duration::from_secs(7 * 24 * 3600),
            postgres_url: None,
            postgres_table: "purgehook_history".into(),
            buffer: 10_000,
        }
    }
}

impl std::fmt::Debug for HistorySettings {
    /// The PostgreSQL URL is shown without its credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let postgres = self.postgres_url.as_deref().map(|url| {
            url::Url::parse(url).map_or_else(
                |_| "(not a URL)".to_string(),
                |u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or("")),
            )
        });
        f.debug_struct("HistorySettings")
            .field("enabled", &self.enabled)
            .field("retention", &self.retention)
            .field("postgres", &postgres)
            .field("postgres_table", &self.postgres_table)
            .field("buffer", &self.buffer)
            .finish()
    }
}

impl HistorySettings {
    pub(super) fn read(mut fields: Fields<'_>) -> Self {
        let d = Self::default();
        let enabled = fields.value_or("enabled", d.enabled);
        let retention = fields.value_or("retention", HumaneDuration(d.retention)).0;
        if retention.is_zero() {
            fields.problem("retention", "must be longer than 0s");
        }
        let postgres_url: Option<String> = fields.value_or("postgres_url", d.postgres_url);
        if let Some(url) = &postgres_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            fields.problem(
                "postgres_url",
                "expected a postgres:// URL, e.g. postgres://postgres@127.0.0.1:5432/postgres",
            );
        }
        let postgres_table: String = fields.value_or("postgres_table", d.postgres_table.clone());
        let valid_table = !postgres_table.is_empty()
            && postgres_table.len() <= 60
            && postgres_table
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !postgres_table.starts_with(|c: char| c.is_ascii_digit());
        if !valid_table {
            fields.problem(
                "postgres_table",
                "use lowercase letters, digits and '_' (at most 60, not starting with a digit)",
            );
        }
        let buffer: usize = fields.value_or("buffer", d.buffer);
        if buffer == 0 {
            fields.problem("buffer", "must be at least 1");
        }
        let settings = Self {
            enabled,
            retention: if retention.is_zero() {
                d.retention
            } else {
                retention
            },
            postgres_url,
            postgres_table: if valid_table {
                postgres_table
            } else {
                d.postgres_table
            },
            buffer: buffer.max(1),
        };
        let _ = fields.finish();
        settings
    }
}
