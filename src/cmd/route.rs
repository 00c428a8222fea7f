//! `purgehook route`: the dry run. Normalizes a payload file as the source
//! would (no signature check), and prints the event, the rules that matched
//! and the jobs they make, as JSON. Nothing is queued.

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;

use crate::source::Received;

/// Arguments of `route`.
pub struct RouteArgs<'a> {
    /// The source id.
    pub source: &'a str,
    /// The event type, for schemes that carry it outside the payload.
    pub event: Option<&'a str>,
    /// Extra headers, `Name: value`.
    pub headers: &'a [String],
    /// The payload file.
    pub file: &'a Path,
}

/// Prints the dry run's JSON; exit 1 when the event cannot be routed.
pub fn run(config: &Path, args: RouteArgs<'_>) -> anyhow::Result<ExitCode> {
    let prepared = match super::prepare_or_report(config) {
        Ok(prepared) => prepared,
        Err(code) => return Ok(code),
    };
    let source = prepared.sources.get(args.source).ok_or_else(|| {
        anyhow::anyhow!(
            "no source {:?} in {}; defined: {}",
            args.source,
            config.display(),
            prepared
                .sources
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let inbound = super::inbound(args.file, args.headers)?;
    let event = match source.preview(inbound, args.event) {
        Ok(Received::Event(event)) => event,
        Ok(Received::Ping { event_type }) => {
            println!("{}", json!({"ping": event_type, "jobs": []}));
            return Ok(ExitCode::SUCCESS);
        }
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitCode::FAILURE);
        }
    };
    match prepared.rules.preview(&event) {
        Ok(routed) => {
            let output = json!({
                "event": {
                    "source": event.source,
                    "type": event.event_type,
                    "delivery_id": event.delivery_id,
                },
                "matched_rules": routed.matched_rules,
                "jobs": routed.jobs,
                "notes": routed.notes,
            });
            println!("{}", serde_json::to_string_pretty(&output)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("error: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}
