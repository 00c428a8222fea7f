//! `purgehook purge`: queue one purge by hand against a deployment — for an
//! operator who knows what must go now. The action is checked against the
//! target's provider exactly like a rule's or an API request's.

use std::path::Path;
use std::process::ExitCode;

use anyhow::anyhow;

use super::deployment::Deployment;
use crate::action::Action;
use crate::job::{Job, TargetId};

/// Checks and queues the purge of `action` at `target`; prints the job id.
pub fn run(config: &Path, target: &str, action: Action) -> anyhow::Result<ExitCode> {
    let prepared = match super::prepare_or_report(config) {
        Ok(prepared) => prepared,
        Err(code) => return Ok(code),
    };
    let configured = TargetId::new(target)
        .ok()
        .and_then(|id| Some((prepared.targets.get(&id)?, id)));
    let Some((configured, target)) = configured else {
        let known: Vec<&str> = prepared.targets.keys().map(TargetId::as_str).collect();
        return Err(anyhow!(
            "no target named {target:?} is configured in {} (targets: {})",
            prepared.settings.origin.display(),
            known.join(", ")
        ));
    };
    configured
        .provider
        .capabilities
        .accepts(&action)
        .map_err(|problem| anyhow!("target {target:?}: {problem}"))?;
    let job = Job::new(target, action, None);
    let job_id = Deployment::run(&prepared.settings, async |d| {
        d.purge(&prepared.settings, &job).await
    })?;
    println!(
        "queued {} purge for target {} (job {job_id})",
        job.action.kind(),
        job.target
    );
    Ok(ExitCode::SUCCESS)
}
