//! Brilliant Directories' `POST /api/v2/website_settings/refreshCache`
//! (seed 000), with the site's `X-Api-Key`. `scopes` become the `scope`
//! comma list (only the six documented areas are accepted, checked when
//! rules load); `everything` omits the scope (a full refresh), and with
//! `full = true` also runs the heavier maintenance (`full=true`). Every call
//! asks `verbose=true` and logs the per-area details. 400 (invalid scope),
//! 401 and 405 are permanent; 429 is a rate limit.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use super::http::{excerpt, exchange};
use super::registration::{Context, Registration};
use super::settings::HttpUrl;
use super::{Provider, ProviderError};
use crate::action::{Action, ActionKind};
use crate::capability::Capabilities;
use crate::config::{Fields, Read};
use crate::secret::Secret;

const NAME: &str = "Brilliant Directories";

/// The cache areas `scope` may name.
pub const AREAS: [&str; 6] = [
    "data_widgets",
    "settings",
    "web_pages",
    "css",
    "menus",
    "sidebars",
];

pub(super) const PROVIDER: Registration = Registration {
    capabilities: Capabilities {
        provider: "brilliant_directories",
        kinds: &[ActionKind::Everything, ActionKind::Scopes],
        max_items: &[],
        check,
        default_rate: None,
    },
    build,
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

fn build(fields: &mut Fields<'_>, context: &Context<'_>) -> Read<Arc<dyn Provider>> {
    let base_url = fields.required("base_url");
    let api_key = fields.secret("api_key");
    Ok(Arc::new(BrilliantDirectories {
        base_url: base_url?,
        api_key: api_key?,
        client: context.client.clone(),
    }))
}

/// The adapter.
struct BrilliantDirectories {
    /// The site (`https://www.yourdomain.com`).
    base_url: HttpUrl,
    /// The site's API key.
    api_key: Secret,
    client: reqwest::Client,
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

/// The form fields of an action.
fn form_for(action: &Action) -> Result<Vec<(&'static str, String)>, ProviderError> {
    let mut form = vec![("verbose", "true".to_string())];
    match action {
        Action::Everything { full: true } => form.push(("full", "true".into())),
        Action::Everything { full: false } => {}
        Action::Scopes { scopes, .. } => form.push(("scope", scopes.join(","))),
        other => return Err(ProviderError::cannot(NAME, other)),
    }
    Ok(form)
}

#[async_trait]
impl Provider for BrilliantDirectories {
    async fn purge(&self, action: &Action) -> Result<(), ProviderError> {
        let request = self
            .client
            .post(self.base_url.join("api/v2/website_settings/refreshCache"))
            .header("X-Api-Key", self.api_key.expose())
            .form(&form_for(action)?);
        let answer = exchange(NAME, request).await?.success(NAME)?;
        match serde_json::from_str::<Answer>(&answer.body) {
            Ok(refreshed) if refreshed.status == "success" => {
                tracing::info!(
                    areas = %refreshed.areas_refreshed.join(","),
                    total_time_ms = refreshed.total_time_ms.unwrap_or_default(),
                    details = %refreshed.details.map(|d| d.to_string()).unwrap_or_default(),
                    "Brilliant Directories cache refreshed"
                );
                Ok(())
            }
            Ok(refused) => Err(ProviderError::Retryable {
                message: format!("{NAME} answered {}: {}", refused.status, refused.message),
            }),
            Err(_) => Err(ProviderError::Retryable {
                message: format!(
                    "{NAME} answered {} with an unexpected body: {}",
                    answer.status,
                    excerpt(&answer.body)
                ),
            }),
        }
    }

    fn describe(&self) -> String {
        self.base_url.to_string()
    }
}
