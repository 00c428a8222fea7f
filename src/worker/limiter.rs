//! When a target may call its provider next. A rate of N calls per period
//! (the target's `rate`, or, when it sets none, its provider's documented
//! limit on the calls it applies to) is kept as a sliding window over the
//! *ends* of the last N calls: a call starts only once the N-th last one
//! ended a period plus a small margin ago. A provider counting arrivals on
//! its own clock then never sees N + 1 calls within one period, however
//! long each call took and however its clock drifts from ours. A provider's
//! `Retry-After` holds every call until it has passed.
//!
//! Time is tokio's, so tests drive it with `tokio::time::pause`. Only the
//! target's own worker task calls, one call at a time.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::action::Action;
use crate::capability::DefaultRate;
use crate::units::Rate;

/// Which calls a limit applies to.
type AppliesTo = fn(&Action) -> bool;

fn every_call(_: &Action) -> bool {
    true
}

/// The margin added to a period: 2 % of it, between 50 ms and 1 s — more
/// than a provider's clock drifts from ours over one period, little enough
/// to cost nothing.
pub fn margin(period: Duration) -> Duration {
    (period / 50).clamp(Duration::from_millis(50), Duration::from_secs(1))
}

/// A rate and the ends of the last calls it counts.
struct Window {
    rate: Rate,
    applies_to: AppliesTo,
    ends: VecDeque<Instant>,
}

impl Window {
    /// When a call it counts may start: now while fewer than N calls are
    /// recorded, else a period and the margin after the N-th last ended.
    fn ready_at(&self) -> Option<Instant> {
        let calls = self.rate.calls as usize;
        if self.ends.len() < calls {
            return None;
        }
        let nth_last = self.ends[self.ends.len() - calls];
        Some(nth_last + self.rate.period + margin(self.rate.period))
    }
}

/// The call limits of one target.
pub struct CallLimiter {
    window: Option<Window>,
    /// No call before this (a provider's `Retry-After`).
    blocked_until: Instant,
}

impl CallLimiter {
    /// Limits by the target's `rate` if set, else by the provider's
    /// documented limit if it has one, else not at all.
    pub fn new(rate: Option<Rate>, documented: Option<DefaultRate>) -> CallLimiter {
        let chosen = match (rate, documented) {
            (Some(rate), _) => Some((rate, every_call as AppliesTo)),
            (None, Some(documented)) => Some((documented.rate, documented.applies_to)),
            (None, None) => None,
        };
        CallLimiter {
            window: chosen.map(|(rate, applies_to)| Window {
                rate,
                applies_to,
                ends: VecDeque::new(),
            }),
            blocked_until: Instant::now(),
        }
    }

    /// Whether `call` may start now; otherwise when to ask again.
    pub fn try_acquire(&self, call: &Action) -> Result<(), Instant> {
        let now = Instant::now();
        if self.blocked_until > now {
            return Err(self.blocked_until);
        }
        match &self.window {
            Some(window) if (window.applies_to)(call) => match window.ready_at() {
                Some(ready) if ready > now => Err(ready),
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// Records that `call` ended (well or not) now: it counts against the
    /// rate until a period and the margin have passed.
    pub fn record_end(&mut self, call: &Action) {
        if let Some(window) = &mut self.window
            && (window.applies_to)(call)
        {
            window.ends.push_back(Instant::now());
            while window.ends.len() > window.rate.calls as usize {
                window.ends.pop_front();
            }
        }
    }

    /// When the next call the rate counts may start (now or earlier when
    /// it may start at once), holds included.
    pub fn next_call_at(&self) -> Instant {
        let ready = self.window.as_ref().and_then(Window::ready_at);
        ready.map_or(self.blocked_until, |ready| ready.max(self.blocked_until))
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

#[cfg(test)]
#[path = "limiter_tests.rs"]
mod tests;
