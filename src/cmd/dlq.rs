//! `purgehook dlq list` and `purgehook dlq replay`: see the jobs that failed
//! for good, and queue them again once the cause is fixed. Works on both
//! backends, while the service runs.

use std::path::Path;
use std::process::ExitCode;

use super::deployment::Deployment;
use crate::queue::{DeadLetter, ReplayFilter};

/// Prints the dead letters (of `target`, if given), as a table or JSON.
pub fn list(config: &Path, target: Option<&str>, as_json: bool) -> anyhow::Result<ExitCode> {
    let prepared = match super::prepare_or_report(config) {
        Ok(prepared) => prepared,
        Err(code) => return Ok(code),
    };
    let letters = Deployment::run(&prepared.settings, async |d| d.dead_letters().await)?;
    let letters: Vec<DeadLetter> = letters
        .into_iter()
        .filter(|l| target.is_none_or(|t| l.target == t))
        .collect();
    if as_json {
        println!("{}", serde_json::to_string_pretty(&letters)?);
    } else {
        print!("{}", table(&letters));
    }
    Ok(ExitCode::SUCCESS)
}

/// The dead letters as a human table.
pub fn table(letters: &[DeadLetter]) -> String {
    if letters.is_empty() {
        return "no dead letters\n".into();
    }
    let rows: Vec<[String; 6]> = letters
        .iter()
        .map(|l| {
            let action = match &l.job {
                Some(job) => format!("{} ×{}", job.action.kind(), job.action.item_count()),
                None => "(not a job)".into(),
            };
            [
                l.id.clone(),
                l.target.clone(),
                action,
                l.attempts.to_string(),
                l.dead_at
                    .map_or_else(|| "unknown".to_string(), |at| at.to_string()),
                l.reason.replace('\n', " "),
            ]
        })
        .collect();
    let header = ["ID", "TARGET", "ACTION", "ATTEMPTS", "DEAD AT", "REASON"];
    super::columns::render(header, &rows)
}

/// Queues again the dead letters picked by `target` and `id` (all when
/// neither is given). An id that matches nothing is an error.
pub fn replay(config: &Path, target: Option<&str>, id: Option<&str>) -> anyhow::Result<ExitCode> {
    let prepared = match super::prepare_or_report(config) {
        Ok(prepared) => prepared,
        Err(code) => return Ok(code),
    };
    let filter = ReplayFilter {
        target: target.map(str::to_string),
        id: id.map(str::to_string),
        configured: Some(prepared.settings.targets.keys().cloned().collect()),
    };
    let outcome = Deployment::run(&prepared.settings, async |d| d.replay(&filter).await)?;
    for letter in &outcome.skipped {
        let why = match &letter.job {
            Some(job) => format!("its target {:?} is not configured", job.target),
            None => format!("it holds no valid job ({})", letter.reason),
        };
        eprintln!("left {} ({}): {why}", letter.id, letter.target);
    }
    if outcome.replayed.is_empty() {
        if let Some(id) = id {
            // The id named nothing, or a letter that cannot be replayed.
            if outcome.skipped.is_empty() {
                eprintln!("error: no dead letter has id {id:?}");
            }
            return Ok(ExitCode::FAILURE);
        }
        let scope = target
            .map(|t| format!(" for target {t}"))
            .unwrap_or_default();
        println!("no dead letters to replay{scope}");
        return Ok(ExitCode::SUCCESS);
    }
    for letter in &outcome.replayed {
        println!("replayed {} ({})", letter.id, letter.target);
    }
    println!("{} dead letter(s) queued again", outcome.replayed.len());
    Ok(ExitCode::SUCCESS)
}

/// Deletes the dead letters picked by `id` (a letter's, or a job's its
/// letter covers) or `target`, or every one with `all`. An id that matches
/// nothing is an error.
pub fn delete(
    config: &Path,
    target: Option<&str>,
    id: Option<&str>,
    all: bool,
) -> anyhow::Result<ExitCode> {
    if target.is_none() && id.is_none() && !all {
        eprintln!("error: say which dead letters: --id ID, --target T, or --all");
        return Ok(ExitCode::from(2));
    }
    let prepared = match super::prepare_or_report(config) {
        Ok(prepared) => prepared,
        Err(code) => return Ok(code),
    };
    let filter = ReplayFilter {
        target: target.map(str::to_string),
        id: id.map(str::to_string),
        configured: None,
    };
    let deleted = Deployment::run(&prepared.settings, async |d| d.delete_dead(&filter).await)?;
    if deleted.is_empty() {
        if let Some(id) = id {
            eprintln!("error: no dead letter has id {id:?}");
            return Ok(ExitCode::FAILURE);
        }
        println!("no dead letters to delete");
        return Ok(ExitCode::SUCCESS);
    }
    for letter in &deleted {
        println!("deleted {} ({})", letter.id, letter.target);
    }
    println!("{} dead letter(s) deleted", deleted.len());
    Ok(ExitCode::SUCCESS)
}
