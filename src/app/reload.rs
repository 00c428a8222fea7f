//! Reloading the configuration without a restart (SIGHUP, or
//! [`Reloader::reload`]): the new file is read and checked as at start-up;
//! an invalid one is refused with a log line saying why, and the running
//! configuration stays in force. A valid one replaces the receiver's
//! sources, rules, targets and API tokens for every request that starts
//! from then on, declares the new targets' queues, and restaffs the
//! workers (a target whose settings are unchanged keeps its worker — and
//! its rate-limit slot, breaker and batch). Settings that only a restart
//! can apply (`[server]` but its `api_tokens`, `[queue]`, `[dedupe]`,
//! `[log]`, `[worker] listen` and `max_batch`) are said, and left as
//! they were.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use tokio::sync::Mutex;

use super::{Prepared, Target};
use crate::config::{self, ConfigErrors, Loaded, Settings, WorkerSettings};
use crate::job::TargetId;
use crate::queue::Queue;
use crate::receiver::{LiveRouting, Routing};
use crate::rules::RuleSet;
use crate::secret::Secret;
use crate::source::Source;
use crate::worker::{Changes, Crew, Staffed};

/// What a reload changed.
#[derive(Debug)]
pub struct Reloaded {
    /// The workers started, replaced, retired and kept (none on a receiver).
    pub workers: Changes,
    /// The settings that changed but need a restart, by section.
    pub need_restart: Vec<&'static str>,
}

/// Reloads the configuration of a running [`Application`](super::Application);
/// cheap to clone.
#[derive(Clone)]
pub struct Reloader {
    inner: Arc<Inner>,
}

struct Inner {
    queue: Queue,
    routing: Option<LiveRouting>,
    /// The settings in force and the workers; one reload at a time.
    state: Mutex<State>,
}

struct State {
    settings: Settings,
    crew: Option<Crew>,
}

impl Reloader {
    pub(super) fn new(queue: Queue, routing: Option<LiveRouting>, settings: Settings) -> Reloader {
        Reloader {
            inner: Arc::new(Inner {
                queue,
                routing,
                state: Mutex::new(State {
                    settings,
                    crew: None,
                }),
            }),
        }
    }

    /// Hands the running workers to the reloader, which restaffs them.
    pub(super) async fn set_crew(&self, crew: Crew) {
        self.inner.state.lock().await.crew = Some(crew);
    }

    /// Reloads the configuration file on every SIGHUP, until `stop`.
    pub(super) fn on_hangup(&self, stop: tokio_util::sync::CancellationToken) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut hangups = match signal(SignalKind::hangup()) {
                Ok(hangups) => hangups,
                Err(error) => {
                    tracing::warn!(%error, "cannot watch SIGHUP; reloading is off");
                    return;
                }
            };
            let reloader = self.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        hangup = hangups.recv() => match hangup {
                            Some(()) => reloader.reload_file().await,
                            None => return,
                        },
                    }
                }
            });
        }
        #[cfg(not(unix))]
        let _ = stop;
    }

    /// The file the configuration in force came from.
    pub async fn file(&self) -> PathBuf {
        self.inner.state.lock().await.settings.origin.clone()
    }

    /// Reads the configuration file again and applies it, logging the
    /// outcome (what SIGHUP does).
    pub async fn reload_file(&self) {
        let file = self.file().await;
        tracing::info!(file = %file.display(), "reloading the configuration");
        let loaded = {
            let file = file.clone();
            tokio::task::spawn_blocking(move || config::load(&file)).await
        };
        let result = match loaded {
            Ok(loaded) => loaded,
            Err(panicked) => Err(ConfigErrors::whole_file(&file, panicked.to_string())),
        };
        let _ = match result {
            Ok(loaded) => self.reload(loaded).await,
            Err(errors) => Err(self.refused(errors)),
        };
    }

    /// Applies `loaded` if it is valid, logging the outcome.
    pub async fn reload(&self, loaded: Loaded) -> Result<Reloaded, ConfigErrors> {
        let prepared = match tokio::task::spawn_blocking(move || Prepared::new(loaded)).await {
            Ok(Ok(prepared)) => prepared,
            Ok(Err(errors)) => return Err(self.refused(errors)),
            Err(panicked) => {
                let file = self.file().await;
                return Err(self.refused(ConfigErrors::whole_file(&file, panicked.to_string())));
            }
        };
        let mut prepared = prepared;
        let mut state = self.inner.state.lock().await;
        let need_restart = need_restart(&state.settings, &prepared.settings);
        if !need_restart.is_empty() {
            tracing::warn!(
                sections = %need_restart.join(", "),
                "these settings changed but take effect only after a restart; the running ones stay"
            );
        }
        keep_restart_only(&state.settings, &mut prepared.settings);
        let targets: Vec<TargetId> = prepared.targets.keys().cloned().collect();
        crate::telemetry::register_targets(targets.iter().map(TargetId::as_str));
        self.inner.queue.add_targets(&targets).await;
        let staffed = staffed(&prepared);
        let (sources, rules) = (prepared.sources.len(), prepared.rules.len());
        if let Some(routing) = &self.inner.routing {
            let tokens = prepared.settings.server.api_tokens.clone();
            routing.replace(self::routing(
                &prepared.targets,
                prepared.sources,
                prepared.rules,
                tokens,
            ));
        }
        let workers = match &mut state.crew {
            Some(crew) => crew.staff(staffed),
            None => Changes::default(),
        };
        tracing::info!(
            sources,
            targets = targets.len(),
            rules,
            started = ?workers.started,
            replaced = ?workers.replaced,
            retired = ?workers.retired,
            "configuration reloaded"
        );
        state.settings = prepared.settings;
        Ok(Reloaded {
            workers,
            need_restart,
        })
    }

    fn refused(&self, errors: ConfigErrors) -> ConfigErrors {
        tracing::error!(
            %errors,
            "configuration not reloaded: the new one is invalid; the running one stays in force"
        );
        errors
    }
}

