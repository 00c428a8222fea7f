//! Oracle Content Management's site cache refresh (seed 001): `POST
//! /sites/management/api/v1/sites/{site}/refresh` with `Prefer:
//! respond-async` and a bearer token. A 202 carries a `Location` of a job
//! status resource, polled until the job `succeeded` (done) or `failed` /
//! `aborted` (permanent), honouring the job's `intervalToPoll`. 403/404/409
//! answers are permanent; their `o:errorCode` is logged and quoted.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::LOCATION;
use serde::Deserialize;

use super::http::{error_detail, excerpt, exchange};
use super::poll::{JobState, PollPolicy, until_done};
use super::registration::{Context, Registration};
use super::settings::HttpUrl;
use super::{Provider, ProviderError};
use crate::action::{Action, ActionKind};
use crate::capability::{Capabilities, accept_any};
use crate::config::{Fields, Read};
use crate::secret::Secret;

const NAME: &str = "Oracle Content Management";

pub(super) const PROVIDER: Registration = Registration {
    capabilities: Capabilities {
        provider: "oracle_ocm",
        kinds: &[ActionKind::Everything],
        max_items: &[],
        check: accept_any,
        default_rate: None,
    },
    build,
};

fn build(fields: &mut Fields<'_>, context: &Context<'_>) -> Read<Arc<dyn Provider>> {
    let base_url: Read<HttpUrl> = fields.required("base_url");
    let site: Read<String> = fields.required("site").and_then(|site: String| {
        if site.trim().is_empty() || site == "name:" {
            Err(fields.problem("site", "expected a site id or name:NAME"))
        } else {
            Ok(site)
        }
    });
    let token = fields.secret("token");
    let poll = PollPolicy::read(fields, Duration::from_secs(5), Duration::from_secs(600));
    let (base_url, site) = (base_url?, site?);
    let refresh_url = refresh_url(&base_url, &site)
        .map_err(|()| fields.problem("base_url", "cannot take a path"))?;
    Ok(Arc::new(OracleOcm {
        base_url,
        site,
        refresh_url,
        token: token?,
        poll,
        client: context.client.clone(),
    }))
}

/// `…/sites/management/api/v1/sites/{site}/refresh`, the site percent-encoded.
fn refresh_url(base_url: &HttpUrl, site: &str) -> Result<url::Url, ()> {
    let mut url = base_url.url().clone();
    url.path_segments_mut()?.pop_if_empty().extend([
        "sites",
        "management",
        "api",
        "v1",
        "sites",
        site,
        "refresh",
    ]);
    Ok(url)
}

/// The adapter.
struct OracleOcm {
    /// The OCM instance (`https://<instance>.ocecdn.oraclecloud.com`).
    base_url: HttpUrl,
    /// The site id, or `name:NAME`.
    site: String,
    /// The site's refresh endpoint.
    refresh_url: url::Url,
    /// An OAuth bearer token of a user with the Manager or Owner role on the site.
    token: Secret,
    /// How the job is polled.
    poll: PollPolicy,
    client: reqwest::Client,
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

impl OracleOcm {
    async fn read_job(&self, location: &url::Url) -> Result<JobState, ProviderError> {
        let request = self
            .client
            .get(location.clone())
            .bearer_auth(self.token.expose());
        let answer = exchange(NAME, request).await?;
        if answer.status == reqwest::StatusCode::NOT_FOUND {
            return Ok(JobState::Unknown);
        }
        // 5xx, timeouts and 429 are read again; 401/403 are permanent.
        let answer = answer.success(NAME)?;
        let job: JobStatus =
            serde_json::from_str(&answer.body).map_err(|_| ProviderError::Retryable {
                message: format!("{NAME} job status is not JSON: {}", excerpt(&answer.body)),
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

#[async_trait]
impl Provider for OracleOcm {
    async fn purge(&self, action: &Action) -> Result<(), ProviderError> {
        if !matches!(action, Action::Everything { .. }) {
            return Err(ProviderError::cannot(NAME, action));
        }
        let request = self
            .client
            .post(self.refresh_url.clone())
            .bearer_auth(self.token.expose())
            .header("Prefer", "respond-async");
        let answer = exchange(NAME, request).await?;
        if !answer.status.is_success() {
            let body = serde_json::from_str::<serde_json::Value>(&answer.body).ok();
            if let Some(code) = body.as_ref().and_then(|b| b.get("o:errorCode")?.as_str()) {
                tracing::warn!(site = %self.site, error_code = %code, status = %answer.status, "OCM refused the refresh");
            }
            return Err(answer.failure(NAME));
        }
        let location = answer
            .headers
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| self.refresh_url.join(l).ok())
            .ok_or_else(|| ProviderError::Retryable {
                message: format!(
                    "{NAME} answered {} without the Location of its job",
                    answer.status
                ),
            })?;
        until_done(NAME, self.poll, || self.read_job(&location)).await
    }

    fn describe(&self) -> String {
        format!("site {} at {}", self.site, self.base_url)
    }
}
