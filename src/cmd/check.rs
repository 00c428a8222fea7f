//! `purgehook check`: validate the configuration and print what it defines,
//! or every error found, each with its file and key path. Secrets are shown
//! by origin (`env:NAME`), never by value.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use crate::app::Prepared;
use crate::config::QueueBackendKind;

/// Prints the summary (stdout) or the errors (stderr).
pub fn run(config: &Path) -> anyhow::Result<ExitCode> {
    match super::prepare(config) {
        Ok(prepared) => {
            print!("{}", summary(&prepared));
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprintln!("{errors}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The human summary of a valid configuration.
pub fn summary(prepared: &Prepared) -> String {
    let s = &prepared.settings;
    let mut out = String::new();
    let _ = writeln!(out, "{} is valid.", s.origin.display());
    let _ = writeln!(
        out,
        "server: listens on {}, bodies up to {} bytes, {} API token(s)",
        s.server.listen,
        s.server.max_body_bytes,
        s.server.api_tokens.len()
    );
    let queue = match s.queue.backend {
        QueueBackendKind::Embedded => format!("embedded store in {}", s.queue.path.display()),
        QueueBackendKind::Amqp => format!(
            "RabbitMQ at {}, prefix {}, {} queues",
            crate::queue::amqp::display_host(&s.queue.url),
            s.queue.prefix,
            s.queue.queue_type.as_str()
        ),
    };
    let _ = writeln!(out, "queue: {queue}");
    let _ = writeln!(
        out,
        "worker: window {}, {} attempts, backoff {} up to {}, {}",
        humantime::format_duration(s.worker.window),
        s.worker.max_attempts,
        humantime::format_duration(s.worker.backoff),
        humantime::format_duration(s.worker.max_backoff),
        match s.worker.breaker_failures {
            0 => "no circuit breaker".to_string(),
            failures => format!(
                "breaker opens after {failures} failures for {}",
                humantime::format_duration(s.worker.breaker_cooldown)
            ),
        }
    );
    let _ = writeln!(out, "sources ({}):", s.sources.len());
    for (id, source) in &s.sources {
        let origins: Vec<&str> = source.secrets.iter().map(|x| x.origin()).collect();
        let _ = writeln!(
            out,
            "  {id}: {} at POST /hooks/{id}, secrets from {}",
            source.kind.as_str(),
            origins.join(", ")
        );
    }
    let _ = writeln!(out, "targets ({}):", s.targets.len());
    for (id, target) in &s.targets {
        let window = target.window.unwrap_or(s.worker.window);
        let rate = target
            .rate
            .map(|r| format!(", rate {r}"))
            .unwrap_or_default();
        let kinds: Vec<&str> = target
            .provider
            .capabilities()
            .kinds
            .iter()
            .map(|k| k.as_str())
            .collect();
        let _ = writeln!(
            out,
            "  {id}: {} ({}), window {}{rate}; accepts {}",
            target.provider.name(),
            target.provider.describe(),
            humantime::format_duration(window),
            kinds.join(", ")
        );
    }
    let _ = writeln!(out, "rules ({}):", s.rules.len());
    for rule in &s.rules {
        let targets: Vec<String> = rule
            .actions
            .iter()
            .filter_map(|a| a.get("target").and_then(|t| t.as_str()).map(str::to_string))
            .collect();
        let when = rule
            .when
            .as_deref()
            .map(|w| format!(" when {w}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:?}: {} events {:?}{when} -> {}",
            rule.name,
            rule.source,
            rule.event,
            targets.join(", ")
        );
    }
    out
}
