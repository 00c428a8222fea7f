//! BigScoots Cache through the WordPress REST API (seed 002): purge all, post
//! ids (with their related pages) or URLs with `PATCH …/clear-cache`, and the
//! plugin's commands (`clear_opcache`, `enable_cache`, `disable_cache`,
//! `clear_logs`). Basic auth with a WordPress application password, whose
//! spaces are part of it.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use toml::Table;

use super::http::{classify_failure, error_detail, excerpt, read, transport_error};
use super::{Capabilities, Provider, ProviderError};
use crate::config::{ConfigError, Secret, typed_section};
use crate::job::{Action, ActionKind};

const API: &str = "wp-json/bigscoots-cache/v2";

/// The plugin commands, as `command` names, with their method and endpoint.
const COMMANDS: [(&str, &str, &str); 4] = [
    ("clear_opcache", "DELETE", "clear-opcache"),
    ("enable_cache", "PATCH", "enable-cache"),
    ("disable_cache", "PATCH", "disable-cache"),
    ("clear_logs", "DELETE", "clear-logs"),
];

pub(super) const CAPABILITIES: Capabilities = Capabilities {
    kinds: &[
        ActionKind::Everything,
        ActionKind::Urls,
        ActionKind::PostIds,
        ActionKind::Command,
    ],
    max_items: &[],
    check,
    default_rate: None,
};

fn check(action: &Action) -> Result<(), String> {
    match action {
        Action::Command { name } if !COMMANDS.iter().any(|(n, _, _)| n == name) => Err(format!(
            "unknown BigScoots command {name:?}; expected one of {}",
            COMMANDS.map(|(n, _, _)| n).join(", ")
        )),
        _ => Ok(()),
    }
}

/// `[targets.<id>]` keys of a BigScoots target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The WordPress site (`https://blog.example.com`).
    pub base_url: url::Url,
    /// The WordPress user.
    pub username: String,
    /// Its application password, spaces included.
    pub password: Secret,
}

impl Settings {
    pub(super) fn parse(table: Table, path: &str, errors: &mut Vec<ConfigError>) -> Option<Self> {
        let settings: Settings = typed_section(table, path, errors)?;
        if !matches!(settings.base_url.scheme(), "http" | "https") {
            errors.push(ConfigError::new(
                format!("{path}.base_url"),
                "expected an http(s) URL",
            ));
            return None;
        }
        Some(settings)
    }
}

/// The adapter.
pub struct BigScoots {
    settings: Settings,
    client: reqwest::Client,
}

impl BigScoots {
    pub(super) fn new(settings: Settings, client: reqwest::Client) -> Self {
        Self { settings, client }
    }

    fn endpoint(&self, name: &str) -> String {
        format!(
            "{}/{API}/{name}",
            self.settings.base_url.as_str().trim_end_matches('/')
        )
    }
}

/// The body of a BigScoots (or WordPress REST error) response.
#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    message: Option<String>,
}

#[async_trait]
impl Provider for BigScoots {
    async fn purge(&self, action: &Action) -> Result<(), ProviderError> {
        let (method, endpoint, body) = match action {
            Action::Everything { .. } => (
                Method::PATCH,
                "clear-cache",
                Some(json!({"purge_type": "all"})),
            ),
            Action::Urls { urls } => (
                Method::PATCH,
                "clear-cache",
                Some(json!({"purge_type": "urls", "urls": urls})),
            ),
            Action::PostIds { post_ids, related } => {
                let mut body = json!({"purge_type": "post_ids", "post_ids": post_ids});
                if *related {
                    body["purge_related_urls"] = json!(true);
                }
                (Method::PATCH, "clear-cache", Some(body))
            }
            Action::Command { name } => {
                let (_, method, endpoint) = COMMANDS
                    .iter()
                    .find(|(n, _, _)| n == name)
                    .ok_or_else(|| ProviderError::Permanent {
                        message: format!("unknown BigScoots command {name:?}"),
                    })?;
                let method = if *method == "DELETE" {
                    Method::DELETE
                } else {
                    Method::PATCH
                };
                (method, *endpoint, None)
            }
            other => {
                return Err(ProviderError::Permanent {
                    message: format!("BigScoots cannot purge {}", other.kind()),
                });
            }
        };
        let mut request = self
            .client
            .request(method, self.endpoint(endpoint))
            .basic_auth(
                &self.settings.username,
                Some(self.settings.password.expose()),
            );
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport_error("BigScoots", e))?;
        let (status, headers, text) = read(response).await;
        if !status.is_success() {
            return Err(classify_failure(
                "BigScoots",
                status,
                &headers,
                &error_detail(&text),
            ));
        }
        match serde_json::from_str::<Answer>(&text) {
            Ok(Answer {
                success: Some(true),
                ..
            }) => Ok(()),
            Ok(Answer { message, .. }) => Err(ProviderError::Permanent {
                message: format!(
                    "BigScoots refused: {}",
                    message.unwrap_or_else(|| excerpt(&text))
                ),
            }),
            Err(_) => Err(ProviderError::Retryable {
                message: format!(
                    "BigScoots answered {status} with an unexpected body: {}",
                    excerpt(&text)
                ),
            }),
        }
    }
}
