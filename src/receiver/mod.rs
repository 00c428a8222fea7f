//! The HTTP receiver: the actix-web routes (`/hooks/{source}`, the operator
//! API under `/api/v1`, `/healthz`, `/readyz`, `/metrics`), the state they
//! share, and the servers built on a listener: the receiver's, and a
//! worker's operations-only one.
//!
//! Facing the internet: a request's head must arrive within `[server]
//! header_timeout` and its body within `body_timeout` (408); one client
//! address may have `max_requests_per_client` requests in progress (429 at
//! once beyond, before the body is read) and `max_connections_per_client`
//! connections open (closed at once beyond); connections are bounded by
//! `max_connections`, kept below the file-descriptor limit; and an address
//! that fails to authenticate to the API too often is locked out of it.

mod api;
mod dead_letters;
mod error;
mod health;
mod history;
mod hooks;
pub mod limits;
mod request;
mod routing;
mod status;

use std::net::TcpListener;
use std::time::Duration;

use actix_web::body::BoxBody;
use actix_web::dev::{Server, Service as _, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpServer, web};
use futures_util::future::{Either, ready};

use crate::config::ServerSettings;
use crate::queue::Queue;
use crate::telemetry;
pub use error::{ErrorCode, ReceiveError};
pub use health::OpsState;
use limits::{AuthLockout, ClientKey, InFlight};
pub use routing::{LiveRouting, Routing};

/// The receiver's defences, from `[server]`.
#[derive(Debug)]
pub struct Limits {
    /// How long a body may take to arrive.
    pub body_timeout: Duration,
    /// How long a request's head may take to arrive.
    pub header_timeout: Duration,
    /// Most connections at once, before the file-descriptor ceiling.
    pub max_connections: usize,
    /// Requests in progress, per client address.
    pub in_flight: InFlight,
    /// Open connections, per client address.
    pub connections: InFlight,
    /// Failed API authentications, per client address.
    pub lockout: AuthLockout,
}

impl Limits {
    /// The limits `[server]` sets.
    pub fn new(settings: &ServerSettings) -> Limits {
        Limits {
            body_timeout: settings.body_timeout,
            header_timeout: settings.header_timeout,
            max_connections: settings.max_connections,
            in_flight: InFlight::new(settings.max_requests_per_client),
            connections: InFlight::new(settings.max_connections_per_client),
            lockout: AuthLockout::new(settings.api_auth_failures, settings.api_lockout),
        }
    }
}

/// Refused-request lines: at most one per second per kind.
static REFUSALS: telemetry::Throttle = telemetry::Throttle::new(Duration::from_secs(1));

/// What the handlers share.
pub struct ReceiverState {
    /// Sources, rules, targets and API tokens: what a reload replaces.
    pub routing: LiveRouting,
    /// Where jobs go.
    pub queue: Queue,
    /// Largest accepted body.
    pub max_body_bytes: usize,
    /// How long an accepted delivery is remembered (`[dedupe] window`).
    pub dedupe_window: std::time::Duration,
    /// Timeouts and per-client limits.
    pub limits: Limits,
    /// The purge history (records events; answers `/api/v1/history`).
    pub history: crate::history::History,
    /// `[server] status_listen`: where the status page is served without a
    /// token.
    pub status_listen: Option<String>,
    /// The status address's port, once bound (set by [`server`]).
    pub status_port: Option<u16>,
}

/// Builds the receiver's HTTP server on `listener`. It does not handle
/// signals: the application stops it through its handle.
pub fn server(
    listener: TcpListener,
    mut state: ReceiverState,
    ops: OpsState,
) -> std::io::Result<Server> {
    let status = status::bind(state.status_listen.as_deref())?;
    state.status_port = status.as_ref().map(|(_, port)| *port);
    let tuning = Tuning::of(&state.limits);
    let in_flight = state.limits.in_flight.clone();
    let state = web::Data::new(state);
    let ops = web::Data::new(ops);
    let listeners = [Some(listener), status.map(|(listener, _)| listener)];
    run(listeners, &tuning, move || {
        let in_flight = in_flight.clone();
        App::new()
            .app_data(state.clone())
            .app_data(ops.clone())
            .wrap_fn(move |request, service| match admit(&in_flight, request) {
                Ok((request, entered)) => {
                    let call = service.call(request);
                    Either::Left(async move {
                        let response = call.await;
                        drop(entered);
                        response
                    })
                }
                Err(refused) => Either::Right(ready(Ok(refused))),
            })
            .route("/hooks/{source}", web::post().to(hooks::receive))
            .configure(api::routes)
            .configure(status::routes)
            .configure(health::routes)
            .default_service(web::to(not_found))
    })
}

