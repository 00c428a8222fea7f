//! Fastly, with a `Fastly-Key`: surrogate keys (`tags`, at most 256 per
//! call) with `POST /service/{id}/purge`, single URLs with `POST
//! /purge/{host}/{path}`, and `POST /service/{id}/purge_all`. With
//! `soft_purge = true`, keys and URLs are marked stale instead of evicted
//! (`Fastly-Soft-Purge: 1`).

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::RequestBuilder;
use serde_json::json;

use super::http::exchange;
use super::registration::{Context, Registration};
use super::settings::{HttpUrl, NonEmpty, base_url_or};
use super::{Provider, ProviderError};
use crate::action::{Action, ActionKind};
use crate::capability::{Capabilities, accept_any};
use crate::config::{Fields, Read};
use crate::secret::Secret;

const NAME: &str = "Fastly";

/// The public API.
pub const DEFAULT_BASE_URL: &str = "https://api.fastly.com";

/// Surrogate keys per purge call.
pub const MAX_KEYS: usize = 256;

pub(super) const PROVIDER: Registration = Registration {
    capabilities: Capabilities {
        provider: "fastly",
        kinds: &[ActionKind::Everything, ActionKind::Urls, ActionKind::Tags],
        max_items: &[(ActionKind::Tags, MAX_KEYS)],
        check: accept_any,
        default_rate: None,
    },
    build,
};

fn build(fields: &mut Fields<'_>, context: &Context<'_>) -> Read<Arc<dyn Provider>> {
    let service_id: Read<NonEmpty> = fields.required("service_id");
    let api_key = fields.secret("api_key");
    let soft_purge = fields.value_or("soft_purge", false);
    let base_url = base_url_or(fields, DEFAULT_BASE_URL);
    Ok(Arc::new(Fastly {
        service_id: service_id?.0,
        api_key: api_key?,
        soft_purge,
        base_url: base_url?,
        client: context.client.clone(),
    }))
}

/// The adapter.
struct Fastly {
    /// The service's id.
    service_id: String,
    /// An API token with purge rights on the service.
    api_key: Secret,
    /// Mark content stale rather than evicting it.
    soft_purge: bool,
    /// The API root.
    base_url: HttpUrl,
    client: reqwest::Client,
}

impl Fastly {
    async fn send(&self, request: RequestBuilder, soft: bool) -> Result<(), ProviderError> {
        let mut request = request
            .header("Fastly-Key", self.api_key.expose())
            .header("Accept", "application/json");
        if soft && self.soft_purge {
            request = request.header("Fastly-Soft-Purge", "1");
        }
        exchange(NAME, request).await?.success(NAME).map(drop)
    }
}

#[async_trait]
impl Provider for Fastly {
    async fn purge(&self, action: &Action) -> Result<(), ProviderError> {
        let service = &self.service_id;
        match action {
            Action::Everything { .. } => {
                let url = self.base_url.join(&format!("service/{service}/purge_all"));
                self.send(self.client.post(url), false).await
            }
            Action::Tags { tags } => {
                let url = self.base_url.join(&format!("service/{service}/purge"));
                let request = self
                    .client
                    .post(url)
                    .json(&json!({ "surrogate_keys": tags }));
                self.send(request, true).await
            }
            Action::Urls { urls } => {
                for url in urls {
                    let cached = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
                    let request = self
                        .client
                        .post(self.base_url.join(&format!("purge/{cached}")));
                    self.send(request, true).await?;
                }
                Ok(())
            }
            other => Err(ProviderError::cannot(NAME, other)),
        }
    }

    fn describe(&self) -> String {
        let soft = if self.soft_purge { ", soft purges" } else { "" };
        format!("service {}{soft}", self.service_id)
    }
}
