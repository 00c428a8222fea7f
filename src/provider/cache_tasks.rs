//! The cache task API (seed 004): `POST /api/v1/cache/refresh/` with
//! `{"resource_title": …, <params>…}` and a bearer token answers a
//! `{task_id, task_state}`; the task is polled with `GET
//! /api/v1/cache/state/?task_id=…` until `SUCCESS` (done) or `FAILURE` /
//! `REVOKED` (permanent).

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use toml::Table;

use super::http::{classify_failure, error_detail, excerpt, read, transport_error};
use super::poll::{JobState, PollPolicy, until_done};
use super::{Capabilities, Provider, ProviderError};
use crate::config::{ConfigError, Secret, typed_section, values};
use crate::job::{Action, ActionKind};

const NAME: &str = "cache task API";

pub(super) const CAPABILITIES: Capabilities = Capabilities {
    kinds: &[ActionKind::Resource],
    max_items: &[],
    check: super::accept_any,
    default_rate: None,
};

fn default_poll_interval() -> Duration {
    Duration::from_secs(1)
}

fn default_poll_timeout() -> Duration {
    Duration::from_secs(600)
}

/// `[targets.<id>]` keys of a cache task API server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The server (`https://cache.example.com`).
    pub base_url: url::Url,
    /// The user token.
    pub token: Secret,
    /// First wait between two reads of the task.
    #[serde(
        default = "default_poll_interval",
        deserialize_with = "values::duration"
    )]
    pub poll_interval: Duration,
    /// How long a task may run before the refresh is asked again.
    #[serde(
        default = "default_poll_timeout",
        deserialize_with = "values::duration"
    )]
    pub poll_timeout: Duration,
}

impl Settings {
    pub(super) fn parse(table: Table, path: &str, errors: &mut Vec<ConfigError>) -> Option<Self> {
        let settings: Settings = typed_section(table, path, errors)?;
        super::require_http(&settings.base_url, path, errors)?;
        Some(settings)
    }
}

/// The adapter.
pub struct CacheTasks {
    settings: Settings,
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct Task {
    task_id: String,
    task_state: String,
}

fn state(task: &Task) -> JobState {
    match task.task_state.as_str() {
        "SUCCESS" => JobState::Done,
        "FAILURE" | "REVOKED" => {
            JobState::Failed(format!("task {} ended {}", task.task_id, task.task_state))
        }
        _ => JobState::Running { suggested: None },
    }
}

impl CacheTasks {
    pub(super) fn new(settings: Settings, client: reqwest::Client) -> Self {
        Self { settings, client }
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/api/v1/cache/{path}",
            self.settings.base_url.as_str().trim_end_matches('/')
        )
    }

    async fn task(&self, request: reqwest::RequestBuilder) -> Result<Task, ProviderError> {
        let response = request
            .bearer_auth(self.settings.token.expose())
            .header("Accept", "application/json")
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
        serde_json::from_str(&text).map_err(|_| ProviderError::Retryable {
            message: format!(
                "{NAME} answered {status} with an unexpected body: {}",
                excerpt(&text)
            ),
        })
    }
}

#[async_trait]
impl Provider for CacheTasks {
    async fn purge(&self, action: &Action) -> Result<(), ProviderError> {
        let Action::Resource { title, params } = action else {
            return Err(ProviderError::Permanent {
                message: format!(
                    "the {NAME} refreshes resources; cannot purge {}",
                    action.kind()
                ),
            });
        };
        let mut body = serde_json::Map::new();
        body.insert("resource_title".into(), title.clone().into());
        for (key, value) in params {
            body.insert(key.clone(), value.clone());
        }
        let started = self
            .task(self.client.post(self.url("refresh/")).json(&body))
            .await?;
        tracing::info!(task_id = %started.task_id, state = %started.task_state, resource = %title, "cache task started");
        if let JobState::Done = state(&started) {
            return Ok(());
        }
        let policy = PollPolicy {
            interval: self.settings.poll_interval,
            max_interval: self.settings.poll_interval.max(Duration::from_secs(30)),
            timeout: self.settings.poll_timeout,
        };
        let task_id = started.task_id;
        until_done(NAME, policy, || async {
            let request = self
                .client
                .get(self.url("state/"))
                .query(&[("task_id", &task_id)]);
            self.task(request).await.map(|task| state(&task))
        })
        .await
    }
}
