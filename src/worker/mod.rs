//! The worker: one task per target that collects the target's jobs for its
//! window — no longer once the batch is full — and while it waits for its
//! rate-limit slot (`collect.rs`), merges them with the
//! [`coalesce`](coalesce::coalesce)r, calls the provider, and settles the
//! deliveries — acknowledged only once their calls succeeded, or once the
//! failed part was durably queued for retry or dead-lettered. A settlement
//! the queue refuses is tried again, its deliveries held: the batch is not
//! called twice (`settle.rs`). A batch over the target's `escalate_after`
//! URLs becomes one broader purge (`escalate.rs`); the URLs a batch purged
//! are handed to the target's verifier and warmer (`after_purge/`).

pub mod after_purge;
pub mod breaker;
pub mod coalesce;
mod collect;
mod crew;
pub mod escalate;
pub mod limiter;
mod pace;
mod record;
pub mod retry;
mod settle;
mod spans;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::action::Action;
use crate::capability::Capabilities;
use crate::job::{Job, TargetId};
use crate::provider::{Provider, ProviderError};
use crate::queue::{Delivery, Queue, Settlement};
use crate::telemetry;
use crate::telemetry::trace::trace_span;
use crate::units::Rate;
use after_purge::{AfterPurge, Handoff, PurgedUrl};
use breaker::BreakerPolicy;
pub use crew::{Changes, Crew, Staffed};
use escalate::Storm;
use pace::Pace;
use retry::{Decision, RetryPolicy};

/// The longest a target pauses its calls (a `Retry-After`, an open
/// breaker): its worker holds the jobs it collects meanwhile, and a broker
/// takes back deliveries held too long (RabbitMQ: 30 minutes by default).
pub const MAX_PAUSE: Duration = crate::provider::MAX_RETRY_AFTER;

/// How one target's worker behaves.
#[derive(Clone)]
pub struct TargetWorker {
    /// The target id.
    pub target: TargetId,
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
    /// Most jobs per batch; a full batch is called without waiting out its
    /// window.
    pub max_batch: usize,
    /// How long a call may go on after a stop before it is cancelled.
    pub stop_grace: Duration,
    /// When to stop calling a failing provider for a while.
    pub breaker: BreakerPolicy,
    /// How long a 429 without `Retry-After` holds the target's calls.
    pub rate_limited_wait: Duration,
    /// A batch with more URLs than this becomes one broader purge.
    pub escalate_after: Option<usize>,
    /// Verification and warming of the URLs purged, if any.
    pub after_purge: Option<AfterPurge>,
    /// The purge history, where each call is recorded.
    pub history: crate::history::History,
}

/// A merged batch's calls, and the storm it was, if it was one.
struct Plan {
    calls: Vec<Action>,
    storm: Option<Storm>,
}

/// Why the rest of a batch was not called now.
#[derive(Debug, Clone, Copy)]
enum Held {
    /// The worker is stopping.
    Stopping,
    /// The provider asked to wait, or the breaker opened.
    ProviderPaused,
}

impl TargetWorker {
    /// Runs until `stop` is cancelled. A batch being called when it is
    /// cancelled is finished (within `stop_grace`) and settled first; a
    /// batch still collecting is given back to the queue. The target's
    /// verifier and warmer, if any, run beside the batch loop and end with
    /// it.
    pub async fn run(self, queue: Queue, stop: CancellationToken) {
        let after = self.after_purge.as_ref();
        telemetry::follow_ups_enabled(
            self.target.as_str(),
            after.is_some_and(|a| a.verify.is_some()),
            after.is_some_and(|a| a.warm.is_some()),
            self.escalate_after.is_some(),
        );
        let (handoff, follow_ups) = match after {
            Some(after) => {
                let (handoff, tasks) = after.start(&self.target, (&queue, &self.history), &stop);
                (handoff, Some(tasks))
            }
            None => (Handoff::none(&self.target), None),
        };
        let follow_ups = async {
            if let Some(tasks) = follow_ups {
                tasks.await;
            }
        };
        tokio::join!(self.batches(queue, handoff, stop.clone()), follow_ups);
    }

