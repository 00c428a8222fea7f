//! The retry policy: what happens to a failed call, as a pure function of the
//! attempts made, the error and a random source. Exponential backoff with
//! full jitter (`backoff · 2^(attempt-1)`, capped at `max_backoff`, drawn
//! uniformly below that), at least what the provider's `Retry-After` asked,
//! and a dead letter once `max_attempts` are spent or the error is permanent.

use std::time::Duration;

use rand::Rng;

use crate::provider::ProviderError;

/// Retry settings of one target.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// First backoff ceiling.
    pub backoff: Duration,
    /// Largest backoff ceiling.
    pub max_backoff: Duration,
    /// Attempts before giving up (≥ 1).
    pub max_attempts: u32,
}

/// What to do with a failed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Try again after this delay.
    Retry(Duration),
    /// Give up, for this reason.
    Dead(String),
}

impl RetryPolicy {
    /// Decides after `attempts` attempts (≥ 1) ended with `error`.
    pub fn decide(&self, attempts: u32, error: &ProviderError, rng: &mut impl Rng) -> Decision {
        match error {
            ProviderError::Permanent { message } => return Decision::Dead(message.clone()),
            _ if attempts >= self.max_attempts => {
                let plural = if attempts == 1 { "" } else { "s" };
                return Decision::Dead(format!(
                    "gave up after {attempts} attempt{plural}: {error}"
                ));
            }
            _ => {}
        }
        let ceiling = self.ceiling(attempts);
        let jittered = Duration::from_millis(rng.random_range(0..=ceiling.as_millis() as u64));
        match error {
            ProviderError::RateLimited {
                retry_after: Some(asked),
                ..
            } => Decision::Retry(jittered.max(*asked)),
            _ => Decision::Retry(jittered),
        }
    }

    /// The backoff ceiling after `attempts` attempts.
    pub fn ceiling(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(32);
        self.backoff
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.max_backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const POLICY: RetryPolicy = RetryPolicy {
        backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(10),
        max_attempts: 4,
    };

    fn retryable() -> ProviderError {
        ProviderError::Retryable {
            message: "503".into(),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_below_it() {
        assert_eq!(POLICY.ceiling(1), Duration::from_secs(1));
        assert_eq!(POLICY.ceiling(3), Duration::from_secs(4));
        assert_eq!(POLICY.ceiling(30), Duration::from_secs(10));
        let mut rng = StdRng::seed_from_u64(7);
        let delays: Vec<Duration> = (0..200)
            .map(|_| match POLICY.decide(3, &retryable(), &mut rng) {
                Decision::Retry(d) => d,
                Decision::Dead(r) => panic!("dead: {r}"),
            })
            .collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(4)));
        assert!(
            delays.iter().any(|d| *d < Duration::from_secs(1)),
            "full jitter reaches low delays"
        );
        assert!(
            delays.iter().any(|d| *d > Duration::from_secs(3)),
            "and high ones"
        );
    }

    #[test]
    fn retry_after_is_a_floor() {
        let mut rng = StdRng::seed_from_u64(1);
        let limited = ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(60)),
            message: "429".into(),
        };
        assert_eq!(
            POLICY.decide(1, &limited, &mut rng),
            Decision::Retry(Duration::from_secs(60))
        );
    }

    #[test]
    fn permanent_errors_and_exhausted_attempts_are_dead() {
        let mut rng = StdRng::seed_from_u64(1);
        let permanent = ProviderError::Permanent {
            message: "401 Bad Credentials".into(),
        };
        assert_eq!(
            POLICY.decide(1, &permanent, &mut rng),
            Decision::Dead("401 Bad Credentials".into())
        );
        match POLICY.decide(4, &retryable(), &mut rng) {
            Decision::Dead(reason) => assert!(reason.contains("after 4 attempts")),
            other => panic!("expected dead, got {other:?}"),
        }
    }
}
