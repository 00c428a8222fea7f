//! Cloudflare's `POST /zones/{zone_id}/purge_cache` with an API token:
//! `files` (URLs), `tags`, `hosts`, `prefixes` (at most 100 per call, the
//! coalescer splits beyond) or `purge_everything`. A prefix without a path
//! (`www.example.com`) purges its host; prefixes are sent without scheme.
//! Failures carry Cloudflare's `errors[]`, which are quoted.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::http::{error_detail, excerpt, exchange};
use super::registration::{Context, Registration};
use super::settings::{HttpUrl, NonEmpty, base_url_or};
use super::{Provider, ProviderError};
use crate::action::{Action, ActionKind};
use crate::capability::{Capabilities, accept_any};
use crate::config::{Fields, Read};
use crate::secret::Secret;

const NAME: &str = "Cloudflare";

/// The public v4 API.
pub const DEFAULT_BASE_URL: &str = "https://api.cloudflare.com/client/v4";

/// Items per purge call.
pub const MAX_ITEMS: usize = 100;

pub(super) const PROVIDER: Registration = Registration {
    capabilities: Capabilities {
        provider: "cloudflare",
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
        check: accept_any,
        default_rate: None,
    },
    build,
};

fn build(fields: &mut Fields<'_>, context: &Context<'_>) -> Read<Arc<dyn Provider>> {
    let zone_id: Read<NonEmpty> = fields.required("zone_id");
    let api_token = fields.secret("api_token");
    let base_url = base_url_or(fields, DEFAULT_BASE_URL);
    Ok(Arc::new(Cloudflare {
        zone_id: zone_id?.0,
        api_token: api_token?,
        base_url: base_url?,
        client: context.client.clone(),
    }))
}

/// The adapter.
struct Cloudflare {
    /// The zone's id.
    zone_id: String,
    /// An API token with the Cache Purge permission on the zone.
    api_token: Secret,
    /// The API root.
    base_url: HttpUrl,
    client: reqwest::Client,
}

impl Cloudflare {
    async fn send(&self, body: Value) -> Result<(), ProviderError> {
        let url = self
            .base_url
            .join(&format!("zones/{}/purge_cache", self.zone_id));
        let request = self
            .client
            .post(url)
            .bearer_auth(self.api_token.expose())
            .json(&body);
        let answer = exchange(NAME, request).await?.success(NAME)?;
        match serde_json::from_str::<Value>(&answer.body) {
            Ok(reply) if reply["success"] == json!(true) => Ok(()),
            Ok(_) => Err(ProviderError::Permanent {
                message: format!("{NAME} refused the purge: {}", error_detail(&answer.body)),
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

    /// Prefixes without a path purge their hosts; the others are prefixes,
    /// both sent without scheme.
    async fn purge_prefixes(&self, prefixes: &[String]) -> Result<(), ProviderError> {
        let (hosts, paths): (Vec<&str>, Vec<&str>) = prefixes
            .iter()
            .map(|p| without_scheme(p))
            .partition(|p| !p.trim_end_matches('/').contains('/'));
        if !hosts.is_empty() {
            let hosts: Vec<&str> = hosts.iter().map(|h| h.trim_end_matches('/')).collect();
            self.send(json!({ "hosts": hosts })).await?;
        }
        if !paths.is_empty() {
            self.send(json!({ "prefixes": paths })).await?;
        }
        Ok(())
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
            Action::Prefixes { prefixes } => self.purge_prefixes(prefixes).await,
            other => Err(ProviderError::cannot(NAME, other)),
        }
    }

    fn describe(&self) -> String {
        format!("zone {}", self.zone_id)
    }
}
