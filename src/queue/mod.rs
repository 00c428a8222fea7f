//! The durable job queue, behind one API for every backend: publish (durable
//! before it returns), consume per target with explicit settlement (ack,
//! delayed retry, dead letter, in one atomic step), and dead-letter listing.
//!
//! [`Queue`] is an enum over the backends (today the embedded store; the
//! AMQP backend joins it), so callers never know which one they talk to.

mod embedded;

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::job::Job;
pub use embedded::EmbeddedQueue;

/// Why the queue could not do what was asked. Publishing callers answer 503.
#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    /// The store or broker failed or is unreachable.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryTag {
    /// The embedded store's sequence number.
    Embedded(u64),
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

/// A dead-lettered job, with why and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The job as it last ran.
    pub job: Job,
    /// Why it was dead-lettered.
    pub reason: String,
    /// How many attempts were made.
    pub attempts: u32,
    /// RFC 3339 time it was dead-lettered.
    pub dead_at: String,
}

/// The queue, whichever backend carries it.
#[derive(Clone)]
pub enum Queue {
    /// The embedded on-disk store.
    Embedded(EmbeddedQueue),
}

impl Queue {
    /// Opens the embedded store in `dir`.
    pub fn open_embedded(dir: &Path) -> Result<Queue, QueueError> {
        EmbeddedQueue::open(dir).map(Queue::Embedded)
    }

    /// Publishes jobs durably: when this returns `Ok`, every job is stored.
    pub async fn publish(&self, jobs: &[Job]) -> Result<(), QueueError> {
        match self {
            Queue::Embedded(q) => q.publish(jobs).await,
        }
    }

    /// The next ready job of `target`, waiting until `deadline` at most
    /// (forever with `None`). `None` when the deadline passed first.
    pub async fn next(&self, target: &str, deadline: Option<Instant>) -> Option<Delivery> {
        match self {
            Queue::Embedded(q) => q.next(target, deadline).await,
        }
    }

    /// Applies a settlement atomically.
    pub async fn settle(&self, settlement: Settlement) -> Result<(), QueueError> {
        match self {
            Queue::Embedded(q) => q.settle(settlement).await,
        }
    }

    /// Gives unsettled deliveries back for redelivery (e.g. at shutdown).
    pub fn release(&self, tags: &[DeliveryTag]) {
        match self {
            Queue::Embedded(q) => q.release(tags),
        }
    }

    /// Whether the queue can take jobs now.
    pub fn is_ready(&self) -> bool {
        match self {
            Queue::Embedded(q) => q.is_ready(),
        }
    }

    /// How many jobs of `target` wait or are in flight.
    pub fn pending_jobs(&self, target: &str) -> usize {
        match self {
            Queue::Embedded(q) => q.pending(target),
        }
    }

    /// Every dead letter, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, QueueError> {
        match self {
            Queue::Embedded(q) => q.dead_letters(),
        }
    }
}
