//! The worker: one task per target that collects the target's jobs for its
//! window (and while it waits for its rate-limit slot), merges them with the
//! [`coalesce`](coalesce::coalesce)r, calls the provider, and settles the
//! deliveries — acknowledged only once their calls succeeded, or once the
//! failed part was durably queued for retry or dead-lettered.

pub mod coalesce;
pub mod retry;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{Rate, Settings};
use crate::job::{Action, Job};
use crate::provider::{Capabilities, Provider, ProviderError};
use crate::queue::{Delivery, Queue, Settlement};
use crate::telemetry;
use retry::{Decision, RetryPolicy};

/// How one target's worker behaves.
#[derive(Clone)]
pub struct TargetWorker {
    /// The target id.
    pub target: String,
    /// Its provider adapter.
    pub provider: Arc<dyn Provider>,
    /// What the provider accepts and its per-call limits.
    pub capabilities: Capabilities,
    /// Coalescing window.
    pub window: Duration,
    /// Optional call rate.
    pub rate: Option<Rate>,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Most jobs per batch.
    pub max_batch: usize,
    /// How long a call may go on after a stop before it is cancelled.
    pub stop_grace: Duration,
}

impl TargetWorker {
    /// The worker of `target` as configured in `settings`.
    pub fn from_settings(
        settings: &Settings,
        target: &str,
        client: &reqwest::Client,
    ) -> Option<Self> {
        let config = settings.targets.get(target)?;
        Some(TargetWorker {
            target: target.to_string(),
            provider: config.provider.build(target, client),
            capabilities: config.provider.capabilities(),
            window: config.window.unwrap_or(settings.worker.window),
            rate: config.rate,
            retry: RetryPolicy {
                backoff: settings.worker.backoff,
                max_backoff: settings.worker.max_backoff,
                max_attempts: config
                    .max_attempts
                    .unwrap_or(settings.worker.max_attempts)
                    .max(1),
            },
            max_batch: settings.worker.max_batch.max(1),
            stop_grace: settings.worker.stop_grace,
        })
    }

    /// Runs until `stop` is cancelled. A batch being called when it is
    /// cancelled is finished and settled first; a batch still collecting is
    /// given back to the queue.
    pub async fn run(self, queue: Queue, stop: CancellationToken) {
        let mut slots = Slots::new();
        loop {
            let first = tokio::select! {
                () = stop.cancelled() => return,
                delivery = queue.next(&self.target, None) => delivery,
            };
            let Some(first) = first else { continue };
            let mut batch = vec![first];
            let close_at = (Instant::now() + self.window).max(slots.any);
            while batch.len() < self.max_batch {
                tokio::select! {
                    () = stop.cancelled() => {
                        queue.release(&batch.iter().map(|d| d.tag.clone()).collect::<Vec<_>>()).await;
                        return;
                    }
                    delivery = queue.next(&self.target, Some(close_at)) => match delivery {
                        Some(delivery) => batch.push(delivery),
                        None => break,
                    },
                }
            }
            slots = self.execute(&queue, batch, slots, &stop).await;
        }
    }

    /// The provider's documented limit, when the target sets no `rate`.
    fn default_rate(&self) -> Option<crate::provider::DefaultRate> {
        self.capabilities
            .default_rate
            .filter(|_| self.rate.is_none())
    }

    /// When `call` may start.
    fn slot_for(&self, call: &Action, slots: &Slots) -> Instant {
        match self.default_rate() {
            Some(limit) if (limit.applies_to)(call) => slots.any.max(slots.limited),
            _ => slots.any,
        }
    }

