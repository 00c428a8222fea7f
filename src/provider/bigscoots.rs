//! BigScoots Cache through the WordPress REST API (seed 002): purge all, post
//! ids (with their related pages) or URLs with `PATCH …/clear-cache`, and the
//! plugin's commands (`clear_opcache`, `enable_cache`, `disable_cache`,
//! `clear_logs`). Basic auth with a WordPress application password, whose
//! spaces are part of it.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{excerpt, exchange};
use super::registration::{Context, Registration};
use super::settings::HttpUrl;
use super::{Provider, ProviderError};
use crate::action::{Action, ActionKind};
use crate::capability::Capabilities;
use crate::config::{Fields, Read};
use crate::secret::Secret;

const NAME: &str = "BigScoots";

const API: &str = "wp-json/bigscoots-cache/v2";

/// The plugin commands, as `command` names, with their method and endpoint.
const COMMANDS: [(&str, Method, &str); 4] = [
    ("clear_opcache", Method::DELETE, "clear-opcache"),
    ("enable_cache", Method::PATCH, "enable-cache"),
    ("disable_cache", Method::PATCH, "disable-cache"),
    ("clear_logs", Method::DELETE, "clear-logs"),
];

pub(super) const PROVIDER: Registration = Registration {
    capabilities: Capabilities {
        provider: "bigscoots",
        kinds: &[
            ActionKind::Everything,
            ActionKind::Urls,
            ActionKind::PostIds,
            ActionKind::Command,
        ],
        max_items: &[],
        check,
        default_rate: None,
    },
    build,
};

fn check(action: &Action) -> Result<(), String> {
    match action {
        Action::Command { name } if command(name).is_none() => Err(format!(
            "unknown BigScoots command {name:?}; expected one of {}",
            COMMANDS.map(|(n, _, _)| n).join(", ")
        )),
        _ => Ok(()),
    }
}

fn command(name: &str) -> Option<&'static (&'static str, Method, &'static str)> {
    COMMANDS.iter().find(|(n, _, _)| *n == name)
}

fn build(fields: &mut Fields<'_>, context: &Context<'_>) -> Read<Arc<dyn Provider>> {
    let base_url = fields.required("base_url");
    let username = fields.secret("username");
    let password = fields.secret("password");
    Ok(Arc::new(BigScoots {
        base_url: base_url?,
        username: username?,
        password: password?,
        client: context.client.clone(),
    }))
}

/// The adapter.
struct BigScoots {
    /// The WordPress site (`https://blog.example.com`).
    base_url: HttpUrl,
    /// The WordPress user.
    username: Secret,
    /// Its application password, spaces included.
    password: Secret,
    client: reqwest::Client,
}

/// The body of a BigScoots (or WordPress REST error) response.
#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    message: Option<String>,
}

/// The request an action is: method, endpoint and body.
fn request_for(action: &Action) -> Result<(Method, &'static str, Option<Value>), ProviderError> {
    Ok(match action {
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
            let (_, method, endpoint) = command(name).ok_or_else(|| ProviderError::Permanent {
                message: format!("unknown BigScoots command {name:?}"),
            })?;
            (method.clone(), *endpoint, None)
        }
        other => return Err(ProviderError::cannot(NAME, other)),
    })
}

#[async_trait]
impl Provider for BigScoots {
    async fn purge(&self, action: &Action) -> Result<(), ProviderError> {
        let (method, endpoint, body) = request_for(action)?;
        let mut request = self
            .client
            .request(method, self.base_url.join(&format!("{API}/{endpoint}")))
            .basic_auth(self.username.expose(), Some(self.password.expose()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = exchange(NAME, request).await?.success(NAME)?;
        match serde_json::from_str::<Answer>(&answer.body) {
            Ok(Answer {
                success: Some(true),
                ..
            }) => Ok(()),
            Ok(Answer { message, .. }) => Err(ProviderError::Permanent {
                message: format!(
                    "BigScoots refused: {}",
                    message.unwrap_or_else(|| excerpt(&answer.body))
                ),
            }),
            Err(_) => Err(ProviderError::Retryable {
                message: format!(
                    "BigScoots answered {} with an unexpected body: {}",
                    answer.status,
                    excerpt(&answer.body)
                ),
            }),
        }
    }

    fn describe(&self) -> String {
        format!("{} (user from {})", self.base_url, self.username.origin())
    }
}
