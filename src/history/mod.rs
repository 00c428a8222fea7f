//! The purge history: "why was this purged?". Every accepted event, the
//! jobs its rules made, the provider calls that covered them (merged ones
//! included) and each verified URL become [`Record`]s, which [`History`]
//! hands — without waiting — to a writer task through a bounded channel: a
//! full channel drops the record and counts it
//! (`purgehook_history_dropped_total`) rather than slowing ingest. The
//! writer stores them in batches — in the embedded store's own file (its
//! log table) or in PostgreSQL — and deletes those older than
//! `[history] retention`.
//! [`History::query`] answers a [`Query`] from them ([`query::select`]).
//! History is on by default on the embedded backend; on RabbitMQ, where
//! receivers and workers are separate processes, it is kept in PostgreSQL
//! (`postgres.rs`) when `[history] postgres_url` is set, else off.

mod postgres;
pub mod query;
pub mod record;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use uuid::Uuid;

use crate::action::Action;
use crate::config::{HistorySettings, QueueBackendKind};
use crate::job::{Job, TargetId, Timestamp, now};
use crate::queue::{EmbeddedQueue, Queue, QueueError};
use crate::telemetry;
pub use query::{BadQuery, Query};
pub use record::{Kind, MadeJob, Record};
use writer::{Wakeup, Writer};

/// The most records one question reads (the newest).
const MAX_READ: i64 = 100_000;

/// Why the history could not answer.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// History is not kept by this deployment.
    #[error("no purge history is kept here: {0}")]
    Off(&'static str),
    /// The store failed.
    #[error("the history store failed: {0}")]
    Store(String),
}

impl From<QueueError> for HistoryError {
    fn from(error: QueueError) -> Self {
        HistoryError::Store(error.to_string())
    }
}

impl From<postgres::PgError> for HistoryError {
    fn from(error: postgres::PgError) -> Self {
        HistoryError::Store(error.to_string())
    }
}

/// Where the records are kept.
#[derive(Clone)]
enum Store {
    /// The embedded store's log table.
    Embedded(EmbeddedQueue),
    /// A PostgreSQL table (RabbitMQ).
    Postgres(Arc<postgres::Postgres>),
}

impl Store {
    async fn write(&self, records: &[Record]) -> Result<(), HistoryError> {
        if let Store::Postgres(pg) = self {
            return Ok(pg.write(records).await?);
        }
        let encoded = records
            .iter()
            .map(|r| Ok((r.at_ms(), serde_json::to_vec(r)?)))
            .collect::<Result<Vec<_>, serde_json::Error>>()
            .map_err(|e| HistoryError::Store(e.to_string()))?;
        match self {
            Store::Embedded(queue) => Ok(queue.log_append(encoded).await?),
            Store::Postgres(_) => Ok(()),
        }
    }

    async fn read(&self, since_ms: u64) -> Result<Vec<Record>, HistoryError> {
        let raw = match self {
            Store::Embedded(queue) => queue.log_read(since_ms).await?,
            Store::Postgres(pg) => return Ok(record::expand(pg.read(since_ms, MAX_READ).await?)),
        };
        let mut records = Vec::with_capacity(raw.len());
        for (_, bytes) in raw {
            match serde_json::from_slice(&bytes) {
                Ok(record) => records.push(record),
                Err(error) => {
                    tracing::warn!(%error, "history: a record that is not readable was skipped");
                }
            }
        }
        Ok(record::expand(records))
    }

    async fn prune(&self, before_ms: u64) -> Result<u64, HistoryError> {
        match self {
            Store::Embedded(queue) => Ok(queue.log_prune(before_ms).await?),
            Store::Postgres(pg) => Ok(pg.prune(before_ms).await?),
        }
    }
}

struct Inner {
    sender: mpsc::Sender<Record>,
    wakeup: Arc<Wakeup>,
    store: Store,
    retention: Duration,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.wakeup.closing();
    }
}

/// The history's handle: cheap to clone; [`History::off`] records nothing.
#[derive(Clone, Default)]
pub struct History {
    inner: Option<Arc<Inner>>,
}

impl History {
    /// A history that records nothing.
    pub fn off() -> History {
        History::default()
    }

    /// Whether records are kept.
    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// Starts the history `settings` ask for on `queue`'s backend; its
    /// writer runs until every handle is gone, writing what is buffered.
    pub fn start(settings: &HistorySettings, queue: &Queue) -> History {
        let store = match (queue, settings.enabled) {
            (_, Some(false)) => return History::off(),
            (Queue::Embedded(queue), _) => Store::Embedded(queue.clone()),
            (Queue::Amqp(_), _) => match &settings.postgres_url {
                Some(url) => Store::Postgres(Arc::new(postgres::Postgres::new(
                    url,
                    &settings.postgres_table,
                ))),
                None => {
                    if settings.enabled == Some(true) {
                        tracing::warn!(
                            "[history] on RabbitMQ needs a postgres_url: no history is kept"
                        );
                    }
                    return History::off();
                }
            },
        };
        let (sender, receiver) = mpsc::channel(settings.buffer);
        let prune_every =
            (settings.retention / 4).clamp(Duration::from_millis(200), Duration::from_secs(3600));
        let wakeup = Wakeup::new(settings.buffer);
        let writer = Writer {
            store: store.clone(),
            retention: settings.retention,
            prune_every,
            wakeup: wakeup.clone(),
        };
        tokio::spawn(writer.run(receiver));
        History {
            inner: Some(Arc::new(Inner {
                sender,
                wakeup,
                store,
                retention: settings.retention,
            })),
        }
    }

