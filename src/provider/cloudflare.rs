//! Cloudflare's `POST /zones/{zone_id}/purge_cache` with an API token:
//! `files` (URLs), `tags`, `hosts`, `prefixes` (at most 100 per call, the
//! coalescer splits beyond) or `purge_everything`. A prefix without a path
//! (`www.example.com`) purges its host; prefixes are sent without scheme.
//! Failures carry Cloudflare's `errors[]`, which are quoted.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use toml::Table;

use super::http::{classify_failure, error_detail, excerpt, read, transport_error};
use super::{Capabilities, Provider, ProviderError};
use crate::config::{ConfigError, Secret, typed_section};
use crate::job::{Action, ActionKind};

const NAME: &str = "Cloudflare";

/// The public v4 API.
pub const DEFAULT_BASE_URL: &str = "https://api.cloudflare.com/client/v4";

/// Items per purge call.
pub const MAX_ITEMS: usize = 100;

pub(super) const CAPABILITIES: Capabilities = Capabilities {
    kinds: &[
        ActionKind::Everything,
        ActionKind::Urls,
        ActionKind::Tags,
        ActionKind::Prefixes,
    ],
    max_items: &[
        (ActionKind::Urls, MAX_ITEMS),
        (ActionKind::Tags, MAX_ITEMS),
        (ActionKind::Prefixes, MAX_ITEMS),
    ],
    check: super::accept_any,
    default_rate: None,
};

fn default_base_url() -> url::Url {
    url::Url::parse(DEFAULT_BASE_URL).unwrap_or_else(|_| unreachable!("constant URL"))
}

/// `[targets.<id>]` keys of a Cloudflare zone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The zone's id.
    pub zone_id: String,
    /// An API token with the Cache Purge permission on the zone.
    pub api_token: Secret,
    /// The API root.
    #[serde(default = "default_base_url")]
    pub base_url: url::Url,
}

impl Settings {
    pub(super) fn parse(table: Table, path: &str, errors: &mut Vec<ConfigError>) -> Option<Self> {
        let settings: Settings = typed_section(table, path, errors)?;
        super::require_http(&settings.base_url, path, errors)?;
        if settings.zone_id.trim().is_empty() {
            errors.push(ConfigError::new(
                format!("{path}.zone_id"),
                "must not be empty",
            ));
            return None;
        }
        Some(settings)
    }
}

/// The adapter.
pub struct Cloudflare {
    settings: Settings,
    client: reqwest::Client,
}

impl Cloudflare {
    pub(super) fn new(settings: Settings, client: reqwest::Client) -> Self {
        Self { settings, client }
    }

    async fn send(&self, body: Value) -> Result<(), ProviderError> {
        let url = format!(
            "{}/zones/{}/purge_cache",
            self.settings.base_url.as_str().trim_end_matches('/'),
            self.settings.zone_id
        );
        let response = self
            .client
            .post(url)
            .bearer_auth(self.settings.api_token.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error(NAME, e))?;
        let (status, headers, text) = read(response).await;
        if !status.is_success() {
            return Err(classify_failure(
                NAME,
                status,
                &headers,
                &error_detail(&text),
            ));
        }
        match serde_json::from_str::<Value>(&text) {
            Ok(answer) if answer["success"] == json!(true) => Ok(()),
            Ok(_) => Err(ProviderError::Permanent {
                message: format!("{NAME} refused the purge: {}", error_detail(&text)),
            }),
            Err(_) => Err(ProviderError::Retryable {
                message: format!(
                    "{NAME} answered {status} with an unexpected body: {}",
                    excerpt(&text)
                ),
            }),
        }
    }
}

fn without_scheme(text: &str) -> &str {
    text.split_once("://").map_or(text, |(_, rest)| rest)
}

#[async_trait]
impl Provider for Cloudflare {
    async fn purge(&self, action: &Action) -> Result<(), ProviderError> {
        match action {
            Action::Everything { .. } => self.send(json!({"purge_everything": true})).await,
            Action::Urls { urls } => self.send(json!({ "files": urls })).await,
            Action::Tags { tags } => self.send(json!({ "tags": tags })).await,
            Action::Prefixes { prefixes } => {
                let (hosts, paths): (Vec<&str>, Vec<&str>) = prefixes
                    .iter()
                    .map(|p| without_scheme(p).trim_end_matches('/'))
                    .partition(|p| !p.contains('/'));
                if !hosts.is_empty() {
                    self.send(json!({ "hosts": hosts })).await?;
                }
                if !paths.is_empty() {
                    let paths: Vec<String> = prefixes
                        .iter()
                        .map(|p| without_scheme(p).to_string())
                        .filter(|p| p.trim_end_matches('/').contains('/'))
                        .collect();
                    self.send(json!({ "prefixes": paths })).await?;
                }
                Ok(())
            }
            other => Err(ProviderError::Permanent {
                message: format!("{NAME} cannot purge {}", other.kind()),
            }),
        }
    }
}
