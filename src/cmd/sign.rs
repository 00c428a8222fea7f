//! `purgehook sign`: the headers that make a file a validly signed delivery
//! for a source, signed exactly as its real sender signs — as header lines,
//! or as a complete curl command.

use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

/// Output format of `sign`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SignFormat {
    /// `Name: value` lines.
    Headers,
    /// A curl command that sends the file to the local receiver.
    Curl,
}

/// Arguments of `sign`.
pub struct SignArgs<'a> {
    /// The source id.
    pub source: &'a str,
    /// The event type, put where the source's sender puts it.
    pub event: Option<&'a str>,
    /// Output format.
    pub format: SignFormat,
    /// The payload file.
    pub file: &'a Path,
}

/// Prints the headers or the curl command.
pub fn run(config: &Path, args: SignArgs<'_>) -> anyhow::Result<ExitCode> {
    let prepared = match super::prepare_or_report(config) {
        Ok(prepared) => prepared,
        Err(code) => return Ok(code),
    };
    let source = prepared
        .sources
        .get(args.source)
        .ok_or_else(|| anyhow::anyhow!("no source {:?} in {}", args.source, config.display()))?;
    let body = std::fs::read(args.file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", args.file.display()))?;
    let signed = source.sign(&body, args.event, SystemTime::now())?;
    match args.format {
        SignFormat::Headers => {
            for (name, value) in signed.headers {
                println!("{name}: {value}");
            }
        }
        SignFormat::Curl => {
            let query: Vec<String> = signed
                .query
                .iter()
                .filter(|_| args.event.is_some())
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            let query = if query.is_empty() {
                String::new()
            } else {
                format!("?{}", query.join("&"))
            };
            let mut command = format!(
                "curl -sS -X POST 'http://{}/hooks/{}{query}'",
                prepared.settings.server.listen, args.source
            );
            for (name, value) in signed.headers {
                command.push_str(&format!(" -H '{name}: {value}'"));
            }
            command.push_str(&format!(" --data-binary @'{}'", args.file.display()));
            println!("{command}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
