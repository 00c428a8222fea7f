//! The `log` provider: writes what it would purge to the log and succeeds.
//! For dry runs, demos and the quick start; it accepts every action kind.

use async_trait::async_trait;
use serde::Deserialize;
use toml::Table;

use super::{Capabilities, Provider, ProviderError, accept_any};
use crate::config::{ConfigError, typed_section};
use crate::job::{Action, ActionKind};

pub(super) const CAPABILITIES: Capabilities = Capabilities {
    kinds: &[
        ActionKind::Everything,
        ActionKind::Urls,
        ActionKind::Prefixes,
        ActionKind::Tags,
        ActionKind::PostIds,
        ActionKind::Scopes,
        ActionKind::Resource,
        ActionKind::Command,
    ],
    max_items: &[],
    check: accept_any,
    default_rate: None,
};

/// A log target has no keys of its own.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {}

impl Settings {
    pub(super) fn parse(table: Table, path: &str, errors: &mut Vec<ConfigError>) -> Option<Self> {
        typed_section(table, path, errors)
    }
}

/// The adapter.
pub struct LogProvider {
    target: String,
}

impl LogProvider {
    pub(super) fn new(target: &str) -> Self {
        Self {
            target: target.to_string(),
        }
    }
}

#[async_trait]
impl Provider for LogProvider {
    async fn purge(&self, action: &Action) -> Result<(), ProviderError> {
        let action = serde_json::to_string(action).unwrap_or_default();
        tracing::info!(target_id = %self.target, %action, "purge (log provider)");
        Ok(())
    }
}
