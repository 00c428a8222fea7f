//! A receiver's spool: while RabbitMQ cannot take a job (unreachable,
//! blocked, a confirm past its deadline), the job is stored in a local
//! embedded store — fsync'd before the 202, like the embedded backend — and
//! forwarded with confirms once the broker is back. While anything is
//! spooled, new jobs are spooled behind it, so a target's jobs reach the
//! broker in the order they were accepted. At `[queue] spool_max` jobs,
//! deliveries get 503.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::RwLock;
use tokio::time::Instant;

use super::AmqpQueue;
use crate::job::{Job, TargetId};
use crate::queue::{Delivery, EmbeddedQueue, QueueError, Settlement};

/// Most jobs forwarded together.
const FORWARD_BATCH: usize = 200;

/// Longest pause between two forwarding attempts.
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// The spool.
pub(super) struct Spool {
    store: EmbeddedQueue,
    max: usize,
    /// Jobs are being spooled (the broker failed, and the spool has not
    /// emptied since).
    spooling: AtomicBool,
    /// Held to publish (shared) and to stop spooling (alone), so that no
    /// job overtakes a spooled one.
    gate: RwLock<()>,
}

impl Spool {
    /// Opens the spool's store in `dir` (what an earlier run left is forwarded).
    pub async fn open(dir: &Path, max: usize) -> Result<Spool, QueueError> {
        let store = EmbeddedQueue::open(dir).await?;
        let spooling = store.pending_total() > 0;
        Ok(Spool {
            store,
            max,
            spooling: AtomicBool::new(spooling),
            gate: RwLock::new(()),
        })
    }

    /// Publishes to the broker, or keeps the jobs when it cannot take them.
    pub async fn publish(&self, queue: &AmqpQueue, jobs: &[Job]) -> Result<(), QueueError> {
        let _shared = self.gate.read().await;
        if !self.spooling.load(Ordering::SeqCst) {
            match queue.publish_direct(jobs).await {
                Ok(()) => return Ok(()),
                Err(error @ QueueError::Unroutable { .. }) => return Err(error),
                Err(error) => {
                    if !self.spooling.swap(true, Ordering::SeqCst) {
                        tracing::warn!(%error, "RabbitMQ cannot take jobs: spooling them locally");
                    }
                }
            }
        }
        let held = self.store.pending_total();
        if held + jobs.len() > self.max {
            return Err(QueueError::SpoolFull(held));
        }
        self.store.publish(jobs).await
    }

    /// How many jobs wait in the spool.
    pub fn held(&self) -> usize {
        self.store.pending_total()
    }

    /// Stops spooling once nothing is held.
    async fn resume_when_empty(&self) {
        if !self.spooling.load(Ordering::SeqCst) || self.held() > 0 {
            return;
        }
        let _alone = self.gate.write().await;
        if self.held() == 0 && self.spooling.swap(false, Ordering::SeqCst) {
            tracing::info!("spool forwarded: publishing to RabbitMQ directly again");
        }
    }

    /// Closes the store.
    pub async fn close(&self) {
        self.store.close().await;
    }
}

impl AmqpQueue {
    /// Spawns a forwarder per target, when this queue spools.
    pub(super) fn start_forwarding(&self) {
        if self.inner.spool.is_none() {
            return;
        }
        for target in self.targets() {
            tokio::spawn(self.clone().forward(target));
        }
    }

    /// Spawns the forwarder of a target added after the start, when this
    /// queue spools.
    pub(super) fn forward_target(&self, target: TargetId) {
        if self.inner.spool.is_some() {
            tokio::spawn(self.clone().forward(target));
        }
    }

    /// Forwards `target`'s spooled jobs to the broker, until stopped.
    async fn forward(self, target: TargetId) {
        let Some(spool) = &self.inner.spool else {
            return;
        };
        let stop = self.inner.stop.clone();
        let mut pause = Duration::from_millis(100);
        loop {
            let first = tokio::select! {
                () = stop.cancelled() => return,
                first = spool.store.next(&target, None) => first,
            };
            let Some(first) = first else { continue };
            let batch = self.gather(spool, &target, first).await;
            let jobs: Vec<Job> = batch.iter().map(|d| d.job.clone()).collect();
            let tags = batch.into_iter().map(|d| d.tag).collect::<Vec<_>>();
            match self.publish_direct(&jobs).await {
                Ok(()) => {
                    pause = Duration::from_millis(100);
                    let settled = Settlement {
                        ack: tags,
                        ..Settlement::default()
                    };
                    if let Err(error) = spool.store.settle(settled).await {
                        tracing::error!(%error, "cannot remove forwarded jobs from the spool; they will be forwarded again");
                    }
                    spool.resume_when_empty().await;
                }
                Err(error) => {
                    spool.store.release(&tags);
                    tracing::debug!(%error, ?pause, "cannot forward the spool yet");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(MAX_PAUSE);
                }
            }
        }
    }

    /// The first spooled job and those ready behind it, up to a batch.
    async fn gather(&self, spool: &Spool, target: &TargetId, first: Delivery) -> Vec<Delivery> {
        let mut batch = vec![first];
        while batch.len() < FORWARD_BATCH {
            match spool.store.next(target, Some(Instant::now())).await {
                Some(delivery) => batch.push(delivery),
                None => break,
            }
        }
        batch
    }

    /// How many jobs wait in the spool (0 without one).
    pub fn spooled(&self) -> usize {
        self.inner.spool.as_ref().map_or(0, Spool::held)
    }
}