    /// Merges, calls and settles one batch; returns the next call slots. If
    /// `stop` is cancelled while waiting for a slot, or a call outlives the
    /// stop's grace period, the calls not done are queued again (same
    /// attempt) and the batch settled.
    async fn execute(
        &self,
        queue: &Queue,
        batch: Vec<Delivery>,
        mut slots: Slots,
        stop: &CancellationToken,
    ) -> Slots {
        let calls = coalesce::coalesce(batch.iter().map(|d| &d.job.action), &self.capabilities);
        let attempt = batch.iter().map(|d| d.job.attempt).max().unwrap_or(0);
        tracing::info!(
            target_id = %self.target,
            jobs = batch.len(),
            calls = calls.len(),
            "purging merged batch"
        );
        telemetry::batch(&self.target, batch.len());
        let mut settlement = Settlement {
            ack: batch.iter().map(|d| d.tag.clone()).collect(),
            ..Settlement::default()
        };
        let mut calls = calls.into_iter();
        while let Some(call) = calls.next() {
            let slot = self.slot_for(&call, &slots);
            let waited = tokio::select! {
                () = tokio::time::sleep_until(slot) => true,
                () = stop.cancelled() => false,
            };
            let result = if waited {
                // A stop lets the call finish within the grace period, then
                // cancels it: purges are idempotent, so it is simply redone.
                tokio::select! {
                    result = self.provider.purge(&call) => Some(result),
                    () = async {
                        stop.cancelled().await;
                        tokio::time::sleep(self.stop_grace).await;
                    } => None,
                }
            } else {
                None
            };
            let Some(result) = result else {
                let due = slot.saturating_duration_since(Instant::now());
                tracing::info!(target_id = %self.target, "stopping: the calls not done are queued again");
                for call in std::iter::once(call).chain(calls.by_ref()) {
                    settlement
                        .retry
                        .push((self.follow_up(&batch, call, attempt), due));
                }
                break;
            };
            if let Some(rate) = self.rate {
                slots.any = Instant::now() + rate.interval();
            }
            if let Some(limit) = self.default_rate().filter(|l| (l.applies_to)(&call)) {
                slots.limited = Instant::now() + limit.rate.interval();
            }
            let Err(error) = result else {
                telemetry::provider_call(&self.target, "ok");
                tracing::info!(target_id = %self.target, kind = %call.kind(), items = call.item_count(), "purged");
                continue;
            };
            if let ProviderError::RateLimited {
                retry_after: Some(wait),
                ..
            } = &error
            {
                slots.any = slots.any.max(Instant::now() + *wait);
            }
            let job = self.follow_up(&batch, call, attempt);
            match self.retry.decide(attempt + 1, &error, &mut rand::rng()) {
                Decision::Retry(delay) => {
                    telemetry::provider_call(&self.target, "retry");
                    tracing::warn!(target_id = %self.target, job_id = %job.id, %error, attempt = attempt + 1, ?delay, "purge failed; will retry");
                    let mut retried = job;
                    retried.attempt = attempt + 1;
                    settlement.retry.push((retried, delay));
                }
                Decision::Dead(reason) => {
                    telemetry::provider_call(&self.target, "dead");
                    tracing::error!(target_id = %self.target, job_id = %job.id, %reason, attempts = attempt + 1, "purge failed for good; dead-lettered");
                    settlement.dead.push((job, reason));
                }
            }
        }
        let tags = settlement.ack.clone();
        if let Err(error) = queue.settle(settlement).await {
            tracing::error!(target_id = %self.target, %error, "cannot settle batch; it will be redelivered");
            queue.release(&tags).await;
        }
        slots
    }

    /// The job that carries a failed call forward: the batch's single job
    /// when there was one, else a new job for the merged call.
    fn follow_up(&self, batch: &[Delivery], call: Action, attempt: u32) -> Job {
        let event = match batch {
            [only] => only.job.event.clone(),
            _ => None,
        };
        let mut job = match batch {
            [only] if only.job.action == call => only.job.clone(),
            _ => Job::new(&self.target, call, event),
        };
        job.attempt = attempt;
        job
    }
}

/// When the next calls of a target may start.
#[derive(Debug, Clone, Copy)]
struct Slots {
    /// Any call (the target's `rate`, or a provider's `Retry-After`).
    any: Instant,
    /// Calls under the provider's documented limit.
    limited: Instant,
}

impl Slots {
    fn new() -> Self {
        let now = Instant::now();
        Slots {
            any: now,
            limited: now,
        }
    }
}

/// Spawns one worker per configured target, and the queue's janitor, on `tracker`.
pub fn spawn_all(
    settings: &Settings,
    queue: &Queue,
    client: &reqwest::Client,
    tracker: &tokio_util::task::TaskTracker,
    stop: &CancellationToken,
) {
    for target in settings.targets.keys() {
        if let Some(worker) = TargetWorker::from_settings(settings, target, client) {
            tracker.spawn(worker.run(queue.clone(), stop.clone()));
        }
    }
    tracker.spawn(queue.clone().run_janitor(stop.clone()));
}
