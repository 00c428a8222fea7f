//! Building the whole service from [`Settings`]: [`Prepared`] checks and
//! builds everything a configuration defines — sources, providers (through
//! the provider registry), rules — reporting every problem at once (shared
//! by every command); [`Application`] opens the queue and, by [`Role`],
//! binds the receiver and runs the workers until its [`Shutdown`] triggers.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;

use actix_web::dev::Server;

use crate::action::ActionKind;
use crate::capability::Capabilities;
use crate::config::{
    ConfigErrors, FollowUpSettings, Loaded, Problems, QueueBackendKind, Settings, TargetSettings,
};
use crate::history::History;
use crate::job::TargetId;
use crate::provider::{self, Configured};
use crate::queue::{Connect, Queue};
use crate::receiver::{Limits, LiveRouting, OpsState, ReceiverState, ops_server, server};
use crate::rules::RuleSet;
use crate::shutdown::Shutdown;
use crate::source::{self, Source};
use crate::worker::after_purge::{AfterPurge, VerifyPolicy, WarmPolicy};
use crate::worker::breaker::BreakerPolicy;
use crate::worker::retry::RetryPolicy;
use crate::worker::{Crew, MAX_PAUSE, Staffed, TargetWorker};

mod reload;
pub use reload::{Reloaded, Reloader};

/// A configured target: its settings and its provider, built.
#[derive(Clone)]
pub struct Target {
    /// The common settings (window, rate, attempts).
    pub settings: TargetSettings,
    /// The provider.
    pub provider: Configured,
}

/// A configuration whose sources, providers and rules are built.
pub struct Prepared {
    /// The settings.
    pub settings: Settings,
    /// The sources, by id.
    pub sources: BTreeMap<String, Source>,
    /// The targets, by id.
    pub targets: BTreeMap<TargetId, Target>,
    /// The rules.
    pub rules: RuleSet,
    /// The client of the targets' verification and warming requests.
    pub probe_client: reqwest::Client,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let providers: BTreeMap<&TargetId, &str> = self
            .targets
            .iter()
            .map(|(id, target)| (id, target.provider.capabilities.provider))
            .collect();
        f.debug_struct("Prepared")
            .field("settings", &self.settings)
            .field("sources", &self.sources)
            .field("targets", &providers)
            .field("rules", &self.rules.len())
            .finish()
    }
}

impl Prepared {
    /// Builds sources, providers and rules from what was read, reporting
    /// every problem found by anyone.
    pub fn new(loaded: Loaded) -> Result<Prepared, ConfigErrors> {
        let Loaded {
            settings,
            mut problems,
        } = loaded;
        let clients = provider::client().and_then(|c| Ok((c, provider::probe_client()?)));
        let (client, probe_client) = match clients {
            Ok(clients) => clients,
            Err(error) => {
                problems.at("", format!("cannot set up the HTTP client: {error}"));
                return Err(problems.into_errors());
            }
        };
        let sources = source::build_all(&settings.sources, &mut problems);
        let mut targets = BTreeMap::new();
        for (id, target) in &settings.targets {
            let name = target.provider.as_deref();
            let configured =
                provider::registry::configure(id, name, &target.options, &client, &mut problems);
            if let Some(provider) = configured {
                check_follow_ups(id, target, &provider.capabilities, &mut problems);
                let settings = target.clone();
                targets.insert(id.clone(), Target { settings, provider });
            }
        }
        let source_ids: BTreeSet<String> = settings.sources.keys().cloned().collect();
        let rules = RuleSet::compile(
            &settings.rules,
            &source_ids,
            capabilities(&targets),
            &mut problems,
        );
        problems.finish(Prepared {
            settings,
            sources,
            targets,
            rules,
            probe_client,
        })
    }

    /// What each target accepts.
    pub fn capabilities(&self) -> BTreeMap<TargetId, Capabilities> {
        capabilities(&self.targets)
    }

    /// The worker of each target, as configured.
    pub fn workers(&self) -> Vec<TargetWorker> {
        let defaults = &self.settings.worker;
        self.targets
            .iter()
            .map(|(id, target)| TargetWorker {
                target: id.clone(),
                provider: target.provider.provider.clone(),
                capabilities: target.provider.capabilities,
                window: target.settings.window.unwrap_or(defaults.window),
                rate: target.settings.rate,
                retry: RetryPolicy {
                    backoff: defaults.backoff,
                    max_backoff: defaults.max_backoff,
                    max_attempts: target
                        .settings
                        .max_attempts
                        .unwrap_or(defaults.max_attempts)
                        .max(1),
                },
                max_batch: defaults.max_batch,
                stop_grace: defaults.stop_grace,
                breaker: BreakerPolicy {
                    failures: defaults.breaker_failures,
                    cooldown: defaults.breaker_cooldown.min(MAX_PAUSE),
                    max_cooldown: defaults.max_backoff.min(MAX_PAUSE),
                },
                rate_limited_wait: target
                    .settings
                    .rate
                    .map_or(defaults.rate_limited_wait, |rate| rate.period)
                    .min(MAX_PAUSE),
                escalate_after: target.settings.follow_up.escalate_after,
                after_purge: after_purge(&target.settings.follow_up, &self.probe_client),
                history: crate::history::History::off(),
            })
            .collect()
    }
}

