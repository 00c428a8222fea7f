//! Logging and metrics: a tracing subscriber writing pretty or JSON lines to
//! stderr, filtered by `RUST_LOG` or `[log] level` (lapin's own lines off
//! unless asked), each event kept to one escaped line ([`escape`]); a
//! [`Throttle`] for lines an attacker could repeat at will; and the
//! Prometheus counters, one function per event so their names and labels
//! live in one place. Labels only ever carry configured names or fixed
//! words, never a string a client chose. Each target's rate-limit slot is
//! published for the status page ([`rate_slot`]).

pub mod escape;
pub mod rate_slot;
pub mod trace;

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::{LogFormat, LogSettings};

/// Installs the subscriber once; later calls (tests) are no-ops.
pub fn init(settings: &LogSettings) {
    // lapin logs the broker errors that purgehook already reports, once,
    // where it handles them; RUST_LOG or an explicit `lapin=` level shows them.
    let level = if settings.level.contains("lapin") {
        settings.level.clone()
    } else {
        format!("{},lapin=off", settings.level)
    };
    // `[log] level` is checked when the configuration loads; a RUST_LOG that
    // does not parse is said, and the configured level used.
    let filter = match EnvFilter::try_from_default_env() {
        Ok(filter) => filter,
        Err(error) => {
            if std::env::var_os("RUST_LOG").is_some() {
                eprintln!("RUST_LOG is not a tracing filter ({error}); using [log] level");
            }
            EnvFilter::new(&level)
        }
    };
    // No colours: every escape character is escaped on the way out.
    let json = settings.format == LogFormat::Json;
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(escape::OneLine::new(std::io::stderr, json))
        .with_ansi(false);
    let lines = match settings.format {
        LogFormat::Json => lines.json().boxed(),
        LogFormat::Pretty => lines.compact().boxed(),
    };
    // Spans are for the traces: the log lines stay as they are.
    #[cfg(feature = "otel")]
    let lines = lines.with_filter(tracing_subscriber::filter::filter_fn(|meta| {
        meta.is_event()
    }));
    let subscriber = tracing_subscriber::registry().with(filter).with(lines);
    #[cfg(feature = "otel")]
    let subscriber = subscriber.with(trace::from_env());
    let _ = subscriber.try_init();
    #[cfg(feature = "otel")]
    if trace::exporting() {
        tracing::info!("exporting traces over OTLP/HTTP (OTEL_EXPORTER_OTLP_* variables)");
    }
}

