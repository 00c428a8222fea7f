//! Building the whole service from [`Settings`]: [`Prepared`] checks and
//! compiles everything a configuration defines (shared by every command),
//! and [`Application`] opens the queue and, by [`Role`], binds the receiver
//! and runs the workers until its [`Shutdown`] triggers.

use std::collections::BTreeMap;
use std::net::TcpListener;

use actix_web::dev::Server;

use crate::config::{ConfigErrors, QueueBackendKind, Settings};
use crate::queue::Queue;
use crate::receiver::{OpsState, ReceiverState, ops_server, server};
use crate::rules::RuleSet;
use crate::shutdown::Shutdown;
use crate::source::{self, Source};
use crate::worker;

/// A configuration whose sources and rules compiled.
pub struct Prepared {
    /// The settings.
    pub settings: Settings,
    /// The sources, by id.
    pub sources: BTreeMap<String, Source>,
    /// The rules.
    pub rules: RuleSet,
}

impl Prepared {
    /// Builds sources and compiles rules, reporting every error.
    pub fn new(settings: Settings) -> Result<Prepared, ConfigErrors> {
        let mut errors = Vec::new();
        let sources = source::build_all(&settings.sources).unwrap_or_else(|e| {
            errors.extend(e);
            BTreeMap::new()
        });
        let rules = RuleSet::compile(&settings)
            .map_err(|e| errors.extend(e))
            .ok();
        match rules {
            Some(rules) if errors.is_empty() => Ok(Prepared {
                settings,
                sources,
                rules,
            }),
            _ => Err(ConfigErrors {
                file: settings.origin.clone(),
                errors,
            }),
        }
    }
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
    settings: Settings,
}

impl Application {
    /// Opens the queue (connecting to the broker and declaring the topology
    /// on amqp) and binds the receiver's listener when the role receives, or
    /// a worker's operations listener when `[worker] listen` is set.
    pub async fn build(prepared: Prepared, role: Role) -> anyhow::Result<Application> {
        let Prepared {
            settings,
            sources,
            rules,
        } = prepared;
        if role != Role::Serve && settings.queue.backend == QueueBackendKind::Embedded {
            anyhow::bail!(
                "the embedded queue lives in one process: run `purgehook serve`, \
                 or set [queue] backend = \"amqp\" to run receivers and workers apart"
            );
        }
        let targets: Vec<String> = settings.targets.keys().cloned().collect();
        let prefetch = u16::try_from(settings.worker.max_batch).unwrap_or(u16::MAX);
        let queue =
            Queue::open(&settings.queue, role.connection_name(), &targets, prefetch).await?;
        let ops = OpsState {
            queue: queue.clone(),
            metrics: crate::telemetry::metrics(),
        };
        let listen = if role.receives() {
            Some(settings.server.listen.clone())
        } else {
            settings.worker.listen.clone()
        };
        let (port, server) = match listen {
            Some(address) => {
                let listener = TcpListener::bind(&address)
                    .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?;
                let port = listener.local_addr()?.port();
                let server = if role.receives() {
                    let state = ReceiverState {
                        sources,
                        rules,
                        queue: queue.clone(),
                        max_body_bytes: settings.server.max_body_bytes,
                        targets: settings
                            .targets
                            .iter()
                            .map(|(id, t)| (id.clone(), t.provider.capabilities()))
                            .collect(),
                        api_tokens: settings.server.api_tokens.clone(),
                    };
                    server(listener, state, ops)?
                } else {
                    ops_server(listener, ops)?
                };
                (Some(port), Some(server))
            }
            None => (None, None),
        };
        Ok(Application {
            role,
            port,
            server,
            queue,
            settings,
        })
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
        if self.role.works() {
            let client = crate::provider::client();
            worker::spawn_all(
                &self.settings,
                &self.queue,
                &client,
                shutdown.tracker(),
                shutdown.token(),
            );
        }
        tracing::info!(
            role = ?self.role,
            port = self.port.unwrap_or(0),
            targets = self.settings.targets.len(),
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
        // On RabbitMQ this hands anything unsettled to a standby at once.
        self.queue.close().await;
        tracing::info!("purgehook stopped");
        Ok(())
    }
}
