//! Brilliant Directories' `POST /api/v2/website_settings/refreshCache`
//! (seed 000), with the site's `X-Api-Key`. `scopes` become the `scope`
//! comma list (only the six documented areas are accepted, checked when
//! rules load); `everything` omits the scope (a full refresh), and with
//! `full = true` also runs the heavier maintenance (`full=true`). Every call
//! asks `verbose=true` and logs the per-area details. 400 (invalid scope),
//! 401 and 405 are permanent; 429 is a rate limit.

use async_trait::async_trait;
use serde::Deserialize;
use toml::Table;

use super::http::{classify_failure, error_detail, excerpt, read, transport_error};
use super::{Capabilities, Provider, ProviderError};
use crate::config::{ConfigError, Secret, typed_section};
use crate::job::{Action, ActionKind};

/// The cache areas `scope` may name.
pub const AREAS: [&str; 6] = [
    "data_widgets",
    "settings",
    "web_pages",
    "css",
    "menus",
    "sidebars",
];

pub(super) const CAPABILITIES: Capabilities = Capabilities {
    kinds: &[ActionKind::Everything, ActionKind::Scopes],
    max_items: &[],
    check,
    default_rate: None,
};

fn check(action: &Action) -> Result<(), String> {
    match action {
        Action::Scopes { scopes, .. } => scopes.iter().try_for_each(|scope| {
            if AREAS.contains(&scope.as_str()) {
                Ok(())
            } else {
                Err(format!(
                    "unknown Brilliant Directories cache area {scope:?}; expected one of {}",
                    AREAS.join(", ")
                ))
            }
        }),
        _ => Ok(()),
    }
}

/// `[targets.<id>]` keys of a Brilliant Directories site.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The site (`https://www.yourdomain.com`).
    pub base_url: url::Url,
    /// The site's API key.
    pub api_key: Secret,
}

impl Settings {
    pub(super) fn parse(table: Table, path: &str, errors: &mut Vec<ConfigError>) -> Option<Self> {
        let settings: Settings = typed_section(table, path, errors)?;
        super::require_http(&settings.base_url, path, errors)?;
        Some(settings)
    }
}

/// The adapter.
pub struct BrilliantDirectories {
    settings: Settings,
    client: reqwest::Client,
}

impl BrilliantDirectories {
    pub(super) fn new(settings: Settings, client: reqwest::Client) -> Self {
        Self { settings, client }
    }
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    areas_refreshed: Vec<String>,
    #[serde(default)]
    details: Option<serde_json::Value>,
    #[serde(default)]
    total_time_ms: Option<u64>,
}

#[async_trait]
impl Provider for BrilliantDirectories {
    async fn purge(&self, action: &Action) -> Result<(), ProviderError> {
        let mut form: Vec<(&str, String)> = vec![("verbose", "true".into())];
        match action {
            Action::Everything { full } => {
                if *full {
                    form.push(("full", "true".into()));
                }
            }
            Action::Scopes { scopes, .. } => form.push(("scope", scopes.join(","))),
            other => {
                return Err(ProviderError::Permanent {
                    message: format!("Brilliant Directories cannot refresh {}", other.kind()),
                });
            }
        }
        let url = format!(
            "{}/api/v2/website_settings/refreshCache",
            self.settings.base_url.as_str().trim_end_matches('/')
        );
        let response = self
            .client
            .post(url)
            .header("X-Api-Key", self.settings.api_key.expose())
            .form(&form)
            .send()
            .await
            .map_err(|e| transport_error("Brilliant Directories", e))?;
        let (status, headers, text) = read(response).await;
        if !status.is_success() {
            return Err(classify_failure(
                "Brilliant Directories",
                status,
                &headers,
                &error_detail(&text),
            ));
        }
        match serde_json::from_str::<Answer>(&text) {
            Ok(answer) if answer.status == "success" => {
                tracing::info!(
                    areas = %answer.areas_refreshed.join(","),
                    total_time_ms = answer.total_time_ms.unwrap_or_default(),
                    details = %answer.details.map(|d| d.to_string()).unwrap_or_default(),
                    "Brilliant Directories cache refreshed"
                );
                Ok(())
            }
            Ok(answer) => Err(ProviderError::Retryable {
                message: format!(
                    "Brilliant Directories answered {}: {}",
                    answer.status, answer.message
                ),
            }),
            Err(_) => Err(ProviderError::Retryable {
                message: format!(
                    "Brilliant Directories answered {status} with an unexpected body: {}",
                    excerpt(&text)
                ),
            }),
        }
    }
}
