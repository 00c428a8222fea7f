//! `purgehook history (--url U | --event ID | --job ID | --target T)
//! [--since 1h] [--json]`: why was this purged? The purge history's
//! records, newest first — from the embedded store directly, or through
//! the running process's API when it holds the store.

use std::path::Path;
use std::process::ExitCode;

use super::deployment::Deployment;
use crate::history::{Query, Record};

/// Prints the records answering the query `pairs` make, as a table or JSON.
pub fn run<'a>(
    config: &Path,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let query = match Query::from_pairs(pairs) {
        Ok(query) => query,
        Err(bad) => {
            eprintln!("error: --{bad}");
            return Ok(ExitCode::from(2));
        }
    };
    let prepared = match super::prepare_or_report(config) {
        Ok(prepared) => prepared,
        Err(code) => return Ok(code),
    };
    let settings = &prepared.settings;
    let records = Deployment::run(settings, async |d| d.history(settings, &query).await)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&records)?);
    } else {
        print!("{}", table(&records));
    }
    Ok(ExitCode::SUCCESS)
}

/// The records as a human table.
pub fn table(records: &[Record]) -> String {
    if records.is_empty() {
        return "no history records match\n".into();
    }
    let header = [
        "TIME", "KIND", "SOURCE", "DELIVERY", "RULE", "JOB", "CALL", "TARGET", "OUTCOME", "WHAT",
    ];
    let dash = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".into());
    let rows: Vec<[String; 10]> = records
        .iter()
        .map(|r| {
            let job = match (&r.job, r.jobs.len()) {
                (Some(job), _) => job.clone(),
                (None, 0) => "-".into(),
                (None, 1) => r.jobs[0].clone(),
                (None, n) => format!("{} (+{})", r.jobs[0], n - 1),
            };
            let what = match (&r.action, &r.detail) {
                (Some(action), Some(detail)) => format!("{action}: {detail}"),
                (None, Some(detail)) if !r.urls.is_empty() => {
                    format!("{}: {detail}", r.urls.join(" "))
                }
                (Some(text), None) | (None, Some(text)) => text.clone(),
                (None, None) => r.urls.join(" "),
            };
            [
                r.at.to_string(),
                r.kind.as_str().to_string(),
                dash(&r.source),
                dash(&r.delivery),
                dash(&r.rule),
                job,
                dash(&r.call),
                dash(&r.target),
                r.outcome.clone(),
                what.replace('\n', " "),
            ]
        })
        .collect();
    super::columns::render(header, &rows)
}
