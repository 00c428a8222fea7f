//! The HTTP receiver: the actix-web routes (`/hooks/{source}`, the operator
//! API under `/api/v1`, `/healthz`, `/readyz`, `/metrics`), the state they
//! share, and the servers built on a listener: the receiver's, and a
//! worker's operations-only one.

mod api;
mod dead_letters;
mod error;
mod health;
mod hooks;

use std::collections::BTreeMap;
use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};

use crate::capability::Capabilities;
use crate::job::TargetId;
use crate::queue::Queue;
use crate::rules::RuleSet;
use crate::secret::Secret;
use crate::source::Source;
pub use error::{ErrorCode, ReceiveError};
pub use health::OpsState;

/// What the handlers share.
pub struct ReceiverState {
    /// Configured sources, by id.
    pub sources: BTreeMap<String, Source>,
    /// Compiled rules.
    pub rules: RuleSet,
    /// Where jobs go.
    pub queue: Queue,
    /// Largest accepted body.
    pub max_body_bytes: usize,
    /// What each configured target accepts, for the purge API.
    pub targets: BTreeMap<TargetId, Capabilities>,
    /// Bearer tokens of the API (`[server] api_tokens`).
    pub api_tokens: Vec<Secret>,
    /// How long an accepted delivery is remembered (`[dedupe] window`).
    pub dedupe_window: std::time::Duration,
}

/// Builds the receiver's HTTP server on `listener`. It does not handle
/// signals: the application stops it through its handle.
pub fn server(
    listener: TcpListener,
    state: ReceiverState,
    ops: OpsState,
) -> std::io::Result<Server> {
    let state = web::Data::new(state);
    let ops = web::Data::new(ops);
    run(listener, move || {
        App::new()
            .app_data(state.clone())
            .app_data(ops.clone())
            .route("/hooks/{source}", web::post().to(hooks::receive))
            .configure(api::routes)
            .configure(health::routes)
            .default_service(web::to(not_found))
    })
}

/// Builds an operations-only server (health, readiness, metrics), for
/// processes that receive no webhooks.
pub fn ops_server(listener: TcpListener, ops: OpsState) -> std::io::Result<Server> {
    let ops = web::Data::new(ops);
    run(listener, move || {
        App::new()
            .app_data(ops.clone())
            .configure(health::routes)
            .default_service(web::to(not_found))
    })
}

fn run<F, A>(listener: TcpListener, app: F) -> std::io::Result<Server>
where
    F: Fn() -> App<A> + Send + Clone + 'static,
    A: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
{
    Ok(HttpServer::new(app)
        .listen(listener)?
        .disable_signals()
        .shutdown_timeout(5)
        .run())
}

async fn not_found() -> Result<actix_web::HttpResponse, ReceiveError> {
    Err(ReceiveError::NotFound)
}
