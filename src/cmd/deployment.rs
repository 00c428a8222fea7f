//! How the operator commands (`purge`, `dlq`) reach a deployment: on
//! RabbitMQ, directly on the broker; on the embedded store, directly when no
//! purgehook process holds it, else through the running process's API
//! (`[server] listen`, first of `[server] api_tokens`).

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::config::{QueueBackendKind, Settings};
use crate::history::{History, Query, Record};
use crate::job::{Job, TargetId};
use crate::queue::{
    Connect, DeadLetter, EMBEDDED_FILE_NAME, Queue, QueueError, ReplayFilter, Replayed,
};
use crate::receiver::ErrorCode;
use crate::secret::Secret;

/// The operator commands queue jobs of no delivery: nothing to remember.
fn no_dedupe() -> crate::config::DedupeSettings {
    crate::config::DedupeSettings {
        window: Duration::ZERO,
        redis_url: None,
    }
}

/// A way to the deployment's queue.
pub enum Deployment {
    /// The queue itself (the broker, or an embedded store nobody holds).
    Queue(Queue),
    /// The API of the process that holds the embedded store.
    Api {
        /// `http://host:port`.
        base: String,
        /// The bearer token.
        token: Secret,
        /// The HTTP client.
        client: reqwest::Client,
    },
}