/// Lets a request in unless its address has too many in progress: then
/// the 429 it gets at once, before its body is read.
fn admit(
    in_flight: &InFlight,
    request: ServiceRequest,
) -> Result<(ServiceRequest, Option<limits::Entered>), ServiceResponse<BoxBody>> {
    let Some(key) = request.peer_addr().map(|peer| ClientKey::of(peer.ip())) else {
        return Ok((request, None));
    };
    match in_flight.enter(key) {
        Some(entered) => Ok((request, Some(entered))),
        None => {
            telemetry::limited("client_busy");
            if let Some(held_back) = REFUSALS.admit("client_busy") {
                tracing::warn!(client = %key, held_back, "too many requests in progress from one address; answered 429");
            }
            Err(request.error_response(ReceiveError::ClientBusy))
        }
    }
}

/// Builds an operations-only server (health, readiness, metrics), for
/// processes that receive no webhooks.
pub fn ops_server(listener: TcpListener, ops: OpsState) -> std::io::Result<Server> {
    let ops = web::Data::new(ops);
    run([Some(listener), None], &Tuning::default(), move || {
        App::new()
            .app_data(ops.clone())
            .configure(health::routes)
            .default_service(web::to(not_found))
    })
}

/// Counts a new connection against its address (the count ends when the
/// connection does); past the address's limit, shuts it at once.
fn connect(connections: &InFlight, connection: &dyn std::any::Any) -> Option<limits::Entered> {
    let stream = connection.downcast_ref::<actix_web::rt::net::TcpStream>()?;
    let key = ClientKey::of(stream.peer_addr().ok()?.ip());
    let entered = connections.enter(key);
    if entered.is_none() {
        telemetry::limited("client_connections");
        if let Some(held_back) = REFUSALS.admit("client_connections") {
            tracing::warn!(client = %key, held_back, "too many connections from one address; closed");
        }
        let _ = socket2::SockRef::from(stream).shutdown(std::net::Shutdown::Both);
    }
    entered
}

/// How the HTTP server itself is set up.
#[derive(Debug, Clone)]
struct Tuning {
    header_timeout: Duration,
    max_connections: usize,
    connections: InFlight,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning::of(&Limits::new(&ServerSettings::default()))
    }
}

impl Tuning {
    fn of(limits: &Limits) -> Tuning {
        Tuning {
            header_timeout: limits.header_timeout,
            max_connections: limits.max_connections,
            connections: limits.connections.clone(),
        }
    }
}

/// Pending connections the kernel may queue while the server is busy.
const BACKLOG: i32 = 4096;

/// HTTP worker threads: one per core.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// `configured` connections, kept below the file-descriptor limit
/// `nofile` with a tenth of it (at least 64) left for everything else.
pub fn connection_ceiling(configured: usize, nofile: u64) -> usize {
    let spare = (nofile / 10).max(64);
    let room = usize::try_from(nofile.saturating_sub(spare)).unwrap_or(usize::MAX);
    configured.min(room).max(1)
}

fn run<F, A>(
    listeners: [Option<TcpListener>; 2],
    tuning: &Tuning,
    app: F,
) -> std::io::Result<Server>
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
    // A larger queue of pending connections than std's 128, so that a burst
    // of connections does not drop a sender's (Linux takes a second listen).
    for listener in listeners.iter().flatten() {
        socket2::SockRef::from(listener).listen(BACKLOG)?;
    }
    let nofile = rlimit::Resource::NOFILE
        .get()
        .map_or(1024, |(soft, _)| soft);
    let total = connection_ceiling(tuning.max_connections, nofile);
    let workers = workers();
    if total < tuning.max_connections {
        tracing::warn!(
            configured = tuning.max_connections,
            total,
            nofile,
            "[server] max_connections lowered to fit the file-descriptor limit"
        );
    }
    let connections = tuning.connections.clone();
    let mut server = HttpServer::new(app)
        .on_connect(move |connection, extensions| {
            if let Some(entered) = connect(&connections, connection) {
                extensions.insert(entered);
            }
        })
        .workers(workers)
        .max_connections(total.div_ceil(workers))
        .client_request_timeout(tuning.header_timeout)
        .client_disconnect_timeout(Duration::from_secs(1));
    for listener in listeners.into_iter().flatten() {
        server = server.listen(listener)?;
    }
    Ok(server.disable_signals().shutdown_timeout(5).run())
}

async fn not_found() -> Result<actix_web::HttpResponse, ReceiveError> {
    Err(ReceiveError::NotFound)
}