    /// The batch loop: collect, merge, call, settle, until `stop`.
    async fn batches(&self, queue: Queue, handoff: Handoff, stop: CancellationToken) {
        let documented = self.capabilities.default_rate;
        let mut pace = Pace::new(&self.target, self.rate, documented, self.breaker);
        let mut storm_refusal_said = false;
        loop {
            let first = tokio::select! {
                () = stop.cancelled() => return,
                delivery = queue.next(&self.target, None) => delivery,
            };
            let Some(first) = first else { continue };
            let Some((batch, plan)) = self.collect(&queue, first, &pace, &stop).await else {
                return;
            };
            if let Some(storm) = &plan.storm {
                storm.say(
                    &self.target,
                    self.escalate_after.unwrap_or(0),
                    &mut storm_refusal_said,
                );
            }
            let (span, _jobs) = spans::for_batch(&self.target, &batch, plan.calls.len());
            let executing = self.execute(&queue, batch, plan, &mut pace, &stop);
            handoff.purged(executing.instrument(span).await);
        }
    }

    /// The calls that cover a batch: merged, then escalated if it is a storm.
    fn plan(&self, batch: &[Delivery]) -> Plan {
        let calls = coalesce::coalesce(batch.iter().map(|d| &d.job.action), &self.capabilities);
        match self.escalate_after {
            Some(after) => {
                let (calls, storm) = escalate::escalate(calls, &self.capabilities, after);
                Plan { calls, storm }
            }
            None => Plan { calls, storm: None },
        }
    }

    /// Calls and settles one batch, the first call's slot already taken;
    /// returns the URLs it purged.
    async fn execute(
        &self,
        queue: &Queue,
        batch: Vec<Delivery>,
        plan: Plan,
        pace: &mut Pace,
        stop: &CancellationToken,
    ) -> Vec<PurgedUrl> {
        tracing::info!(
            target_id = %self.target,
            jobs = batch.len(),
            calls = plan.calls.len(),
            "purging merged batch"
        );
        telemetry::batch(self.target.as_str(), batch.len());
        let mut settlement = Settlement {
            ack: batch.iter().map(|d| d.tag.clone()).collect(),
            ..Settlement::default()
        };
        let purged = self
            .call_all(&batch, plan, pace, stop, &mut settlement)
            .await;
        settle::settle(queue, &self.target, settlement, stop).await;
        purged
    }

    /// Makes the calls of a batch in turn. After a stop no new call starts,
    /// and a call in progress that outlives the stop's grace period is
    /// cancelled; after a `Retry-After` or with the breaker open, the next
    /// calls wait in the queue. Either way the calls not done are queued
    /// again (same attempt), due a window before calls resume, to be in the
    /// batch that goes out then. Returns the URLs the calls that succeeded
    /// purged.
    async fn call_all(
        &self,
        batch: &[Delivery],
        plan: Plan,
        pace: &mut Pace,
        stop: &CancellationToken,
        settlement: &mut Settlement,
    ) -> Vec<PurgedUrl> {
        let attempt = batch.iter().map(|d| d.job.attempt).max().unwrap_or(0);
        let mut purged = Vec::new();
        let mut calls = plan.calls.into_iter().enumerate();
        while let Some((index, call)) = calls.next() {
            let held = match index {
                0 => None,
                _ => self.wait_for_slot(&call, pace, stop).await,
            };
            if index == 0 && held.is_none() {
                self.observe_event_to_call(batch);
            }
            let started = Instant::now();
            let result = match held {
                Some(reason) => Err(reason),
                None => {
                    let result = self.call(&call, stop).await;
                    pace.record_end(&call);
                    result
                }
            };
            let took = started.elapsed();
            match result {
                Ok(Ok(())) => {
                    pace.record_success(&self.target);
                    telemetry::provider_call(self.target.as_str(), "ok", took);
                    tracing::info!(target_id = %self.target, kind = %call.kind(), items = call.item_count(), "purged");
                    let jobs = batch.iter().map(|d| &d.job);
                    let urls = after_purge::purged_urls(&call, plan.storm.as_ref(), jobs);
                    purged.extend(self.record_call(batch, &call, Ok(()), urls));
                }
                Ok(Err(error)) => {
                    pace.record_failure(&self.target, &error);
                    let job = self.follow_up(batch, error.retry_of(call.clone()), attempt);
                    let dead = self.settle_failure(job, &error, took, settlement);
                    self.record_call(batch, &call, Err((dead, &error)), Vec::new());
                }
                Err(reason) => {
                    tracing::info!(target_id = %self.target, ?reason, "the calls not done are queued again");
                    let due = pace
                        .resume_at()
                        .saturating_duration_since(Instant::now())
                        .saturating_sub(self.window);
                    for call in std::iter::once(call).chain(calls.by_ref().map(|(_, call)| call)) {
                        settlement
                            .retry
                            .push((self.follow_up(batch, call, attempt), due));
                    }
                    return purged;
                }
            }
        }
        purged
    }

