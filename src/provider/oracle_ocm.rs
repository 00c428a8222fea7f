//! Oracle Content Management's site cache refresh (seed 001): `POST
//! /sites/management/api/v1/sites/{site}/refresh` with `Prefer:
//! respond-async` and a bearer token. A 202 carries a `Location` of a job
//! status resource, polled until the job `succeeded` (done) or `failed` /
//! `aborted` (permanent), honouring the job's `intervalToPoll`. 403/404/409
//! answers are permanent; their `o:errorCode` is logged and quoted.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::LOCATION;
use serde::Deserialize;
use toml::Table;

use super::http::{classify_failure, error_detail, excerpt, read, transport_error};
use super::poll::{JobState, PollPolicy, until_done};
use super::{Capabilities, Provider, ProviderError};
use crate::config::{ConfigError, Secret, typed_section, values};
use crate::job::{Action, ActionKind};

const NAME: &str = "Oracle Content Management";

pub(super) const CAPABILITIES: Capabilities = Capabilities {
    kinds: &[ActionKind::Everything],
    max_items: &[],
    check: super::accept_any,
    default_rate: None,
};

fn default_poll_interval() -> Duration {
    Duration::from_secs(5)
}

fn default_poll_timeout() -> Duration {
    Duration::from_secs(600)
}

/// `[targets.<id>]` keys of an OCM site.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The OCM instance (`https://<instance>.ocecdn.oraclecloud.com`).
    pub base_url: url::Url,
    /// The site id, or `name:NAME`.
    pub site: String,
    /// An OAuth bearer token of a user with the Manager or Owner role on the site.
    pub token: Secret,
    /// First wait between two reads of the job, when it suggests none.
    #[serde(
        default = "default_poll_interval",
        deserialize_with = "values::duration"
    )]
    pub poll_interval: Duration,
    /// How long a refresh may run before it is asked again.
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
        if settings.site.trim().is_empty() || settings.site == "name:" {
            errors.push(ConfigError::new(
                format!("{path}.site"),
                "expected a site id or name:NAME",
            ));
            return None;
        }
        Some(settings)
    }
}

/// The adapter.
pub struct OracleOcm {
    settings: Settings,
    client: reqwest::Client,
}

impl OracleOcm {
    pub(super) fn new(settings: Settings, client: reqwest::Client) -> Self {
        Self { settings, client }
    }

    fn refresh_url(&self) -> Result<url::Url, ProviderError> {
        let mut url = self.settings.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| ProviderError::Permanent {
                message: format!("{NAME}: base_url cannot take a path"),
            })?
            .pop_if_empty()
            .extend([
                "sites",
                "management",
                "api",
                "v1",
                "sites",
                &self.settings.site,
                "refresh",
            ]);
        Ok(url)
    }

    async fn read_job(&self, location: &url::Url) -> Result<JobState, ProviderError> {
        let response = self
            .client
            .get(location.clone())
            .bearer_auth(self.settings.token.expose())
            .send()
            .await
            .map_err(|e| transport_error(NAME, e))?;
        let (status, headers, text) = read(response).await;
        if !status.is_success() {
            // A job that cannot be read is asked again rather than trusted done.
            return Err(
                match classify_failure(NAME, status, &headers, &error_detail(&text)) {
                    ProviderError::Permanent { message } => ProviderError::Retryable { message },
                    other => other,
                },
            );
        }
        let job: JobStatus = serde_json::from_str(&text).map_err(|_| ProviderError::Retryable {
            message: format!("{NAME} job status is not JSON: {}", excerpt(&text)),
        })?;
        Ok(match job.progress.as_str() {
            "succeeded" => JobState::Done,
            "failed" | "aborted" => JobState::Failed(match job.error {
                Some(error) => error_detail(&error.to_string()),
                None => job.progress.clone(),
            }),
            _ => JobState::Running {
                suggested: job.interval_to_poll.map(Duration::from_millis),
            },
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobStatus {
    progress: String,
    #[serde(default)]
    interval_to_poll: Option<u64>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[async_trait]
impl Provider for OracleOcm {
    async fn purge(&self, action: &Action) -> Result<(), ProviderError> {
        if !matches!(action, Action::Everything { .. }) {
            return Err(ProviderError::Permanent {
                message: format!(
                    "{NAME} refreshes whole sites; cannot purge {}",
                    action.kind()
                ),
            });
        }
        let url = self.refresh_url()?;
        let response = self
            .client
            .post(url.clone())
            .bearer_auth(self.settings.token.expose())
            .header("Prefer", "respond-async")
            .send()
            .await
            .map_err(|e| transport_error(NAME, e))?;
        let (status, headers, text) = read(response).await;
        if !status.is_success() {
            let code = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|b| {
                    b.get("o:errorCode")
                        .and_then(|c| c.as_str())
                        .map(str::to_string)
                });
            if let Some(code) = &code {
                tracing::warn!(site = %self.settings.site, error_code = %code, %status, "OCM refused the refresh");
            }
            return Err(classify_failure(
                NAME,
                status,
                &headers,
                &error_detail(&text),
            ));
        }
        let location = headers
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| url.join(l).ok())
            .ok_or_else(|| ProviderError::Retryable {
                message: format!("{NAME} answered {status} without the Location of its job"),
            })?;
        let policy = PollPolicy {
            interval: self.settings.poll_interval,
            max_interval: self.settings.poll_interval.max(Duration::from_secs(30)),
            timeout: self.settings.poll_timeout,
        };
        until_done(NAME, policy, || self.read_job(&location)).await
    }
}
