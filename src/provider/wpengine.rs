//! WP Engine's `POST /installs/{install_id}/purge_cache` (seed 003): one
//! cache type per call (`object`, `page`, `cdn`, or `all` for `everything`),
//! Basic auth with API credentials; 202 means accepted. Its 400 `errors[]`
//! are surfaced, and its 429 ("one object cache purge every 60 seconds per
//! install") is a rate limit.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use super::http::exchange;
use super::registration::{Context, Registration};
use super::settings::{HttpUrl, NonEmpty, base_url_or};
use super::{Provider, ProviderError};
use crate::action::{Action, ActionKind};
use crate::capability::{Capabilities, DefaultRate};
use crate::config::{Fields, Read};
use crate::secret::Secret;
use crate::units::Rate;

const NAME: &str = "WP Engine";

/// The public v1 API.
pub const DEFAULT_BASE_URL: &str = "https://api.wpengineapi.com/v1";

/// How long WP Engine makes an install wait between object-cache purges.
const DOCUMENTED_RATE_LIMIT: Duration = Duration::from_secs(60);

/// The cache types `scopes` may name.
const SCOPES: [&str; 4] = ["object", "page", "cdn", "all"];

pub(super) const PROVIDER: Registration = Registration {
    capabilities: Capabilities {
        provider: "wpengine",
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
    },
    build,
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

fn build(fields: &mut Fields<'_>, context: &Context<'_>) -> Read<Arc<dyn Provider>> {
    let install_id: Read<NonEmpty> = fields.required("install_id");
    let username = fields.secret("username");
    let password = fields.secret("password");
    let base_url = base_url_or(fields, DEFAULT_BASE_URL);
    Ok(Arc::new(WpEngine {
        install_id: install_id?.0,
        username: username?,
        password: password?,
        base_url: base_url?,
        client: context.client.clone(),
    }))
}

/// The adapter.
struct WpEngine {
    /// The install's id.
    install_id: String,
    /// API username.
    username: Secret,
    /// API password.
    password: Secret,
    /// The API root; the public v1 API by default.
    base_url: HttpUrl,
    client: reqwest::Client,
}

#[async_trait]
impl Provider for WpEngine {
    async fn purge(&self, action: &Action) -> Result<(), ProviderError> {
        let cache_type = match action {
            Action::Everything { .. } => "all",
            Action::Scopes { scopes, .. } if scopes.len() == 1 => scopes[0].as_str(),
            other => return Err(ProviderError::cannot(NAME, other)),
        };
        let url = self
            .base_url
            .join(&format!("installs/{}/purge_cache", self.install_id));
        let request = self
            .client
            .post(url)
            .basic_auth(self.username.expose(), Some(self.password.expose()))
            .json(&json!({ "type": cache_type }));
        let answer = exchange(NAME, request).await?;
        if answer.status.is_success() {
            return Ok(());
        }
        match answer.failure(NAME) {
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

    fn describe(&self) -> String {
        format!("install {} at {}", self.install_id, self.base_url)
    }
}
