//! Logging: a tracing subscriber writing pretty or JSON lines to stderr,
//! filtered by `RUST_LOG` or `[log] level` (lapin's own lines off unless asked).

use std::io::IsTerminal as _;

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
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match settings.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}
