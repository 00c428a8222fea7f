//! The durable job queue, behind one API for every backend: publish (durable
//! before it returns), consume per target with explicit settlement (ack,
//! delayed retry, dead letter, in one atomic step), dead-letter listing, and
//! replay of dead letters (their jobs queued again, nothing lost on the way).
//!
//! [`Queue`] is an enum over the backends (the embedded store and
//! RabbitMQ), so callers never know which one they talk to; one contract
//! test suite runs against both.

pub mod amqp;
mod embedded;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::config::{QueueBackendKind, QueueSettings};
use crate::job::Job;
pub use amqp::AmqpQueue;
pub use embedded::{EmbeddedQueue, FILE_NAME as EMBEDDED_FILE_NAME};

/// Why the queue could not do what was asked. Publishing callers answer 503.
#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    /// The store or broker failed or is unreachable.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    /// The embedded store is open in another process (one at a time).
    #[error("the store {0} is open in another process (is purgehook already running?)")]
    InUse(String),
}

/// A job delivered to a worker, to be settled.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The job.
    pub job: Job,
    /// The backend's handle for settling it.
    pub tag: DeliveryTag,
}

/// A backend's handle on a delivery.
#[derive(Debug, Clone)]
pub enum DeliveryTag {
    /// The embedded store's sequence number.
    Embedded(u64),
    /// The broker's acknowledgement handle.
    Amqp(lapin::Acker),
}

/// What to do, atomically, with a batch of deliveries once the worker knows
/// their fate: the deliveries are acknowledged only together with the
/// durable publication of their retries and dead letters.
#[derive(Debug, Default)]
pub struct Settlement {
    /// Deliveries that are done with.
    pub ack: Vec<DeliveryTag>,
    /// Jobs to try again after a delay.
    pub retry: Vec<(Job, Duration)>,
    /// Jobs that failed for good, with the reason.
    pub dead: Vec<(Job, String)>,
}

/// A dead-lettered job (or a message that was not one), with why and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The letter's id: its job's id when it holds a valid job; otherwise
    /// the message id the broker copy was given when it was dead-lettered
    /// (empty for a letter stored before ids existed that has neither).
    #[serde(default)]
    pub id: String,
    /// The target (or, for an unroutable message, its routing key).
    pub target: String,
    /// The job as it last ran, when the message was a valid job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<Job>,
    /// The message body, when it was not a valid job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Why it was dead-lettered.
    pub reason: String,
    /// How many attempts were made.
    pub attempts: u32,
    /// RFC 3339 time it was dead-lettered.
    pub dead_at: String,
}

/// Which dead letters to replay: all, one target's, or one id (both may be set).
#[derive(Debug, Clone, Default)]
pub struct ReplayFilter {
    /// Only the letters of this target (their [`DeadLetter::target`]).
    pub target: Option<String>,
    /// Only the letter with this id (its [`DeadLetter::id`]).
    pub id: Option<String>,
    /// The targets a replayed job may go to (the configured ones); a letter
    /// whose job names another is left in place. `None`: any.
    pub configured: Option<BTreeSet<String>>,
}

impl ReplayFilter {
    /// Whether `letter` is one of the letters to replay.
    pub(crate) fn matches(&self, letter: &DeadLetter) -> bool {
        self.target.as_ref().is_none_or(|t| *t == letter.target)
            && self.id.as_ref().is_none_or(|id| *id == letter.id)
    }

    /// The job to queue again for a matching `letter`: its job, attempt
    /// reset to 0, same id; `None` when it holds no valid job or its target
    /// is not configured (the letter is then left in place).
    pub(crate) fn replayable(&self, letter: &DeadLetter) -> Option<Job> {
        let job = letter.job.as_ref()?;
        if let Some(configured) = &self.configured
            && !configured.contains(&job.target)
        {
            return None;
        }
        Some(Job {
            attempt: 0,
            ..job.clone()
        })
    }
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replayed {
    /// Letters whose job was queued again (attempt reset to 0), now gone from the dead letters.
    pub replayed: Vec<DeadLetter>,
    /// Letters matching the filter that cannot be replayed, left in place:
    /// they hold no valid job (a producer's bad message), or their job's
    /// target is not configured.
    pub skipped: Vec<DeadLetter>,
}

/// The queue, whichever backend carries it.
#[derive(Clone)]
pub enum Queue {
    /// The embedded on-disk store.
    Embedded(EmbeddedQueue),
    /// RabbitMQ.
    Amqp(AmqpQueue),
}

impl Queue {
    /// Opens the embedded store in `dir`.
    pub fn open_embedded(dir: &Path) -> Result<Queue, QueueError> {
        EmbeddedQueue::open(dir).map(Queue::Embedded)
    }

