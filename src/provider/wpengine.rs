//! WP Engine's `POST /installs/{install_id}/purge_cache` (seed 003): one
//! cache type per call (`object`, `page`, `cdn`, or `all` for `everything`),
//! Basic auth with API credentials; 202 means accepted. Its 400 `errors[]`
//! are surfaced, and its 429 ("one object cache purge every 60 seconds per
//! install") is a rate limit.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;
use toml::Table;

use super::http::{classify_failure, error_detail, read, transport_error};
use super::{Capabilities, DefaultRate, Provider, ProviderError};
use crate::config::{ConfigError, Rate, Secret, typed_section};
use crate::job::{Action, ActionKind};

/// The public v1 API.
pub const DEFAULT_BASE_URL: &str = "https://api.wpengineapi.com/v1";

/// How long WP Engine makes an install wait between object-cache purges.
const DOCUMENTED_RATE_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The cache types `scopes` may name.
const SCOPES: [&str; 4] = ["object", "page", "cdn", "all"];

pub(super) const CAPABILITIES: Capabilities = Capabilities {
    kinds: &[ActionKind::Everything, ActionKind::Scopes],
    // The API takes one `type` per call.
    max_items: &[(ActionKind::Scopes, 1)],
    check,
    default_rate: Some(DefaultRate {
        rate: Rate {
            calls: 1,
            period: DOCUMENTED_RATE_LIMIT,
        },
        applies_to: purges_object_cache,
    }),
};

/// Whether a call purges the object cache: `all`, or an `object` type.
fn purges_object_cache(action: &Action) -> bool {
    match action {
        Action::Everything { .. } => true,
        Action::Scopes { scopes, .. } => scopes.iter().any(|s| s == "object" || s == "all"),
        _ => false,
    }
}

fn check(action: &Action) -> Result<(), String> {
    match action {
        Action::Scopes { scopes, .. } => scopes.iter().try_for_each(|scope| {
            if SCOPES.contains(&scope.as_str()) {
                Ok(())
            } else {
                Err(format!(
                    "unknown WP Engine cache type {scope:?}; expected one of {}",
                    SCOPES.join(", ")
                ))
            }
        }),
        _ => Ok(()),
    }
}

fn default_base_url() -> url::Url {
    // A constant, known-valid URL.
    url::Url::parse(DEFAULT_BASE_URL).unwrap_or_else(|_| unreachable!("constant URL"))
}

/// `[targets.<id>]` keys of a WP Engine target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The install's id.
    pub install_id: String,
    /// API username.
    pub username: String,
    /// API password.
    pub password: Secret,
    /// The API root; the public v1 API by default.
    #[serde(default = "default_base_url")]
    pub base_url: url::Url,
}

impl Settings {
    pub(super) fn parse(table: Table, path: &str, errors: &mut Vec<ConfigError>) -> Option<Self> {
        let settings: Settings = typed_section(table, path, errors)?;
        if settings.install_id.trim().is_empty() {
            errors.push(ConfigError::new(
                format!("{path}.install_id"),
                "must not be empty",
            ));
            return None;
        }
        Some(settings)
    }
}

/// The adapter.
pub struct WpEngine {
    settings: Settings,
    client: reqwest::Client,
}

impl WpEngine {
    pub(super) fn new(settings: Settings, client: reqwest::Client) -> Self {
        Self { settings, client }
    }
}

#[async_trait]
impl Provider for WpEngine {
    async fn purge(&self, action: &Action) -> Result<(), ProviderError> {
        let cache_type = match action {
            Action::Everything { .. } => "all",
            Action::Scopes { scopes, .. } if scopes.len() == 1 => scopes[0].as_str(),
            other => {
                return Err(ProviderError::Permanent {
                    message: format!("WP Engine cannot purge {other:?} in one call"),
                });
            }
        };
        let url = format!(
            "{}/installs/{}/purge_cache",
            self.settings.base_url.as_str().trim_end_matches('/'),
            self.settings.install_id
        );
        let response = self
            .client
            .post(url)
            .basic_auth(
                &self.settings.username,
                Some(self.settings.password.expose()),
            )
            .json(&json!({ "type": cache_type }))
            .send()
            .await
            .map_err(|e| transport_error("WP Engine", e))?;
        let (status, headers, text) = read(response).await;
        if status.is_success() {
            return Ok(());
        }
        match classify_failure("WP Engine", status, &headers, &error_detail(&text)) {
            // The documented limit: one object-cache purge per 60 s per install.
            ProviderError::RateLimited {
                retry_after: None,
                message,
            } => Err(ProviderError::RateLimited {
                retry_after: Some(DOCUMENTED_RATE_LIMIT),
                message,
            }),
            other => Err(other),
        }
    }
}
