//! The cache task API (seed 004): `POST /api/v1/cache/refresh/` with
//! `{"resource_title": …, <params>…}` and a bearer token answers a
//! `{task_id, task_state}`; the task is polled with `GET
//! /api/v1/cache/state/?task_id=…` until `SUCCESS` (done) or `FAILURE` /
//! `REVOKED` (permanent).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use super::http::{Answer, excerpt, exchange};
use super::poll::{JobState, PollPolicy, until_done};
use super::registration::{Context, Registration};
use super::settings::HttpUrl;
use super::{Provider, ProviderError};
use crate::action::{Action, ActionKind};
use crate::capability::Capabilities;
use crate::config::{Fields, Read};
use crate::secret::Secret;

const NAME: &str = "cache task API";

pub(super) const PROVIDER: Registration = Registration {
    capabilities: Capabilities {
        provider: "cache_tasks",
        kinds: &[ActionKind::Resource],
        max_items: &[],
        check,
        default_rate: None,
    },
    build,
};

/// The field the API names the resource with: a parameter of that name
/// would replace the action's title on the wire.
const TITLE_FIELD: &str = "resource_title";

fn check(action: &Action) -> Result<(), String> {
    match action {
        Action::Resource { params, .. } if params.contains_key(TITLE_FIELD) => Err(format!(
            "params: {TITLE_FIELD:?} is the request's title field; give the resource's name as `title`, not as a parameter"
        )),
        _ => Ok(()),
    }
}

fn build(fields: &mut Fields<'_>, context: &Context<'_>) -> Read<Arc<dyn Provider>> {
    let base_url = fields.required("base_url");
    let token = fields.secret("token");
    let poll = PollPolicy::read(fields, Duration::from_secs(1), Duration::from_secs(600));
    Ok(Arc::new(CacheTasks {
        base_url: base_url?,
        token: token?,
        poll,
        client: context.client.clone(),
    }))
}

/// The adapter.
struct CacheTasks {
    /// The server (`https://cache.example.com`).
    base_url: HttpUrl,
    /// The user token.
    token: Secret,
    /// How tasks are polled.
    poll: PollPolicy,
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
    fn url(&self, path: &str) -> String {
        self.base_url.join(&format!("api/v1/cache/{path}"))
    }

    /// Sends `request` with the token; the answer, whatever its status.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Answer, ProviderError> {
        let request = request
            .bearer_auth(self.token.expose())
            .header("Accept", "application/json");
        exchange(NAME, request).await
    }

    /// Asks for the refresh; the task it started.
    async fn start(
        &self,
        body: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Task, ProviderError> {
        let request = self.client.post(self.url("refresh/")).json(body);
        task(&self.send(request).await?.success(NAME)?)
    }

    /// Reads the task's state: 404 is a task the server does not know;
    /// 5xx, timeouts and 429 are read again by the poll.
    async fn read(&self, task_id: &str) -> Result<JobState, ProviderError> {
        let request = self
            .client
            .get(self.url("state/"))
            .query(&[("task_id", task_id)]);
        let answer = self.send(request).await?;
        if answer.status == reqwest::StatusCode::NOT_FOUND {
            return Ok(JobState::Unknown);
        }
        task(&answer.success(NAME)?).map(|task| state(&task))
    }
}

/// The task an answer carries.
fn task(answer: &Answer) -> Result<Task, ProviderError> {
    serde_json::from_str(&answer.body).map_err(|_| ProviderError::Retryable {
        message: format!(
            "{NAME} answered {} with an unexpected body: {}",
            answer.status,
            excerpt(&answer.body)
        ),
    })
}

#[async_trait]
impl Provider for CacheTasks {
    async fn purge(&self, action: &Action) -> Result<(), ProviderError> {
        let Action::Resource { title, params } = action else {
            return Err(ProviderError::cannot(NAME, action));
        };
        let mut body = serde_json::Map::new();
        body.insert(TITLE_FIELD.into(), title.clone().into());
        for (key, value) in params {
            body.insert(key.clone(), value.clone());
        }
        let started = self.start(&body).await?;
        tracing::info!(task_id = %started.task_id, state = %started.task_state, resource = %title, "cache task started");
        if let JobState::Done = state(&started) {
            return Ok(());
        }
        let task_id = started.task_id;
        until_done(NAME, self.poll, || self.read(&task_id)).await
    }

    fn describe(&self) -> String {
        self.base_url.to_string()
    }
}