/// What a target does after a URL purge, if anything.
fn after_purge(settings: &FollowUpSettings, client: &reqwest::Client) -> Option<AfterPurge> {
    if !settings.verify && !settings.warm {
        return None;
    }
    Some(AfterPurge {
        client: client.clone(),
        delay: settings.verify_delay,
        max_urls: settings.verify_max,
        verify: settings.verify.then_some(VerifyPolicy {
            rate: settings.verify_rate,
            retries: settings.verify_retries,
        }),
        warm: settings.warm.then_some(WarmPolicy {
            rate: settings.warm_rate,
        }),
    })
}

/// Checks that a target's provider can do what its follow-up keys ask:
/// verification and warming follow URL purges; escalation needs a broader
/// purge (prefixes or everything).
fn check_follow_ups(
    id: &TargetId,
    target: &TargetSettings,
    caps: &Capabilities,
    problems: &mut Problems,
) {
    let follow_up = &target.follow_up;
    let provider = caps.provider;
    for (key, on) in [("verify", follow_up.verify), ("warm", follow_up.warm)] {
        if on && !caps.supports(ActionKind::Urls) {
            problems.at(
                format!("targets.{id}.{key}"),
                format!("the {provider} provider purges no URLs, so there is nothing to {key}; it takes {}", caps.kind_names()),
            );
        }
    }
    let broader = caps.supports(ActionKind::Prefixes) || caps.supports(ActionKind::Everything);
    if follow_up.escalate_after.is_some() && !broader {
        problems.at(
            format!("targets.{id}.escalate_after"),
            format!(
                "the {provider} provider takes neither prefixes nor everything, so a storm cannot become a broader purge; it takes {}",
                caps.kind_names()
            ),
        );
    }
}

fn capabilities(targets: &BTreeMap<TargetId, Target>) -> BTreeMap<TargetId, Capabilities> {
    targets
        .iter()
        .map(|(id, target)| (id.clone(), target.provider.capabilities))
        .collect()
}

/// Which halves of the service a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Receiver and workers in one process (`purgehook serve`).
    Serve,
    /// Only the HTTP receiver (`purgehook receiver`, amqp backend).
    Receiver,
    /// Only the workers (`purgehook worker`, amqp backend).
    Worker,
}

impl Role {
    fn receives(self) -> bool {
        matches!(self, Role::Serve | Role::Receiver)
    }

    fn works(self) -> bool {
        matches!(self, Role::Serve | Role::Worker)
    }

    /// The name the process's broker connection carries.
    fn connection_name(self) -> &'static str {
        match self {
            Role::Serve => "purgehook serve",
            Role::Receiver => "purgehook receiver",
            Role::Worker => "purgehook worker",
        }
    }
}

/// The running service: queue, and by role the receiver and the workers.
pub struct Application {
    role: Role,
    port: Option<u16>,
    server: Option<Server>,
    queue: Queue,
    workers: Vec<Staffed>,
    reloader: Reloader,
    history: History,
}

impl Application {
    /// Opens the queue (connecting to the broker and declaring the topology
    /// on amqp) and binds the receiver's listener when the role receives, or
    /// a worker's operations listener when `[worker] listen` is set.
    pub async fn build(prepared: Prepared, role: Role) -> anyhow::Result<Application> {
        let settings = &prepared.settings;
        if role != Role::Serve && settings.queue.backend == QueueBackendKind::Embedded {
            anyhow::bail!(
                "the embedded queue lives in one process: run `purgehook serve`, \
                 or set [queue] backend = \"amqp\" to run receivers and workers apart"
            );
        }
        let targets: Vec<TargetId> = prepared.targets.keys().cloned().collect();
        crate::telemetry::register_targets(targets.iter().map(TargetId::as_str));
        // Twice a batch: the broker sends the next batch while one is being
        // called (`[worker] max_batch` is checked to fit when it loads).
        let prefetch =
            u16::try_from(settings.worker.max_batch.saturating_mul(2)).unwrap_or(u16::MAX);
        let how = Connect {
            name: role.connection_name(),
            targets: &targets,
            prefetch,
            spool: role.receives(),
        };
        let queue = Queue::open(&settings.queue, &settings.dedupe, how).await?;
        let history = History::start(&settings.history, &queue);
        let workers = if role.works() {
            reload::staffed(&prepared)
        } else {
            Vec::new()
        };
        let settings = prepared.settings.clone();
        let (port, server, routing) = Self::listen(prepared, role, (&queue, &history))?;
        let reloader = Reloader::new(queue.clone(), routing, settings);
        Ok(Application {
            role,
            port,
            server,
            queue,
            workers,
            reloader,
            history,
        })
    }

