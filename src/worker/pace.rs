//! [`Pace`]: what paces one target's calls — its rate limits
//! ([`CallLimiter`]) and its circuit breaker — and how a call's outcome
//! moves them. After each call and each hold it publishes when the
//! target's next call may start ([`telemetry::rate_slot`]).

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::MAX_PAUSE;
use super::breaker::{BreakerPolicy, CircuitBreaker};
use super::limiter::CallLimiter;
use crate::action::Action;
use crate::capability::DefaultRate;
use crate::job::TargetId;
use crate::provider::ProviderError;
use crate::telemetry;
use crate::units::Rate;

/// What paces a target's calls: its rate limits and its circuit breaker.
pub(super) struct Pace {
    target: TargetId,
    limiter: CallLimiter,
    breaker: CircuitBreaker,
}

impl Pace {
    /// The pace of `target` with `rate` (or its provider's documented
    /// limit) and `breaker`; its slot is free.
    pub fn new(
        target: &TargetId,
        rate: Option<Rate>,
        documented: Option<DefaultRate>,
        breaker: BreakerPolicy,
    ) -> Pace {
        let pace = Pace {
            target: target.clone(),
            limiter: CallLimiter::new(rate, documented),
            breaker: CircuitBreaker::new(breaker),
        };
        pace.publish_slot();
        pace
    }

    /// Publishes when the next call may start (by the rate, a hold or the
    /// open breaker's probe), for the status page.
    fn publish_slot(&self) {
        let now = Instant::now();
        let unix_ms = |at: Instant| {
            let ahead = at.saturating_duration_since(now).as_millis();
            crate::job::now().as_millisecond() + i64::try_from(ahead).unwrap_or(i64::MAX / 2)
        };
        telemetry::rate_slot::publish(
            self.target.as_str(),
            telemetry::rate_slot::Slot {
                next_call_at: unix_ms(self.resume_at().max(self.limiter.next_call_at())),
                held_until: unix_ms(self.limiter.blocked_until()),
            },
        );
    }

    /// Takes the slot of `call` if it may start now, else says when it may.
    pub fn try_acquire(&self, call: &Action) -> Result<(), Instant> {
        match self.breaker.ready_at() {
            Some(probe_at) if probe_at > Instant::now() => Err(probe_at),
            _ => self.limiter.try_acquire(call),
        }
    }

    /// When calls may start again after a `Retry-After` or with the
    /// breaker open, taking nothing (for the calls queued again at a stop).
    pub fn resume_at(&self) -> Instant {
        let held = self.limiter.blocked_until();
        self.breaker
            .ready_at()
            .map_or(held, |probe| probe.max(held))
    }

    /// Waits for the slot of `call`; false if `stop` came first.
    pub async fn acquire(&self, call: &Action, stop: &CancellationToken) -> bool {
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

    /// A call ended (well or not): it counts against the rate from now.
    pub fn record_end(&mut self, call: &Action) {
        self.limiter.record_end(call);
        self.publish_slot();
    }

    /// A call went through: the provider is healthy, the breaker closes.
    pub fn record_success(&mut self, target: &TargetId) {
        let was_open = self.breaker.ready_at().is_some();
        if was_open {
            telemetry::breaker_open(target.as_str(), false);
            tracing::info!(target_id = %target, "provider answers again: calls resume");
        }
        self.breaker.record_success();
        if was_open {
            self.publish_slot();
        }
    }

    /// Accounts for a failed call: a `Retry-After` holds every call; a
    /// retryable failure counts towards opening the breaker; a permanent one
    /// (the request's fault) shows the provider is up.
    pub fn record_failure(&mut self, target: &TargetId, error: &ProviderError) {
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
            telemetry::breaker_open(target.as_str(), true);
            tracing::warn!(target_id = %target, ?cooldown, "provider keeps failing: calls paused, then one probe");
        }
        self.publish_slot();
    }
}
