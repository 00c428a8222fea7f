//! The durable job queue, behind one API for every backend: publish (durable
//! before it returns), consume per target with explicit settlement (ack,
//! delayed retry, dead letter, in one atomic step), dead-letter listing, and
//! replay of dead letters (their jobs queued again, nothing lost on the way).
//!
//! [`Queue`] is an enum over the backends (the embedded store and
//! RabbitMQ), so callers never know which one they talk to; one contract
//! test suite runs against both.

pub mod amqp;
pub(crate) mod dedupe;
mod embedded;
mod error;
mod letters;

use std::path::Path;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{DedupeSettings, QueueBackendKind, QueueSettings};
use crate::job::{Job, TargetId};
pub use amqp::{AmqpQueue, Connect};
pub use dedupe::{Deduper, DeliveryKey, Published};
pub use embedded::{EmbeddedQueue, FILE_NAME as EMBEDDED_FILE_NAME, WriterStats};
#[cfg(test)]
pub(crate) use embedded::{Fault, FaultSwitch};
pub use error::QueueError;
pub use letters::{DeadLetter, Delivery, DeliveryTag, ReplayFilter, Replayed, Settlement};

/// The queue, whichever backend carries it.
#[derive(Clone)]
pub enum Queue {
    /// The embedded on-disk store.
    Embedded(EmbeddedQueue),
    /// RabbitMQ.
    Amqp(AmqpQueue),
}

impl Queue {
    /// Opens the embedded store in `dir` (its file is read off the runtime).
    pub async fn open_embedded(dir: &Path) -> Result<Queue, QueueError> {
        EmbeddedQueue::open(dir).await.map(Queue::Embedded)
    }

    /// Opens the configured backend: the embedded store, or a connection to
    /// RabbitMQ named `name` that declares the topology for `targets` (and
    /// remembers accepted deliveries in Redis or memory, per `dedupe`).
    pub async fn open(
        settings: &QueueSettings,
        dedupe: &DedupeSettings,
        how: Connect<'_>,
    ) -> Result<Queue, QueueError> {
        match settings.backend {
            QueueBackendKind::Embedded => Queue::open_embedded(&settings.path).await,
            QueueBackendKind::Amqp => {
                let deduper =
                    Deduper::connect(dedupe.redis_url.as_deref(), &settings.prefix, dedupe.window)
                        .await
                        .map_err(|e| QueueError::Dedupe(e.to_string()))?;
                AmqpQueue::connect(settings, how, deduper)
                    .await
                    .map(Queue::Amqp)
            }
        }
    }

    /// What the queue is, for the log: the store's file, or the broker's
    /// node and prefix.
    pub fn describe(&self) -> String {
        match self {
            Queue::Embedded(q) => format!("embedded store {}", q.file().display()),
            Queue::Amqp(q) => q.describe(),
        }
    }

    /// Publishes jobs durably: when this returns `Ok`, every job is stored
    /// (fsync'd, or confirmed by the broker).
    pub async fn publish(&self, jobs: &[Job]) -> Result<(), QueueError> {
        let started = Instant::now();
        let result = match self {
            Queue::Embedded(q) => q.publish(jobs).await,
            Queue::Amqp(q) => q.publish(jobs).await,
        };
        crate::telemetry::published(self.backend_name(), started.elapsed());
        result
    }

    /// Publishes the jobs of one delivery, unless the same delivery was
    /// accepted within `window` (see [`DeliveryKey`]): then nothing is
    /// queued. Durable like [`Queue::publish`] when it says
    /// [`Published::Stored`].
    pub async fn publish_once(
        &self,
        jobs: &[Job],
        key: DeliveryKey,
        window: std::time::Duration,
    ) -> Result<Published, QueueError> {
        let started = Instant::now();
        let result = match self {
            Queue::Embedded(q) => q.publish_once(jobs, key, window).await,
            Queue::Amqp(q) => q.publish_once(jobs, key, window).await,
        };
        crate::telemetry::published(self.backend_name(), started.elapsed());
        result
    }

    /// The backend, as a metric label.
    fn backend_name(&self) -> &'static str {
        match self {
            Queue::Embedded(_) => "embedded",
            Queue::Amqp(_) => "amqp",
        }
    }

    /// The next ready job of `target`, waiting until `deadline` at most
    /// (forever with `None`). `None` when the deadline passed first.
    pub async fn next(&self, target: &TargetId, deadline: Option<Instant>) -> Option<Delivery> {
        match self {
            Queue::Embedded(q) => q.next(target, deadline).await,
            Queue::Amqp(q) => q.next(target, deadline).await,
        }
    }

    /// Waits until `target` has `count` jobs ready or `deadline` passed,
    /// so that a batch is collected in one go rather than one wake-up per
    /// job. RabbitMQ pushes deliveries to its consumer: there it returns
    /// at once.
    pub async fn gather(&self, target: &TargetId, count: usize, deadline: Instant) {
        if let Queue::Embedded(q) = self {
            q.gather(target, count, deadline).await;
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

    /// Makes `targets` known to the queue, as a reload adds them: on
    /// RabbitMQ their queues are declared (now, and again after every
    /// reconnection) so that what is published for them is routed, and a
    /// receiver that spools forwards their jobs. Nothing to do for the
    /// embedded store, which keeps any target's jobs.
    pub async fn add_targets(&self, targets: &[TargetId]) {
        if let Queue::Amqp(q) = self {
            q.add_targets(targets).await;
        }
    }

    /// Stops consuming `target`, whose worker was retired by a reload: on
    /// RabbitMQ its consumer's channel closes and the broker keeps what the
    /// consumer had not settled in the target's queue.
    pub async fn stop_consuming(&self, target: &TargetId) {
        if let Queue::Amqp(q) = self {
            q.stop_consuming(target).await;
        }
    }

    /// Whether the queue can take jobs now (a receiver that spools can take
    /// them even when RabbitMQ cannot; this says whether RabbitMQ can).
    pub async fn is_ready(&self) -> bool {
        match self {
            Queue::Embedded(q) => q.is_ready(),
            Queue::Amqp(q) => q.is_ready(),
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
            Queue::Embedded(q) => q.dead_letters().await,
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

    /// Deletes the dead letters `filter` matches (its `configured` is
    /// ignored); returns them.
    pub async fn delete_dead(&self, filter: &ReplayFilter) -> Result<Vec<DeadLetter>, QueueError> {
        match self {
            Queue::Embedded(q) => q.delete_dead(filter).await,
            Queue::Amqp(q) => q.delete_dead(filter).await,
        }
    }

    /// Closes the backend: the store's file (once what was sent is
    /// written), or the broker connections (unsettled deliveries are
    /// redelivered).
    pub async fn close(&self) {
        match self {
            Queue::Embedded(q) => q.close().await,
            Queue::Amqp(q) => q.close().await,
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