    /// How long each job of a batch waited, from its event to this call.
    fn observe_event_to_call(&self, batch: &[Delivery]) {
        let now = crate::job::now();
        for delivery in batch {
            let waited = now.duration_since(delivery.job.created_at);
            if let Ok(waited) = Duration::try_from(waited) {
                telemetry::event_to_call(self.target.as_str(), waited);
            }
        }
    }

    /// One provider call. A stop lets a call in progress finish within the
    /// grace period, then cancels it: purges are idempotent, so it is
    /// simply redone.
    async fn call(
        &self,
        call: &Action,
        stop: &CancellationToken,
    ) -> Result<Result<(), ProviderError>, Held> {
        let span = trace_span!("provider call", target_id = %self.target, kind = %call.kind(), items = call.item_count());
        tokio::select! {
            result = self.provider.purge(call).instrument(span) => {
                Ok(result.map_err(|error| error.waiting_at_least(self.rate_limited_wait)))
            }
            () = async {
                stop.cancelled().await;
                tokio::time::sleep(self.stop_grace).await;
            } => Err(Held::Stopping),
        }
    }

    /// Retries or dead-letters the job of a failed call; true when dead.
    fn settle_failure(
        &self,
        job: Job,
        error: &ProviderError,
        took: Duration,
        settlement: &mut Settlement,
    ) -> bool {
        let attempt = job.attempt;
        match self.retry.decide(attempt + 1, error, &mut rand::rng()) {
            Decision::Retry(delay) => {
                telemetry::provider_call(self.target.as_str(), "retry", took);
                tracing::warn!(target_id = %self.target, job_id = %job.id, %error, attempt = attempt + 1, ?delay, "purge failed; will retry");
                let retried = Job {
                    attempt: attempt + 1,
                    ..job
                };
                settlement.retry.push((retried, delay));
                false
            }
            Decision::Dead(reason) => {
                telemetry::provider_call(self.target.as_str(), "dead", took);
                telemetry::dead_letter(self.target.as_str());
                tracing::error!(target_id = %self.target, job_id = %job.id, %reason, attempts = attempt + 1, "purge failed for good; dead-lettered");
                settlement.dead.push((job, reason));
                true
            }
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
    /// when there was one, else a new job for the merged call, which keeps
    /// the ids of the jobs it covers.
    fn follow_up(&self, batch: &[Delivery], call: Action, attempt: u32) -> Job {
        let event = match batch {
            [only] => only.job.event.clone(),
            _ => None,
        };
        let mut job = match batch {
            [only] if only.job.action == call => only.job.clone(),
            _ => Job {
                merged_from: covered(batch),
                repurge: batch.iter().map(|d| d.job.repurge).max().unwrap_or(0),
                ..Job::new(self.target.clone(), call, event)
            },
        };
        job.attempt = attempt;
        job
    }
}

/// The ids of the jobs a batch covers: each job's, and those it covers
/// itself (a job merged before), each once.
fn covered(batch: &[Delivery]) -> Vec<uuid::Uuid> {
    let mut ids = Vec::new();
    for job in batch.iter().map(|d| &d.job) {
        for id in std::iter::once(&job.id).chain(&job.merged_from) {
            if !ids.contains(id) {
                ids.push(*id);
            }
        }
    }
    ids
}

/// Spawns the workers, and the queue's janitor, on `tracker`.
pub fn spawn_all(
    workers: Vec<TargetWorker>,
    queue: &Queue,
    tracker: &tokio_util::task::TaskTracker,
    stop: &CancellationToken,
) {
    for worker in workers {
        tracker.spawn(worker.run(queue.clone(), stop.clone()));
    }
    tracker.spawn(queue.clone().run_janitor(stop.clone()));
}
