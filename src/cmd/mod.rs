//! The command-line verbs, one module each. `main` parses arguments and
//! calls them; each returns the process's exit code.

pub mod action_args;
pub mod check;
mod columns;
pub mod deployment;
pub mod dlq;
pub mod health;
pub mod history;
pub mod purge;
pub mod route;
pub mod serve;
pub mod sign;

use std::path::Path;
use std::process::ExitCode;

use crate::app::Prepared;
use crate::config::{self, ConfigErrors};

/// Loads the configuration at `path` and builds what it defines.
pub fn prepare(path: &Path) -> Result<Prepared, ConfigErrors> {
    Prepared::new(config::load(path)?)
}

/// [`prepare`], printing every error to stderr and giving the exit code
/// on failure.
pub fn prepare_or_report(path: &Path) -> Result<Prepared, ExitCode> {
    prepare(path).map_err(|errors| {
        eprintln!("{errors}");
        ExitCode::FAILURE
    })
}

/// Builds an [`Inbound`](crate::source::Inbound) from a file and `-H 'Name: value'` options.
pub fn inbound(file: &Path, headers: &[String]) -> anyhow::Result<crate::source::Inbound> {
    let body =
        std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let mut inbound = crate::source::Inbound {
        body,
        ..Default::default()
    };
    inbound
        .headers
        .insert("content-type".into(), "application/json".into());
    for header in headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("-H {header:?}: expected 'Name: value'"))?;
        inbound
            .headers
            .insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    Ok(inbound)
}
