//! The worker: one task per target that collects the target's jobs for its
//! window (and while it waits for its rate-limit slot), merges them with the
//! [`coalesce`](coalesce::coalesce)r, calls the provider, and settles the
//! deliveries — acknowledged only once their calls succeeded, or once the
//! failed part was durably queued for retry or dead-lettered.

pub mod breaker;
pub mod coalesce;
pub mod limiter;
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
use breaker::{BreakerPolicy, CircuitBreaker};
use limiter::CallLimiter;
use retry::{Decision, RetryPolicy};

/// The longest a target pauses its calls (a `Retry-After`, an open
/// breaker): its worker holds the jobs it collects meanwhile, and a broker
/// takes back deliveries held too long (RabbitMQ: 30 minutes by default).
pub const MAX_PAUSE: Duration = crate::provider::MAX_RETRY_AFTER;

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
    /// When to stop calling a failing provider for a while.
    pub breaker: BreakerPolicy,
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
            breaker: BreakerPolicy {
                failures: settings.worker.breaker_failures,
                cooldown: settings.worker.breaker_cooldown.min(MAX_PAUSE),
                max_cooldown: settings.worker.max_backoff.min(MAX_PAUSE),
            },
        })
    }

    /// Runs until `stop` is cancelled. A batch being called when it is
    /// cancelled is finished (within `stop_grace`) and settled first; a
    /// batch still collecting is given back to the queue.
    pub async fn run(self, queue: Queue, stop: CancellationToken) {
        let mut pace = Pace {
            limiter: CallLimiter::new(self.rate, self.capabilities.default_rate),
            breaker: CircuitBreaker::new(self.breaker),
        };
        loop {
            let first = tokio::select! {
                () = stop.cancelled() => return,
                delivery = queue.next(&self.target, None) => delivery,
            };
            let Some(first) = first else { continue };
            let Some((batch, calls)) = self.collect(&queue, first, &pace, &stop).await else {
                return;
            };
            self.execute(&queue, batch, calls, &mut pace, &stop).await;
        }
    }

    /// Collects the target's jobs for its window, and on while the first
    /// call of the merged batch has to wait (for the rate limit, a
    /// `Retry-After` or the breaker), so that waiting merges jobs instead of
    /// piling up calls. Returns the batch and its calls, the first call's
    /// slot taken; `None` (the batch given back) when `stop` came first.
    async fn collect(
        &self,
        queue: &Queue,
        first: Delivery,
        pace: &Pace,
        stop: &CancellationToken,
    ) -> Option<(Vec<Delivery>, Vec<Action>)> {
        let mut batch = vec![first];
        let mut close_at = Instant::now() + self.window;
        loop {
            let full = batch.len() >= self.max_batch;
            let next = async {
                if full {
                    tokio::time::sleep_until(close_at).await;
                    None
                } else {
                    queue.next(&self.target, Some(close_at)).await
                }
            };
            tokio::select! {
                () = stop.cancelled() => {
                    queue.release(&batch.iter().map(|d| d.tag.clone()).collect::<Vec<_>>()).await;
                    return None;
                }
                delivery = next => match delivery {
                    Some(delivery) => {
                        batch.push(delivery);
                        continue;
                    }
                    None if Instant::now() < close_at => continue,
                    None => {}
                },
            }
            let calls = coalesce::coalesce(batch.iter().map(|d| &d.job.action), &self.capabilities);
            let Some(call) = calls.first() else {
                return Some((batch, calls));
            };
            match pace.try_acquire(call) {
                Ok(()) => return Some((batch, calls)),
                Err(ready_at) => close_at = ready_at,
            }
        }
    }

    /// Calls and settles one batch, the first call's slot already taken.
    /// After a stop no new call starts, and a call in progress that outlives
    /// the stop's grace period is cancelled; after a `Retry-After` or with
    /// the breaker open, the next calls wait in the queue. Either way the
    /// calls not done are queued again (same attempt) and the batch settled.
    async fn execute(
        &self,
        queue: &Queue,
        batch: Vec<Delivery>,
        calls: Vec<Action>,
        pace: &mut Pace,
        stop: &CancellationToken,
    ) {
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
        let mut calls = calls.into_iter().enumerate();
        while let Some((index, call)) = calls.next() {
            let held = if index == 0 {
                None
            } else {
                self.wait_for_slot(&call, pace, stop).await
            };
            // A stop lets a call in progress finish within the grace period,
            // then cancels it: purges are idempotent, so it is simply redone.
            let result = match held {
                Some(reason) => Err(reason),
                None => tokio::select! {
                    result = self.provider.purge(&call) => Ok(result),
                    () = async {
                        stop.cancelled().await;
                        tokio::time::sleep(self.stop_grace).await;
                    } => Err(Held::Stopping),
                },
            };
            let result = match result {
                Ok(result) => result,
                Err(reason) => {
                    tracing::info!(target_id = %self.target, ?reason, "the calls not done are queued again");
                    // Due a window before calls resume, to be in the batch
                    // that goes out then.
                    let due = pace
                        .resume_at()
                        .saturating_duration_since(Instant::now())
                        .saturating_sub(self.window);
                    for call in std::iter::once(call).chain(calls.by_ref().map(|(_, call)| call)) {
                        settlement
                            .retry
                            .push((self.follow_up(&batch, call, attempt), due));
                    }
                    break;
                }
            };
            let Err(error) = result else {
                pace.record_success(&self.target);
                telemetry::provider_call(&self.target, "ok");
                tracing::info!(target_id = %self.target, kind = %call.kind(), items = call.item_count(), "purged");
                continue;
            };
            pace.record_failure(&self.target, &error);
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
    }

    /// Waits for the rate-limit slot of a batch's next call. A stop, or a
    /// provider that asked to wait (`Retry-After`, an open breaker), ends the
    /// batch instead: its remaining calls go back to the queue, to merge with
    /// what comes meanwhile, rather than holding their deliveries.
    async fn wait_for_slot(
        &self,
        call: &Action,
        pace: &Pace,
        stop: &CancellationToken,
    ) -> Option<Held> {
        if stop.is_cancelled() {
            return Some(Held::Stopping);
        }
        if pace.resume_at() > Instant::now() {
            return Some(Held::ProviderPaused);
        }
        if pace.acquire(call, stop).await {
            None
        } else {
            Some(Held::Stopping)
        }
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

/// Why the rest of a batch was not called now.
#[derive(Debug, Clone, Copy)]
enum Held {
    /// The worker is stopping.
    Stopping,
    /// The provider asked to wait, or the breaker opened.
    ProviderPaused,
}

/// What paces a target's calls: its rate limits and its circuit breaker.
struct Pace {
    limiter: CallLimiter,
    breaker: CircuitBreaker,
}

impl Pace {
    /// Takes the slot of `call` if it may start now, else says when it may.
    fn try_acquire(&self, call: &Action) -> Result<(), Instant> {
        match self.breaker.ready_at() {
            Some(probe_at) if probe_at > Instant::now() => Err(probe_at),
            _ => self.limiter.try_acquire(call),
        }
    }

    /// When calls may start again after a `Retry-After` or with the
    /// breaker open, taking nothing (for the calls queued again at a stop).
    fn resume_at(&self) -> Instant {
        let held = self.limiter.blocked_until();
        self.breaker
            .ready_at()
            .map_or(held, |probe| probe.max(held))
    }

    /// Waits for the slot of `call`; false if `stop` came first.
    async fn acquire(&self, call: &Action, stop: &CancellationToken) -> bool {
        loop {
            match self.try_acquire(call) {
                Ok(()) => return true,
                Err(at) => tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = stop.cancelled() => return false,
                },
            }
        }
    }

    /// A call went through: the provider is healthy, the breaker closes.
    fn record_success(&mut self, target: &str) {
        if self.breaker.ready_at().is_some() {
            telemetry::breaker_open(target, false);
            tracing::info!(target_id = %target, "provider answers again: calls resume");
        }
        self.breaker.record_success();
    }

    /// Accounts for a failed call: a `Retry-After` holds every call; a
    /// retryable failure counts towards opening the breaker; a permanent one
    /// (the request's fault) shows the provider is up.
    fn record_failure(&mut self, target: &str, error: &ProviderError) {
        match error {
            ProviderError::Permanent { .. } => {
                self.record_success(target);
                return;
            }
            ProviderError::RateLimited {
                retry_after: Some(wait),
                ..
            } => self
                .limiter
                .block_until(Instant::now() + (*wait).min(MAX_PAUSE)),
            _ => {}
        }
        if let Some(cooldown) = self.breaker.record_failure() {
            telemetry::breaker_open(target, true);
            tracing::warn!(target_id = %target, ?cooldown, "provider keeps failing: calls paused, then one probe");
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