    /// Which backend keeps history by default.
    pub fn default_on(backend: QueueBackendKind) -> bool {
        backend == QueueBackendKind::Embedded
    }

    /// Hands `record` to the writer, never waiting: when its buffer is
    /// full the record is dropped and counted.
    pub fn record(&self, record: Record) {
        let Some(inner) = &self.inner else { return };
        let items = record.jobs.len() + record.urls.len() + record.made.len();
        match inner.sender.try_send(record) {
            Ok(()) => inner.wakeup.sent(&inner.sender, items),
            Err(_) => telemetry::history_dropped("full", 1),
        }
    }

    /// The records that answer `query`, newest first.
    pub async fn query(&self, query: &Query) -> Result<Vec<Record>, HistoryError> {
        let inner = self
            .inner
            .as_ref()
            .ok_or(HistoryError::Off("[history] is off"))?;
        let since_ms = query.since_ms(now(), inner.retention);
        let records = inner.store.read(since_ms).await?;
        Ok(query::select(records, query))
    }

    /// Every record of the last `window`, newest first (the status page's).
    pub async fn recent(&self, window: Duration) -> Result<Vec<Record>, HistoryError> {
        let inner = self
            .inner
            .as_ref()
            .ok_or(HistoryError::Off("[history] is off"))?;
        let now_ms = u64::try_from(now().as_millisecond()).unwrap_or(0);
        let since_ms = now_ms.saturating_sub(window.min(inner.retention).as_millis() as u64);
        inner.store.read(since_ms).await
    }

    /// An event accepted: one record for it, holding its jobs (each with
    /// its rule), which are read back as records of their own.
    pub fn accepted(&self, event_id: Uuid, jobs: &[Job], rules: &[String]) {
        if !self.is_on() {
            return;
        }
        let Some(first) = jobs.first() else { return };
        let mut event = Record::new(Kind::Event, now(), "accepted");
        event.source = first.event.as_ref().map(|e| e.source.clone());
        event.delivery = first.event.as_ref().and_then(|e| e.delivery_id.clone());
        event.event = Some(event_id.to_string());
        let mut unique: Vec<&str> = rules.iter().map(String::as_str).collect();
        unique.dedup();
        event.rule = Some(unique.join(", "));
        event.made = (jobs.iter().enumerate())
            .map(|(index, job)| MadeJob {
                job: job.id.to_string(),
                target: job.target.to_string(),
                rule: rules.get(index).cloned(),
                action: describe(&job.action),
                urls: urls(&job.action),
            })
            .collect();
        self.record(event);
    }

    /// A job queued by an operator (`source` = `api` or `cli`).
    pub fn queued(&self, job: &Job, source: &str) {
        if self.is_on() {
            self.record(operator_job(job, source));
        }
    }

    /// A job queued by an operator, stored before this returns (for a
    /// command that exits at once, past the writer's buffer).
    pub async fn queued_now(&self, job: &Job, source: &str) -> Result<(), HistoryError> {
        match &self.inner {
            Some(inner) => inner.store.write(&[operator_job(job, source)]).await,
            None => Ok(()),
        }
    }

    /// A provider call ended with `outcome` (`ok`, `retry`, `dead`,
    /// `requeued`); `jobs` are the ids it covered.
    pub fn called(&self, call: Called<'_>) {
        if !self.is_on() {
            return;
        }
        let mut record = Record::new(Kind::Call, now(), call.outcome);
        record.target = Some(call.target.to_string());
        record.call = Some(call.id.to_string());
        record.jobs = call.jobs;
        record.action = Some(describe(call.action));
        record.urls = urls(call.action);
        record.detail = call.detail;
        self.record(record);
    }

    /// A purged URL verified after the call `call`.
    pub fn verified(
        &self,
        target: &TargetId,
        call: Option<Uuid>,
        url: &str,
        outcome: &str,
        evidence: &str,
    ) {
        if !self.is_on() {
            return;
        }
        let mut record = Record::new(Kind::Verify, now(), outcome);
        record.target = Some(target.to_string());
        record.call = call.map(|c| c.to_string());
        record.urls = vec![url.to_string()];
        record.detail = Some(evidence.to_string());
        self.record(record);
    }
}

/// A provider call, for [`History::called`].
pub struct Called<'a> {
    /// The target.
    pub target: &'a TargetId,
    /// The call's id.
    pub id: Uuid,
    /// What it purged.
    pub action: &'a Action,
    /// The ids of the jobs it covered.
    pub jobs: Vec<String>,
    /// `ok`, `retry`, `dead` or `requeued`.
    pub outcome: &'static str,
    /// The provider's error, if any.
    pub detail: Option<String>,
}

fn operator_job(job: &Job, source: &str) -> Record {
    let mut record = job_record(job, now(), "queued");
    record.source = Some(source.to_string());
    record
}

fn job_record(job: &Job, at: Timestamp, outcome: &str) -> Record {
    let mut record = Record::new(Kind::Job, at, outcome);
    record.job = Some(job.id.to_string());
    record.jobs = job.merged_from.iter().map(Uuid::to_string).collect();
    record.target = Some(job.target.to_string());
    record.action = Some(describe(&job.action));
    record.urls = urls(&job.action);
    record
}

fn describe(action: &Action) -> String {
    format!("{} ×{}", action.kind(), action.item_count())
}

fn urls(action: &Action) -> Vec<String> {
    match action {
        Action::Urls { urls } => urls.clone(),
        _ => Vec::new(),
    }
}