static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's metrics registry (installed on first use), for `/metrics`.
pub fn metrics() -> PrometheusHandle {
    METRICS
        .get_or_init(|| {
            let recorder = HISTOGRAMS
                .iter()
                .fold(PrometheusBuilder::new(), |builder, (name, buckets)| {
                    builder
                        .set_buckets_for_metric(Matcher::Full((*name).to_string()), buckets)
                        .expect("bucket lists are not empty")
                })
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed; ours is then unused.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// The histograms and their buckets (seconds). Prometheus histograms, not
/// summaries: quantiles can then be taken across processes.
const HISTOGRAMS: [(&str, &[f64]); 3] = [
    (
        "purgehook_provider_call_duration_seconds",
        &[
            0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
        ],
    ),
    (
        "purgehook_publish_duration_seconds",
        &[
            0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
        ],
    ),
    (
        "purgehook_event_to_call_seconds",
        &[
            0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
        ],
    ),
];

/// Registers each target's series at zero (installing the registry), so
/// that a rate or an increase can be taken from the first event on: a
/// series born at 1 has no increase.
pub fn register_targets<'a>(targets: impl IntoIterator<Item = &'a str>) {
    let _ = metrics();
    for target in targets {
        for outcome in ["ok", "retry", "dead"] {
            counter!("purgehook_provider_calls_total", "target" => target.to_string(), "outcome" => outcome)
                .increment(0);
        }
        counter!("purgehook_dead_letters_total", "target" => target.to_string()).increment(0);
        counter!("purgehook_jobs_queued_total", "target" => target.to_string()).increment(0);
        gauge!("purgehook_breaker_open", "target" => target.to_string()).increment(0.0);
    }
}

/// Lets a kind of log line through at most once per period, and counts
/// the ones held back, so a flood of bad requests cannot flood the log.
#[derive(Debug)]
pub struct Throttle {
    period: Duration,
    kinds: Mutex<Vec<(&'static str, Instant, u64)>>,
}

impl Throttle {
    /// A throttle letting each kind through once per `period`.
    pub const fn new(period: Duration) -> Throttle {
        Throttle {
            period,
            kinds: Mutex::new(Vec::new()),
        }
    }

    /// Whether a line of `kind` may be written now: `Some(n)` with the
    /// number held back since the last one written, else `None`.
    pub fn admit(&self, kind: &'static str) -> Option<u64> {
        let now = Instant::now();
        let mut kinds = self.kinds.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(slot) = kinds.iter_mut().find(|(k, ..)| *k == kind) else {
            kinds.push((kind, now, 0));
            return Some(0);
        };
        if now.duration_since(slot.1) < self.period {
            slot.2 += 1;
            return None;
        }
        let held_back = slot.2;
        *slot = (kind, now, 0);
        Some(held_back)
    }
}

/// A webhook was answered: `outcome` is `accepted`, `ping`, `ignored`, or
/// the error code it was refused with. `source` is a configured source's
/// id, or `unknown` for every name that is not one.
pub fn webhook(source: &str, outcome: &'static str) {
    counter!("purgehook_webhooks_total", "source" => source.to_string(), "outcome" => outcome)
        .increment(1);
}

/// Jobs were durably queued for `target`.
pub fn jobs_queued(target: &str, count: u64) {
    counter!("purgehook_jobs_queued_total", "target" => target.to_string()).increment(count);
}

/// A provider call ended after `took`: `outcome` is `ok`, `retry` or
/// `dead` (a call that failed for good dead-letters its job).
pub fn provider_call(target: &str, outcome: &'static str, took: Duration) {
    counter!("purgehook_provider_calls_total", "target" => target.to_string(), "outcome" => outcome)
        .increment(1);
    histogram!("purgehook_provider_call_duration_seconds", "target" => target.to_string(), "outcome" => outcome)
        .record(took.as_secs_f64());
}

/// A job was dead-lettered for `target` (a configured target, or
/// `unroutable` for a message that named none).
pub fn dead_letter(target: &str) {
    counter!("purgehook_dead_letters_total", "target" => target.to_string()).increment(1);
}

/// Storing the jobs of one request in the queue took `took` (`backend`:
/// `embedded` or `amqp`, spooled or not).
pub fn published(backend: &'static str, took: Duration) {
    histogram!("purgehook_publish_duration_seconds", "backend" => backend)
        .record(took.as_secs_f64());
}

/// A provider call for `target` started `since` after its job was made
/// (the webhook, the API request or the producer's message).
pub fn event_to_call(target: &str, since: Duration) {
    histogram!("purgehook_event_to_call_seconds", "target" => target.to_string())
        .record(since.as_secs_f64());
}

/// Whether the queue can take jobs now (1) or not (0), as `/readyz` says.
pub fn queue_ready(ready: bool) {
    gauge!("purgehook_queue_ready").set(if ready { 1.0 } else { 0.0 });
}

/// Jobs were merged into one batch for `target`.
pub fn batch(target: &str, jobs: usize) {
    counter!("purgehook_batches_total", "target" => target.to_string()).increment(1);
    counter!("purgehook_batched_jobs_total", "target" => target.to_string()).increment(jobs as u64);
}

/// A queued message was not a valid job (or reached no target) and was
/// dead-lettered.
pub fn invalid_message() {
    counter!("purgehook_invalid_messages_total").increment(1);
}

/// `target`'s circuit breaker opened (its provider kept failing) or closed.
pub fn breaker_open(target: &str, open: bool) {
    let state = if open { 1.0 } else { 0.0 };
    gauge!("purgehook_breaker_open", "target" => target.to_string()).set(state);
    if open {
        counter!("purgehook_breaker_opened_total", "target" => target.to_string()).increment(1);
    }
}

/// A purged URL was checked: `outcome` is `fresh`, `stale`, `unknown` or
/// `error`.
pub fn purge_verified(target: &str, outcome: &'static str) {
    counter!("purgehook_purges_verified_total", "target" => target.to_string(), "outcome" => outcome)
        .increment(1);
}

/// URLs were still stale after `verify_retries` re-purges.
pub fn still_stale(target: &str, urls: usize) {
    counter!("purgehook_purges_still_stale_total", "target" => target.to_string())
        .increment(urls as u64);
}

/// A batch over `escalate_after` URLs became one broader purge.
pub fn escalation(target: &str) {
    counter!("purgehook_escalations_total", "target" => target.to_string()).increment(1);
}

/// History records dropped because the writer's buffer was full
/// (`reason` = `full`) or the store refused them (`reason` = `store`).
pub fn history_dropped(reason: &'static str, records: u64) {
    counter!("purgehook_history_dropped_total", "reason" => reason).increment(records);
}

/// A warming request ended: `outcome` is `ok` or `error`.
pub fn warm_request(target: &str, outcome: &'static str) {
    counter!("purgehook_warm_requests_total", "target" => target.to_string(), "outcome" => outcome)
        .increment(1);
}

/// Shows the counters of what `target` does after and instead of purges
/// at 0 from the start, so that dashboards and alerts see them before the
/// first event.
pub fn follow_ups_enabled(target: &str, verify: bool, warm: bool, escalate: bool) {
    let target = target.to_string();
    if verify {
        for outcome in ["fresh", "stale", "unknown", "error"] {
            counter!("purgehook_purges_verified_total", "target" => target.clone(), "outcome" => outcome)
                .increment(0);
        }
        counter!("purgehook_purges_still_stale_total", "target" => target.clone()).increment(0);
    }
    if warm {
        for outcome in ["ok", "error"] {
            counter!("purgehook_warm_requests_total", "target" => target.clone(), "outcome" => outcome)
                .increment(0);
        }
    }
    if escalate {
        counter!("purgehook_escalations_total", "target" => target).increment(0);
    }
}

/// An API request came without a valid bearer token.
pub fn api_auth_failure() {
    counter!("purgehook_api_auth_failures_total").increment(1);
}

/// A request was refused for a limit before it was read: `reason` is
/// `client_busy` (its address had too many requests in progress),
/// `client_connections` (too many connections open: closed unanswered) or
/// `api_locked_out` (its address failed to authenticate too often).
pub fn limited(reason: &'static str) {
    counter!("purgehook_requests_limited_total", "reason" => reason).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_lets_one_line_per_period_through_and_counts_the_rest() {
        let throttle = Throttle::new(Duration::from_secs(3600));
        assert_eq!(throttle.admit("a"), Some(0));
        assert_eq!(throttle.admit("a"), None);
        assert_eq!(throttle.admit("a"), None);
        assert_eq!(throttle.admit("b"), Some(0), "kinds are apart");
        let open = Throttle::new(Duration::ZERO);
        assert_eq!(open.admit("a"), Some(0));
        assert_eq!(open.admit("a"), Some(0));
    }
}
