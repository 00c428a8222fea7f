//! The HTTP receiver: the actix-web routes (`/hooks/{source}`, `/healthz`,
//! `/readyz`), the state they share, and the server built on a listener.

mod error;
mod health;
mod hooks;

use std::collections::BTreeMap;
use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};

use crate::queue::Queue;
use crate::rules::RuleSet;
use crate::source::Source;
pub use error::ReceiveError;

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
}

/// Builds the HTTP server on `listener`. It does not handle signals: the
/// application stops it through its handle.
pub fn server(listener: TcpListener, state: ReceiverState) -> std::io::Result<Server> {
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/hooks/{source}", web::post().to(hooks::receive))
            .route("/healthz", web::get().to(health::healthz))
            .route("/readyz", web::get().to(health::readyz))
            .default_service(web::to(not_found))
    })
    .listen(listener)?
    .disable_signals()
    .shutdown_timeout(5)
    .run();
    Ok(server)
}

async fn not_found() -> Result<actix_web::HttpResponse, ReceiveError> {
    Err(ReceiveError::NotFound)
}
