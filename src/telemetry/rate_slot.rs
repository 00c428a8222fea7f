//! Each target's rate-limit slot as its worker last left it: when its next
//! call may start and until when a provider's `Retry-After` holds it. The
//! worker publishes both after every call and every hold; the status page
//! reads them. Process-wide, like the metrics: a receiver running without
//! workers knows none, and says so.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use metrics::gauge;

/// A target's slot, in unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// No call starts before this (the rate, a hold, the breaker's probe).
    pub next_call_at: i64,
    /// A provider's `Retry-After` holds every call until this.
    pub held_until: i64,
}

static SLOTS: Mutex<BTreeMap<String, Slot>> = Mutex::new(BTreeMap::new());

/// `target`'s worker says when its next call may start.
pub fn publish(target: &str, slot: Slot) {
    gauge!("purgehook_rate_limit_next_call_timestamp_seconds", "target" => target.to_string())
        .set(slot.next_call_at as f64 / 1000.0);
    SLOTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(target.to_string(), slot);
}

/// `target`'s slot, if a worker in this process published one.
pub fn get(target: &str) -> Option<Slot> {
    SLOTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(target)
        .copied()
}
