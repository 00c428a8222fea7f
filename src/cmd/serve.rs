//! `purgehook serve`: the receiver and the workers in one process.

use std::path::Path;
use std::process::ExitCode;

use crate::app::Application;
use crate::shutdown::Shutdown;
use crate::telemetry;

/// Runs until Ctrl-C or SIGTERM.
pub fn run(config: &Path) -> anyhow::Result<ExitCode> {
    let prepared = match super::prepare_or_report(config) {
        Ok(prepared) => prepared,
        Err(code) => return Ok(code),
    };
    telemetry::init(&prepared.settings.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = Application::build(prepared)?;
        let shutdown = Shutdown::new();
        shutdown.on_signals();
        app.run_until_stopped(shutdown).await
    })?;
    Ok(ExitCode::SUCCESS)
}
