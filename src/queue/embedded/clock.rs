//! The embedded store's clock, in which delays and expiries are kept.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// The store's clock: wall-clock milliseconds as of opening, advanced by
/// tokio's monotonic clock since. Delays stored on disk stay wall-clock
/// across restarts, and tests can drive them with paused time.
pub(super) struct StoreClock {
    opened_ms: u64,
    opened: Instant,
}

impl StoreClock {
    pub fn start() -> StoreClock {
        StoreClock {
            opened_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64,
            opened: Instant::now(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.opened_ms + self.opened.elapsed().as_millis() as u64
    }
}