/// Each target's worker with the fingerprint of its configuration: its
/// table (values included: a changed URL or credential reference restarts
/// it) and the `[worker]` defaults. Held in memory, never shown.
/// The receiver's routing for a configuration's targets, sources, rules
/// and API tokens.
pub(super) fn routing(
    targets: &BTreeMap<TargetId, Target>,
    sources: BTreeMap<String, Source>,
    rules: RuleSet,
    api_tokens: Vec<Secret>,
) -> Routing {
    Routing {
        targets: super::capabilities(targets),
        rates: (targets.iter())
            .filter_map(|(id, target)| Some((id.clone(), target.settings.rate?)))
            .collect(),
        sources,
        rules,
        api_tokens,
    }
}

pub(super) fn staffed(prepared: &Prepared) -> Vec<Staffed> {
    prepared
        .workers()
        .into_iter()
        .map(|worker| {
            let fingerprint = match prepared.targets.get(&worker.target) {
                Some(target) => fingerprint(target, &prepared.settings.worker),
                None => String::new(),
            };
            Staffed {
                worker,
                fingerprint,
            }
        })
        .collect()
}

fn fingerprint(target: &Target, worker: &WorkerSettings) -> String {
    let text = format!(
        "{:?}|{}|{worker:?}",
        target.settings, target.settings.options.table
    );
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The sections (or keys) that changed from `running` to `new` but only a
/// restart applies.
fn need_restart(running: &Settings, new: &Settings) -> Vec<&'static str> {
    let mut server = new.server.clone();
    server.api_tokens.clone_from(&running.server.api_tokens);
    let differs =
        |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}") != format!("{b:?}");
    [
        ("[server]", differs(&running.server, &server)),
        ("[queue]", differs(&running.queue, &new.queue)),
        ("[dedupe]", differs(&running.dedupe, &new.dedupe)),
        ("[log]", differs(&running.log, &new.log)),
        ("[history]", differs(&running.history, &new.history)),
        (
            "[worker] listen",
            running.worker.listen != new.worker.listen,
        ),
        (
            "[worker] max_batch",
            running.worker.max_batch != new.worker.max_batch,
        ),
    ]
    .into_iter()
    .filter_map(|(section, changed)| changed.then_some(section))
    .collect()
}

/// Puts back into `new` what only a restart applies, as it runs.
fn keep_restart_only(running: &Settings, new: &mut Settings) {
    let api_tokens = std::mem::take(&mut new.server.api_tokens);
    new.server = running.server.clone();
    new.server.api_tokens = api_tokens;
    new.queue = running.queue.clone();
    new.dedupe = running.dedupe.clone();
    new.log = running.log.clone();
    new.history = running.history.clone();
    new.worker.listen.clone_from(&running.worker.listen);
    new.worker.max_batch = running.worker.max_batch;
}
