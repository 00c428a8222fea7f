//! `purgehook health`: the container health check. GETs `/readyz` of the
//! running process — on `[server] listen`, or `--url` (a worker serves it
//! on `[worker] listen`) — and exits 0 on 200, 1 otherwise, saying why.
//! Reads the configuration file only for the address: no secret is
//! resolved, nothing is opened.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// How long the check may take.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Checks readiness; prints one line.
pub fn run(config: &Path, url: Option<&str>) -> anyhow::Result<ExitCode> {
    let url = match url {
        Some(url) => url.to_string(),
        None => format!("http://{}/readyz", local_address(&listen_of(config)?)),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let answer = runtime.block_on(async {
        let client = crate::provider::client()?;
        let response = client.get(&url).timeout(TIMEOUT).send().await?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        anyhow::Ok((status, body))
    });
    match answer {
        Ok((status, _)) if status.is_success() => {
            println!("ready: {url} answered {status}");
            Ok(ExitCode::SUCCESS)
        }
        Ok((status, body)) => {
            println!("not ready: {url} answered {status} {}", body.trim());
            Ok(ExitCode::FAILURE)
        }
        Err(error) => {
            println!("not ready: {url}: {error:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `[server] listen` of the file (and its override), or the default.
fn listen_of(config: &Path) -> anyhow::Result<String> {
    if let Ok(listen) = std::env::var("PURGEHOOK__SERVER__LISTEN") {
        return Ok(listen);
    }
    let text = std::fs::read_to_string(config)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", config.display()))?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not valid TOML: {e}", config.display()))?;
    Ok(table
        .get("server")
        .and_then(|server| server.get("listen"))
        .and_then(toml::Value::as_str)
        .unwrap_or(&crate::config::ServerSettings::default().listen)
        .to_string())
}

/// Where a local client reaches a listener: an unspecified address
/// (`0.0.0.0`, `[::]`) means this machine.
pub fn local_address(listen: &str) -> String {
    listen
        .replace("0.0.0.0:", "127.0.0.1:")
        .replace("[::]:", "[::1]:")
}
