//! Building the whole service from [`Settings`]: [`Prepared`] checks and
//! compiles everything a configuration defines (shared by `serve`, `check`
//! and `route`), and [`Application`] binds the receiver, opens the queue and
//! runs the workers until its [`Shutdown`] triggers.

use std::collections::BTreeMap;
use std::net::TcpListener;

use actix_web::dev::Server;

use crate::config::{ConfigErrors, QueueBackendKind, Settings};
use crate::queue::Queue;
use crate::receiver::{ReceiverState, server};
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
        if settings.queue.backend == QueueBackendKind::Amqp {
            errors.push(crate::config::ConfigError::new(
                "queue.backend",
                "the amqp backend is not available in this build yet; use \"embedded\"",
            ));
        }
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

/// The running service: receiver, queue and workers.
pub struct Application {
    port: u16,
    server: Server,
    queue: Queue,
    settings: Settings,
}

impl Application {
    /// Opens the queue and binds the receiver's listener.
    pub fn build(prepared: Prepared) -> anyhow::Result<Application> {
        let Prepared {
            settings,
            sources,
            rules,
        } = prepared;
        let queue = Queue::open_embedded(&settings.queue.path)?;
        let listener = TcpListener::bind(&settings.server.listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.server.listen))?;
        let port = listener.local_addr()?.port();
        let state = ReceiverState {
            sources,
            rules,
            queue: queue.clone(),
            max_body_bytes: settings.server.max_body_bytes,
        };
        let server = server(listener, state)?;
        Ok(Application {
            port,
            server,
            queue,
            settings,
        })
    }

    /// The port the receiver listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The queue (tests inspect it).
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Serves and works until `shutdown` triggers, then stops the receiver,
    /// lets the workers finish the calls in progress, and returns.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let client = crate::provider::client();
        worker::spawn_all(
            &self.settings,
            &self.queue,
            &client,
            shutdown.tracker(),
            shutdown.token(),
        );
        let handle = self.server.handle();
        tracing::info!(
            port = self.port,
            targets = self.settings.targets.len(),
            "purgehook is serving"
        );
        // The server future must keep running while it stops: it is what
        // delivers the stop to the HTTP workers and waits for them.
        let mut server = std::pin::pin!(self.server);
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
        shutdown.wait_for_tasks().await;
        tracing::info!("purgehook stopped");
        Ok(())
    }
}