    /// Opens the configured backend: the embedded store, or a connection to
    /// RabbitMQ named `name` that declares the topology for `targets`.
    pub async fn open(
        settings: &QueueSettings,
        name: &str,
        targets: &[String],
        prefetch: u16,
    ) -> Result<Queue, QueueError> {
        match settings.backend {
            QueueBackendKind::Embedded => Queue::open_embedded(&settings.path),
            QueueBackendKind::Amqp => AmqpQueue::connect(settings, name, targets, prefetch)
                .await
                .map(Queue::Amqp),
        }
    }

    /// Publishes jobs durably: when this returns `Ok`, every job is stored
    /// (fsync'd, or confirmed by the broker).
    pub async fn publish(&self, jobs: &[Job]) -> Result<(), QueueError> {
        match self {
            Queue::Embedded(q) => q.publish(jobs).await,
            Queue::Amqp(q) => q.publish(jobs).await,
        }
    }

    /// The next ready job of `target`, waiting until `deadline` at most
    /// (forever with `None`). `None` when the deadline passed first.
    pub async fn next(&self, target: &str, deadline: Option<Instant>) -> Option<Delivery> {
        match self {
            Queue::Embedded(q) => q.next(target, deadline).await,
            Queue::Amqp(q) => q.next(target, deadline).await,
        }
    }

    /// Applies a settlement: retries and dead letters are stored before the
    /// deliveries are acknowledged.
    pub async fn settle(&self, settlement: Settlement) -> Result<(), QueueError> {
        match self {
            Queue::Embedded(q) => q.settle(settlement).await,
            Queue::Amqp(q) => q.settle(settlement).await,
        }
    }

    /// Gives unsettled deliveries back for redelivery (e.g. at shutdown).
    pub async fn release(&self, tags: &[DeliveryTag]) {
        match self {
            Queue::Embedded(q) => q.release(tags),
            Queue::Amqp(q) => q.release(tags).await,
        }
    }

    /// Whether the queue can take jobs now.
    pub async fn is_ready(&self) -> bool {
        match self {
            Queue::Embedded(q) => q.is_ready(),
            Queue::Amqp(q) => q.is_ready().await,
        }
    }

    /// How many jobs of `target` wait or are in flight (embedded store only;
    /// the broker's counts are in its own tools).
    pub fn pending_jobs(&self, target: &str) -> Option<usize> {
        match self {
            Queue::Embedded(q) => Some(q.pending(target)),
            Queue::Amqp(_) => None,
        }
    }

    /// Every dead letter, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, QueueError> {
        match self {
            Queue::Embedded(q) => q.dead_letters(),
            Queue::Amqp(q) => q.dead_letters().await,
        }
    }

    /// Queues again the jobs of the dead letters `filter` matches (attempt
    /// reset to 0, same id) and removes those letters, the two together: a
    /// letter is gone only once its job is stored. Letters without a valid
    /// job are left in place and reported as skipped. Nothing matching gives
    /// an empty [`Replayed`]. Safe while workers consume.
    pub async fn replay(&self, filter: &ReplayFilter) -> Result<Replayed, QueueError> {
        match self {
            Queue::Embedded(q) => q.replay(filter).await,
            Queue::Amqp(q) => q.replay(filter).await,
        }
    }

    /// Closes the backend's connections; unsettled deliveries are redelivered.
    pub async fn close(&self) {
        if let Queue::Amqp(q) = self {
            q.close().await;
        }
    }

    /// Background duties of a worker process until `stop`: on RabbitMQ,
    /// dead-lettering messages routed to no target. Nothing on the embedded
    /// store, where nothing unroutable can be published.
    pub async fn run_janitor(self, stop: CancellationToken) {
        if let Queue::Amqp(q) = self {
            q.run_unroutable(stop).await;
        }
    }
}
