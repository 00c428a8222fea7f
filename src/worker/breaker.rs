//! The circuit breaker of one target: after `failures` calls in a row fail
//! with a retryable error (a 5xx, a timeout, a 429), the target stops calling
//! its provider for a cooldown while its jobs keep merging; then one call
//! probes. A probe that succeeds closes the breaker; one that fails opens it
//! again for twice as long, up to a ceiling. Other targets have their own.

use std::time::Duration;

use tokio::time::Instant;

/// Breaker settings.
#[derive(Debug, Clone, Copy)]
pub struct BreakerPolicy {
    /// Failed calls in a row that open the breaker (0: never opens).
    pub failures: u32,
    /// First cooldown.
    pub cooldown: Duration,
    /// Longest cooldown.
    pub max_cooldown: Duration,
}

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through; this many failed in a row.
    Closed(u32),
    /// No call before `until`; the next one is a probe.
    Open {
        /// When the probe may go.
        until: Instant,
        /// The cooldown that opened it.
        cooldown: Duration,
    },
}

/// One target's breaker.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    policy: BreakerPolicy,
    state: BreakerState,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(policy: BreakerPolicy) -> CircuitBreaker {
        CircuitBreaker {
            policy,
            state: BreakerState::Closed(0),
        }
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// When the next call may start: now when closed, else the probe's time.
    pub fn ready_at(&self) -> Option<Instant> {
        match self.state {
            BreakerState::Closed(_) => None,
            BreakerState::Open { until, .. } => Some(until),
        }
    }

    /// A call succeeded (or failed for a reason that is not the provider's
    /// health, such as a validation error): the breaker closes.
    pub fn record_success(&mut self) {
        self.state = BreakerState::Closed(0);
    }

    /// A call failed with a retryable error. Returns the cooldown when this
    /// failure opened the breaker.
    pub fn record_failure(&mut self) -> Option<Duration> {
        let cooldown = match self.state {
            BreakerState::Closed(_) if self.policy.failures == 0 => return None,
            BreakerState::Closed(failed) if failed + 1 < self.policy.failures => {
                self.state = BreakerState::Closed(failed + 1);
                return None;
            }
            BreakerState::Closed(_) => self.policy.cooldown,
            // The probe failed.
            BreakerState::Open { cooldown, .. } => cooldown
                .saturating_mul(2)
                .min(self.policy.max_cooldown.max(self.policy.cooldown)),
        };
        self.state = BreakerState::Open {
            until: Instant::now() + cooldown,
            cooldown,
        };
        Some(cooldown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: BreakerPolicy = BreakerPolicy {
        failures: 3,
        cooldown: Duration::from_secs(30),
        max_cooldown: Duration::from_secs(100),
    };

    #[tokio::test(start_paused = true)]
    async fn opens_after_the_failures_in_a_row_and_probes_after_the_cooldown() {
        let mut breaker = CircuitBreaker::new(POLICY);
        assert_eq!(breaker.record_failure(), None);
        assert_eq!(breaker.record_failure(), None);
        assert_eq!(breaker.ready_at(), None);
        let start = Instant::now();
        assert_eq!(breaker.record_failure(), Some(Duration::from_secs(30)));
        assert_eq!(breaker.ready_at(), Some(start + Duration::from_secs(30)));

        tokio::time::sleep(Duration::from_secs(30)).await;
        // The probe fails: twice as long, then capped.
        assert_eq!(breaker.record_failure(), Some(Duration::from_secs(60)));
        assert_eq!(
            breaker.ready_at(),
            Some(start + Duration::from_secs(30 + 60))
        );
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(breaker.record_failure(), Some(Duration::from_secs(100)));

        // A successful probe closes it.
        tokio::time::sleep(Duration::from_secs(100)).await;
        breaker.record_success();
        assert_eq!(breaker.state(), BreakerState::Closed(0));
        assert_eq!(breaker.ready_at(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_resets_the_count() {
        let mut breaker = CircuitBreaker::new(POLICY);
        breaker.record_failure();
        breaker.record_failure();
        breaker.record_success();
        assert_eq!(breaker.record_failure(), None);
        assert_eq!(breaker.record_failure(), None);
        assert!(breaker.record_failure().is_some());
    }

    #[test]
    fn zero_failures_disables_it() {
        let mut breaker = CircuitBreaker::new(BreakerPolicy {
            failures: 0,
            ..POLICY
        });
        for _ in 0..100 {
            assert_eq!(breaker.record_failure(), None);
        }
    }
}