    /// Binds the receiver's listener (or a worker's operations listener).
    fn listen(
        prepared: Prepared,
        role: Role,
        (queue, history): (&Queue, &History),
    ) -> anyhow::Result<(Option<u16>, Option<Server>, Option<LiveRouting>)> {
        let (listen, key) = if role.receives() {
            (Some(prepared.settings.server.listen.clone()), "server")
        } else {
            (prepared.settings.worker.listen.clone(), "worker")
        };
        let Prepared {
            settings,
            sources,
            targets,
            rules,
            ..
        } = prepared;
        let routing = role.receives().then(|| {
            let tokens = settings.server.api_tokens.clone();
            LiveRouting::new(reload::routing(&targets, sources, rules, tokens))
        });
        let Some(address) = listen else {
            return Ok((None, None, routing));
        };
        let listener = TcpListener::bind(&address).map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
                " — another process listens there; choose another address"
            } else {
                ""
            };
            anyhow::anyhow!(
                "cannot listen on {address} ([{key}] listen, or PURGEHOOK__{}__LISTEN): {e}{hint}",
                key.to_ascii_uppercase()
            )
        })?;
        let port = listener.local_addr()?.port();
        let ops = OpsState {
            queue: queue.clone(),
            metrics: crate::telemetry::metrics(),
        };
        let server = match &routing {
            Some(routing) => {
                let state = ReceiverState {
                    routing: routing.clone(),
                    queue: queue.clone(),
                    max_body_bytes: settings.server.max_body_bytes,
                    limits: Limits::new(&settings.server),
                    dedupe_window: settings.dedupe.window,
                    history: history.clone(),
                    status_listen: settings.server.status_listen.clone(),
                    status_port: None,
                };
                server(listener, state, ops)?
            }
            None => ops_server(listener, ops)?,
        };
        Ok((Some(port), Some(server), routing))
    }

    /// What reloads this application's configuration (SIGHUP does too).
    pub fn reloader(&self) -> Reloader {
        self.reloader.clone()
    }

    /// The port the receiver (or a worker's operations server) listens on.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The queue (tests inspect it).
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Serves and works until `shutdown` triggers, then stops the receiver,
    /// lets the workers finish the calls in progress, and returns.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let consumes: Vec<String> = self
            .workers
            .iter()
            .map(|w| w.worker.target.to_string())
            .collect();
        if self.role.works() {
            let mut crew = Crew::new(
                self.queue.clone(),
                shutdown.tracker().clone(),
                shutdown.token().clone(),
            )
            .with_history(self.history.clone());
            crew.staff(self.workers);
            self.reloader.set_crew(crew).await;
            shutdown
                .tracker()
                .spawn(self.queue.clone().run_janitor(shutdown.token().clone()));
        }
        self.reloader.on_hangup(shutdown.token().clone());
        tracing::info!(
            role = ?self.role,
            // 0: no HTTP listener (a worker).
            port = self.port.unwrap_or(0),
            queue = %self.queue.describe(),
            consumes = %if consumes.is_empty() { "nothing".to_string() } else { consumes.join(", ") },
            "purgehook is serving"
        );
        match self.server {
            Some(server) => {
                let handle = server.handle();
                // The server future must keep running while it stops: it is
                // what delivers the stop to the HTTP workers and waits for them.
                let mut server = std::pin::pin!(server);
                tokio::select! {
                    result = &mut server => {
                        shutdown.trigger();
                        result?;
                    }
                    () = shutdown.triggered() => {
                        let ((), result) = tokio::join!(handle.stop(true), &mut server);
                        result?;
                    }
                }
            }
            None => shutdown.triggered().await,
        }
        shutdown.wait_for_tasks().await;
        // On RabbitMQ this hands anything unsettled to a standby at once;
        // the embedded store closes its file.
        self.queue.close().await;
        tracing::info!("purgehook stopped");
        Ok(())
    }
}