impl Deployment {
    /// Runs `work` against the deployment configured in `settings`, on a
    /// runtime of its own, and closes the connection after.
    pub fn run<T>(
        settings: &Settings,
        work: impl AsyncFnOnce(&Deployment) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let deployment = Deployment::reach(settings).await?;
            let outcome = work(&deployment).await;
            deployment.close().await;
            outcome
        })
    }

    /// Reaches the deployment configured in `settings`.
    pub async fn reach(settings: &Settings) -> anyhow::Result<Deployment> {
        let targets: Vec<TargetId> = settings.targets.keys().cloned().collect();
        match settings.queue.backend {
            QueueBackendKind::Amqp => Queue::open(
                &settings.queue,
                &no_dedupe(),
                Connect {
                    name: "purgehook-cli",
                    targets: &targets,
                    prefetch: 1,
                    spool: false,
                },
            )
            .await
            .map(Deployment::Queue)
            .map_err(|e| anyhow!("{e}")),
            QueueBackendKind::Embedded => {
                let dir = &settings.queue.path;
                let file = dir.join(EMBEDDED_FILE_NAME);
                if !file.exists() {
                    let shown = std::path::absolute(&file).unwrap_or(file);
                    bail!(
                        "there is no embedded store at {} ([queue] path is relative to the current directory; `purgehook serve` creates the store)",
                        shown.display()
                    );
                }
                match Queue::open_embedded(dir).await {
                    Ok(queue) => Ok(Deployment::Queue(queue)),
                    Err(QueueError::InUse(_)) => Self::api(settings).context(
                        "the embedded store is held by a running purgehook, which is reached through its API",
                    ),
                    Err(error) => Err(error.into()),
                }
            }
        }
    }

    fn api(settings: &Settings) -> anyhow::Result<Deployment> {
        let token = settings
            .server
            .api_tokens
            .first()
            .cloned()
            .ok_or_else(|| anyhow!("no [server] api_tokens are configured"))?;
        let address = super::health::local_address(&settings.server.listen);
        Ok(Deployment::Api {
            base: format!("http://{address}"),
            token,
            client: crate::provider::client()?,
        })
    }

    /// Queues `job`; when this returns, it is stored. Returns the id it was
    /// stored under (the API gives the job its own). Queued on the queue
    /// itself, the job is recorded in the history (`source` `cli`) as the
    /// API records its own; a history that refuses it is said, the job
    /// stays queued.
    pub async fn purge(&self, settings: &Settings, job: &Job) -> anyhow::Result<String> {
        match self {
            Deployment::Queue(queue) => {
                queue.publish(std::slice::from_ref(job)).await?;
                let history = History::start(&settings.history, queue);
                if let Err(error) = history.queued_now(job, "cli").await {
                    eprintln!(
                        "warning: job {} is queued but not in the history: {error}",
                        job.id
                    );
                }
                Ok(job.id.to_string())
            }
            Deployment::Api { .. } => {
                let body = json!({"target": job.target, "action": job.action});
                let answer: serde_json::Value = self.call("/api/v1/purge", Some(body)).await?;
                answer["job_id"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| anyhow!("the API did not say which job it queued"))
            }
        }
    }

    /// Every dead letter, oldest first.
    pub async fn dead_letters(&self) -> anyhow::Result<Vec<DeadLetter>> {
        match self {
            Deployment::Queue(queue) => Ok(queue.dead_letters().await?),
            Deployment::Api { .. } => self.call("/api/v1/dead-letters", None).await,
        }
    }

    /// Queues again the dead letters `filter` picks.
    pub async fn replay(&self, filter: &ReplayFilter) -> anyhow::Result<Replayed> {
        match self {
            Deployment::Queue(queue) => Ok(queue.replay(filter).await?),
            Deployment::Api { .. } => {
                let body = json!({"target": filter.target, "id": filter.id});
                match self.call("/api/v1/dead-letters/replay", Some(body)).await {
                    Err(error)
                        if error.downcast_ref::<Refused>().is_some_and(|refused| {
                            refused.code == Some(ErrorCode::NoDeadLetter)
                        }) =>
                    {
                        Ok(Replayed::default())
                    }
                    other => other,
                }
            }
        }
    }

    /// Deletes the dead letters `filter` picks; returns them.
    pub async fn delete_dead(&self, filter: &ReplayFilter) -> anyhow::Result<Vec<DeadLetter>> {
        match self {
            Deployment::Queue(queue) => Ok(queue.delete_dead(filter).await?),
            Deployment::Api { .. } => {
                let all = filter.target.is_none() && filter.id.is_none();
                let body = json!({"target": filter.target, "id": filter.id, "all": all});
                let answer: Result<serde_json::Value, _> =
                    self.call("/api/v1/dead-letters/delete", Some(body)).await;
                match answer {
                    Ok(answer) => Ok(serde_json::from_value(answer["deleted"].clone())?),
                    Err(error)
                        if error.downcast_ref::<Refused>().is_some_and(|refused| {
                            refused.code == Some(ErrorCode::NoDeadLetter)
                        }) =>
                    {
                        Ok(Vec::new())
                    }
                    Err(error) => Err(error),
                }
            }
        }
    }

    /// The purge history's answer to `query`, newest first.
    pub async fn history(&self, settings: &Settings, query: &Query) -> anyhow::Result<Vec<Record>> {
        match self {
            Deployment::Queue(queue) => {
                let history = History::start(&settings.history, queue);
                Ok(history.query(query).await?)
            }
            Deployment::Api { .. } => {
                let pairs = serde_urlencoded::to_string(query.to_pairs())?;
                let answer: serde_json::Value =
                    self.call(&format!("/api/v1/history?{pairs}"), None).await?;
                Ok(serde_json::from_value(answer["records"].clone())?)
            }
        }
    }

    /// Closes the connection to the broker, if any.
    pub async fn close(self) {
        if let Deployment::Queue(queue) = self {
            queue.close().await;
        }
    }

    /// Calls the API: GET without a body, POST with one.
    async fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<T> {
        let Deployment::Api {
            base,
            token,
            client,
        } = self
        else {
            bail!("not an API deployment");
        };
        let url = format!("{base}{path}");
        let request = match body {
            Some(body) => client.post(&url).json(&body),
            None => client.get(&url),
        };
        let response = request
            .bearer_auth(token.expose())
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .with_context(|| format!("cannot reach the running purgehook at {base}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let answer = serde_json::from_str::<ErrorAnswer>(&text).ok();
            return Err(Refused {
                url,
                status,
                code: answer.as_ref().map(|a| a.error),
                message: answer.map_or(text, |a| a.message),
            }
            .into());
        }
        serde_json::from_str(&text).with_context(|| format!("{url} answered something unexpected"))
    }
}

/// The JSON body of an error answer of the API.
#[derive(serde::Deserialize)]
struct ErrorAnswer {
    error: ErrorCode,
    message: String,
}

/// The API's answer to a request it refused: the status and the JSON error
/// body's `error` code (when it had one) and `message`.
#[derive(Debug, thiserror::Error)]
#[error("{url} answered {status}: {message}{}", code.map(|c| format!(" ({})", c.as_str())).unwrap_or_default())]
pub struct Refused {
    url: String,
    status: reqwest::StatusCode,
    code: Option<ErrorCode>,
    message: String,
}
