//! `purgehook purge`: queue one purge by hand against a deployment — for an
//! operator who knows what must go now. The action is checked against the
//! target's provider exactly like a rule's or an API request's.

use std::path::Path;
use std::process::ExitCode;

use anyhow::anyhow;

use super::deployment::Deployment;
use crate::job::{Action, Job};

/// What to purge, from the command line (exactly one kind is set; clap
/// enforces it).
#[derive(Debug, Default)]
pub struct PurgeArgs {
    /// The target id.
    pub target: String,
    /// `--everything`.
    pub everything: bool,
    /// `--url`.
    pub urls: Vec<String>,
    /// `--prefix`.
    pub prefixes: Vec<String>,
    /// `--tag`.
    pub tags: Vec<String>,
    /// `--post-id`.
    pub post_ids: Vec<u64>,
    /// `--related` (with `--post-id`).
    pub related: bool,
    /// `--scope`.
    pub scopes: Vec<String>,
    /// `--full` (with `--everything` or `--scope`).
    pub full: bool,
}

impl PurgeArgs {
    /// The action these arguments ask for.
    pub fn action(&self) -> Action {
        if self.everything {
            Action::Everything { full: self.full }
        } else if !self.urls.is_empty() {
            Action::Urls {
                urls: self.urls.clone(),
            }
        } else if !self.prefixes.is_empty() {
            Action::Prefixes {
                prefixes: self.prefixes.clone(),
            }
        } else if !self.tags.is_empty() {
            Action::Tags {
                tags: self.tags.clone(),
            }
        } else if !self.post_ids.is_empty() {
            Action::PostIds {
                post_ids: self.post_ids.clone(),
                related: self.related,
            }
        } else {
            Action::Scopes {
                scopes: self.scopes.clone(),
                full: self.full,
            }
        }
    }
}

/// Checks and queues the purge; prints the job id.
pub fn run(config: &Path, args: &PurgeArgs) -> anyhow::Result<ExitCode> {
    let prepared = match super::prepare_or_report(config) {
        Ok(prepared) => prepared,
        Err(code) => return Ok(code),
    };
    let settings = &prepared.settings;
    let target = settings.targets.get(&args.target).ok_or_else(|| {
        let known: Vec<&str> = settings.targets.keys().map(String::as_str).collect();
        anyhow!(
            "no target named {:?} is configured in {} (targets: {})",
            args.target,
            settings.origin.display(),
            known.join(", ")
        )
    })?;
    let action = args.action();
    target
        .provider
        .capabilities()
        .accepts(&action)
        .map_err(|problem| anyhow!("target {:?}: {problem}", args.target))?;
    let job = Job::new(&args.target, action, None);
    let job_id = Deployment::run(settings, async |d| d.purge(&job).await)?;
    println!(
        "queued {} purge for target {} (job {job_id})",
        job.action.kind(),
        job.target
    );
    Ok(ExitCode::SUCCESS)
}
