//! `purgehook check`: validate the configuration and print what it defines,
//! or every error found, each with its file and key path. Secrets are shown
//! by origin (`env:NAME`), never by value.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use crate::app::Prepared;
use crate::config::{QueueBackendKind, Settings};

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
    let mut out = String::new();
    settings(&mut out, &prepared.settings);
    sources(&mut out, prepared);
    targets(&mut out, prepared);
    rules(&mut out, &prepared.settings);
    out
}

fn settings(out: &mut String, s: &Settings) {
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
        QueueBackendKind::Amqp => {
            let hosts: Vec<String> = s
                .queue
                .urls
                .iter()
                .map(|url| crate::queue::amqp::display_host(url))
                .collect();
            let spool = if s.queue.spool {
                format!(
                    "receivers spool up to {} jobs in {}",
                    s.queue.spool_max,
                    s.queue.path.display()
                )
            } else {
                "no spool".into()
            };
            format!(
                "RabbitMQ at {}, prefix {}, {} queues, {spool}",
                hosts.join(", "),
                s.queue.prefix,
                s.queue.queue_type.as_str()
            )
        }
    };
    let _ = writeln!(out, "queue: {queue}");
    let breaker = match s.worker.breaker_failures {
        0 => "no circuit breaker".to_string(),
        failures => format!(
            "breaker opens after {failures} failures for {}",
            humantime::format_duration(s.worker.breaker_cooldown)
        ),
    };
    let listen = s
        .worker
        .listen
        .as_deref()
        .map(|address| format!(", worker processes serve /readyz on {address}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "worker: window {}, {} attempts, backoff {} up to {}, {breaker}{listen}",
        humantime::format_duration(s.worker.window),
        s.worker.max_attempts,
        humantime::format_duration(s.worker.backoff),
        humantime::format_duration(s.worker.max_backoff),
    );
}

fn sources(out: &mut String, prepared: &Prepared) {
    let _ = writeln!(out, "sources ({}):", prepared.sources.len());
    for (id, source) in &prepared.sources {
        let origins: Vec<&str> = source.secrets().iter().map(|x| x.origin()).collect();
        let _ = writeln!(
            out,
            "  {id}: {} at POST /hooks/{id}, secrets from {}",
            source.kind(),
            origins.join(", ")
        );
    }
}

fn targets(out: &mut String, prepared: &Prepared) {
    let worker = &prepared.settings.worker;
    let _ = writeln!(out, "targets ({}):", prepared.targets.len());
    for (id, target) in &prepared.targets {
        let window = target.settings.window.unwrap_or(worker.window);
        let rate = target
            .settings
            .rate
            .map(|r| format!(", rate {r}"))
            .unwrap_or_default();
        let capabilities = &target.provider.capabilities;
        let _ = writeln!(
            out,
            "  {id}: {} ({}), window {}{rate}{}; accepts {}",
            capabilities.provider,
            target.provider.provider.describe(),
            humantime::format_duration(window),
            target.settings.follow_up.describe(),
            capabilities.kind_names()
        );
    }
}

fn rules(out: &mut String, settings: &Settings) {
    let _ = writeln!(out, "rules ({}):", settings.rules.len());
    for rule in &settings.rules {
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
            rule.targets().join(", ")
        );
    }
}
