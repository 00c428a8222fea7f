//! Fastly, with a `Fastly-Key`: surrogate keys (`tags`, at most 256 per
//! call) with `POST /service/{id}/purge`, single URLs with `POST
//! /purge/{host}/{path}`, and `POST /service/{id}/purge_all`. With
//! `soft_purge = true`, keys and URLs are marked stale instead of evicted
//! (`Fastly-Soft-Purge: 1`).

use async_trait::async_trait;
use reqwest::RequestBuilder;
use serde::Deserialize;
use serde_json::json;
use toml::Table;

use super::http::{classify_failure, error_detail, read, transport_error};
use super::{Capabilities, Provider, ProviderError};
use crate::config::{ConfigError, Secret, typed_section};
use crate::job::{Action, ActionKind};

const NAME: &str = "Fastly";

/// The public API.
pub const DEFAULT_BASE_URL: &str = "https://api.fastly.com";

/// Surrogate keys per purge call.
pub const MAX_KEYS: usize = 256;

pub(super) const CAPABILITIES: Capabilities = Capabilities {
    kinds: &[ActionKind::Everything, ActionKind::Urls, ActionKind::Tags],
    max_items: &[(ActionKind::Tags, MAX_KEYS)],
    check: super::accept_any,
    default_rate: None,
};

fn default_base_url() -> url::Url {
    url::Url::parse(DEFAULT_BASE_URL).unwrap_or_else(|_| unreachable!("constant URL"))
}

/// `[targets.<id>]` keys of a Fastly service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The service's id.
    pub service_id: String,
    /// An API token with purge rights on the service.
    pub api_key: Secret,
    /// Mark content stale rather than evicting it.
    #[serde(default)]
    pub soft_purge: bool,
    /// The API root.
    #[serde(default = "default_base_url")]
    pub base_url: url::Url,
}

impl Settings {
    pub(super) fn parse(table: Table, path: &str, errors: &mut Vec<ConfigError>) -> Option<Self> {
        let settings: Settings = typed_section(table, path, errors)?;
        super::require_http(&settings.base_url, path, errors)?;
        if settings.service_id.trim().is_empty() {
            errors.push(ConfigError::new(
                format!("{path}.service_id"),
                "must not be empty",
            ));
            return None;
        }
        Some(settings)
    }
}

/// The adapter.
pub struct Fastly {
    settings: Settings,
    client: reqwest::Client,
}

impl Fastly {
    pub(super) fn new(settings: Settings, client: reqwest::Client) -> Self {
        Self { settings, client }
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/{path}",
            self.settings.base_url.as_str().trim_end_matches('/')
        )
    }

    async fn send(&self, request: RequestBuilder, soft: bool) -> Result<(), ProviderError> {
        let mut request = request
            .header("Fastly-Key", self.settings.api_key.expose())
            .header("Accept", "application/json");
        if soft && self.settings.soft_purge {
            request = request.header("Fastly-Soft-Purge", "1");
        }
        let response = request.send().await.map_err(|e| transport_error(NAME, e))?;
        let (status, headers, text) = read(response).await;
        if status.is_success() {
            Ok(())
        } else {
            Err(classify_failure(
                NAME,
                status,
                &headers,
                &error_detail(&text),
            ))
        }
    }
}

#[async_trait]
impl Provider for Fastly {
    async fn purge(&self, action: &Action) -> Result<(), ProviderError> {
        let service = &self.settings.service_id;
        match action {
            Action::Everything { .. } => {
                let request = self
                    .client
                    .post(self.url(&format!("service/{service}/purge_all")));
                self.send(request, false).await
            }
            Action::Tags { tags } => {
                let request = self
                    .client
                    .post(self.url(&format!("service/{service}/purge")))
                    .json(&json!({ "surrogate_keys": tags }));
                self.send(request, true).await
            }
            Action::Urls { urls } => {
                for url in urls {
                    let cached = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
                    let request = self.client.post(self.url(&format!("purge/{cached}")));
                    self.send(request, true).await?;
                }
                Ok(())
            }
            other => Err(ProviderError::Permanent {
                message: format!("{NAME} cannot purge {}", other.kind()),
            }),
        }
    }
}
