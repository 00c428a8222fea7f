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

/// The heavier maintenance a full refresh (`full=true`) also runs.
const MAINTENANCE: [&str; 2] = ["db_optimization", "file_permissions"];

/// The areas a call must refresh: the scopes asked for, or every area (and
/// the maintenance, with `full`) for a full refresh.
fn expected(action: &Action) -> Vec<&str> {
    match action {
        Action::Scopes { scopes, .. } => scopes.iter().map(String::as_str).collect(),
        Action::Everything { full } => {
            let maintenance = if *full { &MAINTENANCE[..] } else { &[] };
            AREAS.iter().chain(maintenance).copied().collect()
        }
        _ => Vec::new(),
    }
}

/// The areas of `expected` that the answer does not report refreshed, each
/// with the provider's words.
fn failed_areas(answer: &Answer, expected: &[&str]) -> Vec<(String, String)> {
    let detail = |area: &str| answer.details.as_ref().and_then(|d| d.get(area));
    expected
        .iter()
        .filter_map(|area| {
            let status = detail(area)
                .and_then(|d| d.get("status"))
                .and_then(|s| s.as_str());
            let error = detail(area)
                .and_then(|d| d.get("error"))
                .and_then(|e| e.as_str());
            let listed = answer.areas_refreshed.iter().any(|a| a == area);
            match (status, listed) {
                (Some("success") | None, true) => None,
                (Some(status), _) if status != "success" => Some((
                    area.to_string(),
                    error.map_or_else(|| format!("status {status}"), str::to_string),
                )),
                _ => Some((area.to_string(), "missing from areas_refreshed".into())),
            }
        })
        .collect()
}

/// What to ask again when `failed` areas were not refreshed: the failed
/// areas as a scope, or a full refresh when the maintenance failed (a scope
/// cannot run it).
fn remaining(failed: &[(String, String)]) -> Action {
    if failed
        .iter()
        .any(|(area, _)| MAINTENANCE.contains(&area.as_str()))
    {
        Action::Everything { full: true }
    } else {
        Action::Scopes {
            scopes: failed.iter().map(|(area, _)| area.clone()).collect(),
            full: false,
        }
    }
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
        let refreshed = match serde_json::from_str::<Answer>(&answer.body) {
            Ok(refreshed) if refreshed.status == "success" => refreshed,
            Ok(refused) => {
                return Err(ProviderError::Retryable {
                    message: format!("{NAME} answered {}: {}", refused.status, refused.message),
                });
            }
            Err(_) => {
                return Err(ProviderError::Retryable {
                    message: format!(
                        "{NAME} answered {} with an unexpected body: {}",
                        answer.status,
                        excerpt(&answer.body)
                    ),
                });
            }
        };
        let failed = failed_areas(&refreshed, &expected(action));
        let details = refreshed
            .details
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_default();
        if failed.is_empty() {
            tracing::info!(
                areas = %refreshed.areas_refreshed.join(","),
                total_time_ms = refreshed.total_time_ms.unwrap_or_default(),
                %details,
                "Brilliant Directories cache refreshed"
            );
            return Ok(());
        }
        let words: Vec<String> = failed
            .iter()
            .map(|(area, why)| format!("{area}: {why}"))
            .collect();
        tracing::warn!(failed = %words.join("; "), %details, "Brilliant Directories did not refresh every area");
        Err(ProviderError::Incomplete {
            message: format!("{NAME} did not refresh {}", words.join("; ")),
            remaining: remaining(&failed),
        })
    }

    fn describe(&self) -> String {
        self.base_url.to_string()
    }
}
