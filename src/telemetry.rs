//! Logging and metrics: a tracing subscriber writing pretty or JSON lines to
//! stderr, filtered by `RUST_LOG` or `[log] level` (lapin's own lines off
//! unless asked); and the Prometheus counters, one function per event so
//! their names and labels live in one place.

use std::io::IsTerminal as _;
use std::sync::OnceLock;

use metrics::{counter, gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use tracing_subscriber::EnvFilter;

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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match settings.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's metrics registry (installed on first use), for `/metrics`.
pub fn metrics() -> PrometheusHandle {
    METRICS
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed; ours is then unused.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// A webhook was answered: `outcome` is `accepted`, `ping`, `ignored`, or
/// the error code it was refused with.
pub fn webhook(source: &str, outcome: &'static str) {
    counter!("purgehook_webhooks_total", "source" => source.to_string(), "outcome" => outcome)
        .increment(1);
}

/// Jobs were durably queued for `target`.
pub fn jobs_queued(target: &str, count: u64) {
    counter!("purgehook_jobs_queued_total", "target" => target.to_string()).increment(count);
}

/// A provider call ended: `outcome` is `ok`, `retry` or `dead`.
pub fn provider_call(target: &str, outcome: &'static str) {
    counter!("purgehook_provider_calls_total", "target" => target.to_string(), "outcome" => outcome)
        .increment(1);
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
