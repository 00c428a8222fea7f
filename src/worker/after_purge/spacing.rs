//! [`Spacing`]: the follow-up requests of a target spread evenly over a
//! rate's period (`5/s`: one every 200 ms), so that neither the cache nor
//! the origin sees a burst. (The provider calls' limiter lets N calls go
//! at once and then waits; here a steady trickle is the point.) Time is
//! tokio's, so tests drive it with `tokio::time::pause`.

use std::time::Duration;

use tokio::time::Instant;

use crate::units::Rate;

/// When the next request of a rate may start.
#[derive(Debug)]
pub(super) struct Spacing {
    interval: Duration,
    next: Option<Instant>,
}

impl Spacing {
    /// Requests at `rate`, evenly spaced.
    pub fn new(rate: Rate) -> Spacing {
        Spacing {
            interval: rate.interval(),
            next: None,
        }
    }

    /// Waits until the next request may start, and takes its turn.
    pub async fn ready(&mut self) {
        if let Some(next) = self.next {
            tokio::time::sleep_until(next).await;
        }
        self.next = Some(Instant::now() + self.interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_are_spread_evenly_over_the_period() {
        let mut spacing = Spacing::new("5/s".parse().unwrap());
        let start = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..6 {
            spacing.ready().await;
            starts.push(start.elapsed());
        }
        let expected: Vec<Duration> = (0..6).map(|i| Duration::from_millis(200 * i)).collect();
        assert_eq!(starts, expected);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_request_does_not_earn_a_burst_after_it() {
        let mut spacing = Spacing::new("2/s".parse().unwrap());
        spacing.ready().await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let start = Instant::now();
        spacing.ready().await;
        assert_eq!(start.elapsed(), Duration::ZERO, "overdue: at once");
        spacing.ready().await;
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(500),
            "then spaced again"
        );
    }
}
