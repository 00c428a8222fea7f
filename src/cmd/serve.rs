//! `purgehook serve`, `receiver` and `worker`: run the service, whole or in
//! halves (the halves need the amqp backend).

use std::path::Path;
use std::process::ExitCode;

use crate::app::{Application, Role};
use crate::shutdown::Shutdown;
use crate::telemetry;

/// Runs `role` until Ctrl-C or SIGTERM.
pub fn run(config: &Path, role: Role) -> anyhow::Result<ExitCode> {
    let prepared = match super::prepare_or_report(config) {
        Ok(prepared) => prepared,
        Err(code) => return Ok(code),
    };
    telemetry::init(&prepared.settings.log);
    raise_file_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let served = runtime.block_on(async move {
        let app = Application::build(prepared, role).await?;
        let shutdown = Shutdown::new();
        shutdown.on_signals();
        app.run_until_stopped(shutdown).await
    });
    // The spans still buffered (with the `otel` feature), whatever the end.
    telemetry::trace::shutdown();
    served?;
    Ok(ExitCode::SUCCESS)
}

/// Raises the soft limit of open files to the hard one: every connection
/// holds a descriptor, and the receiver bounds its connections below the
/// limit (`[server] max_connections`).
fn raise_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open-file limit"),
    }
}
