//! When a target may call its provider next: a `governor` GCRA limiter for
//! the target's `rate` (N calls per period, in a burst of at most N), or,
//! when the target sets none, for the provider's documented limit on the
//! calls it applies to; and a floor set by a provider's `Retry-After`.
//!
//! Time is tokio's, so tests drive it with `tokio::time::pause`. Only the
//! target's own worker task takes slots, so a successful check is the slot
//! of the call about to be made.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

use crate::action::Action;
use crate::capability::DefaultRate;
use crate::units::Rate;

/// tokio's clock, as nanoseconds since the limiter was made.
#[derive(Debug, Clone, Copy)]
struct TokioClock {
    origin: Instant,
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.origin.elapsed())
    }
}

type Governor = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Nanos>>;

/// Which calls a limit applies to.
type AppliesTo = fn(&Action) -> bool;

/// The call limits of one target.
pub struct CallLimiter {
    origin: Instant,
    /// Applies to the calls `applies_to` accepts (all, for a target `rate`).
    governor: Option<(Governor, AppliesTo)>,
    /// No call before this (a provider's `Retry-After`).
    blocked_until: Instant,
}

fn every_call(_: &Action) -> bool {
    true
}

impl CallLimiter {
    /// Limits by the target's `rate` if set, else by the provider's
    /// documented limit if it has one, else not at all.
    pub fn new(rate: Option<Rate>, documented: Option<DefaultRate>) -> CallLimiter {
        let origin = Instant::now();
        let chosen = match (rate, documented) {
            (Some(rate), _) => Some((rate, every_call as AppliesTo)),
            (None, Some(documented)) => Some((documented.rate, documented.applies_to)),
            (None, None) => None,
        };
        let governor = chosen.map(|(rate, applies_to)| {
            let limiter = RateLimiter::direct_with_clock(quota(rate), TokioClock { origin });
            (limiter, applies_to)
        });
        CallLimiter {
            origin,
            governor,
            blocked_until: origin,
        }
    }

    /// Takes the slot of `call` if it may start now; otherwise says when to
    /// ask again, without taking anything.
    pub fn try_acquire(&self, call: &Action) -> Result<(), Instant> {
        let now = Instant::now();
        if self.blocked_until > now {
            return Err(self.blocked_until);
        }
        match &self.governor {
            Some((governor, applies_to)) if applies_to(call) => governor
                .check()
                .map_err(|not_until| self.origin + Duration::from(not_until.earliest_possible())),
            _ => Ok(()),
        }
    }

    /// Until when every call is held (now or earlier when none is).
    pub fn blocked_until(&self) -> Instant {
        self.blocked_until
    }

    /// Holds every call until `until` (a provider asked to wait).
    pub fn block_until(&mut self, until: Instant) {
        self.blocked_until = self.blocked_until.max(until);
    }
}

/// `N/period`: a burst of N, one more every period / N.
fn quota(rate: Rate) -> Quota {
    let calls = NonZeroU32::new(rate.calls.max(1)).unwrap_or(NonZeroU32::MIN);
    let interval = rate.interval().max(Duration::from_nanos(1));
    Quota::with_period(interval)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(calls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object_purge() -> Action {
        Action::Scopes {
            scopes: vec!["object".into()],
            full: false,
        }
    }

    fn rate(text: &str) -> Rate {
        text.parse().unwrap()
    }

    /// Takes slots as soon as they come for `span`, returning when each was taken.
    async fn calls_within(limiter: &CallLimiter, call: &Action, span: Duration) -> Vec<Duration> {
        let start = Instant::now();
        let mut taken = Vec::new();
        while start.elapsed() <= span {
            match limiter.try_acquire(call) {
                Ok(()) => taken.push(start.elapsed()),
                Err(at) => tokio::time::sleep_until(at).await,
            }
        }
        taken
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_allows_its_burst_then_spaces_the_calls() {
        let limiter = CallLimiter::new(Some(rate("3/30s")), None);
        let taken = calls_within(&limiter, &object_purge(), Duration::from_secs(60)).await;
        let secs: Vec<u64> = taken.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [0, 0, 0, 10, 20, 30, 40, 50, 60]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_check_takes_nothing() {
        let limiter = CallLimiter::new(Some(rate("1/5s")), None);
        assert!(limiter.try_acquire(&object_purge()).is_ok());
        let at = limiter.try_acquire(&object_purge()).unwrap_err();
        for _ in 0..10 {
            assert_eq!(limiter.try_acquire(&object_purge()), Err(at));
        }
        assert_eq!(at - Instant::now(), Duration::from_secs(5));
        tokio::time::sleep_until(at).await;
        assert!(limiter.try_acquire(&object_purge()).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_documented_limit_applies_only_to_its_calls_and_a_rate_replaces_it() {
        let documented = DefaultRate {
            rate: rate("1/60s"),
            applies_to: |a| matches!(a, Action::Scopes { scopes, .. } if scopes[0] == "object"),
        };
        let urls = Action::Urls {
            urls: vec!["https://example.com/".into()],
        };
        let limiter = CallLimiter::new(None, Some(documented));
        assert!(limiter.try_acquire(&object_purge()).is_ok());
        assert!(limiter.try_acquire(&object_purge()).is_err());
        assert!(limiter.try_acquire(&urls).is_ok());
        assert!(limiter.try_acquire(&urls).is_ok());

        let limiter = CallLimiter::new(Some(rate("1/5s")), Some(documented));
        assert!(limiter.try_acquire(&object_purge()).is_ok());
        let next = limiter.try_acquire(&urls).unwrap_err();
        assert_eq!(next - Instant::now(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_holds_every_call() {
        let mut limiter = CallLimiter::new(None, None);
        let until = Instant::now() + Duration::from_secs(120);
        limiter.block_until(until);
        limiter.block_until(Instant::now() + Duration::from_secs(1));
        assert_eq!(limiter.try_acquire(&object_purge()), Err(until));
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert_eq!(limiter.try_acquire(&object_purge()), Ok(()));
    }
}
