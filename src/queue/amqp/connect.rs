//! Reaching one RabbitMQ node: opening a connection within a deadline, and
//! [`BrokerError`], what can go wrong — naming the broker's host, never the
//! credentials of its URL. Used by the connections ([`Connections`](super::connections))
//! and the channel pool ([`Broker`](super::broker::Broker)).

use std::time::Duration;

use lapin::{Connection, ConnectionProperties};

use crate::queue::QueueError;

/// How long opening a connection (TCP, TLS and the AMQP handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What went wrong reaching RabbitMQ. Names the broker's host, never the
/// credentials of its URL.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BrokerError {
    /// `[queue] url` is not an AMQP URL.
    #[error("[queue] url {0}")]
    BadUrl(String),
    /// No connection could be made (or kept).
    #[error("cannot connect to RabbitMQ at {host}: {reason}")]
    Connect {
        /// The broker's `host:port` (every node tried).
        host: String,
        /// Why.
        reason: String,
    },
    /// The broker refused the connection for good: wrong credentials or
    /// virtual host (ACCESS_REFUSED, NOT_ALLOWED). Asking again cannot help.
    #[error("RabbitMQ at {host} refuses the connection: {reason}")]
    Refused {
        /// The broker's `host:port`.
        host: String,
        /// The broker's words.
        reason: String,
    },
    /// A channel could not be opened or set up.
    #[error("cannot open a channel to RabbitMQ at {host}: {reason}")]
    Channel {
        /// The broker's `host:port`.
        host: String,
        /// Why.
        reason: String,
    },
    /// No connection is up right now (it is being made again).
    #[error("RabbitMQ at {0} is not connected")]
    Down(String),
}

impl From<BrokerError> for QueueError {
    fn from(error: BrokerError) -> Self {
        let host = match &error {
            BrokerError::Connect { host, .. }
            | BrokerError::Refused { host, .. }
            | BrokerError::Channel { host, .. }
            | BrokerError::Down(host) => host.clone(),
            BrokerError::BadUrl(_) => String::new(),
        };
        QueueError::Unreachable {
            host,
            reason: error.to_string(),
        }
    }
}

/// The `host:port` of an AMQP URL, for messages (never its userinfo).
pub fn display_host(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => format!(
            "{}:{}",
            parsed.host_str().unwrap_or("?"),
            parsed.port().unwrap_or(5672)
        ),
        Err(_) => "an unparseable AMQP URL".into(),
    }
}

/// Opens a connection to one node, within [`CONNECT_TIMEOUT`].
pub(super) async fn open(url: &str, host: &str, name: &str) -> Result<Connection, BrokerError> {
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    let connecting = Connection::connect(url, properties);
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(error)) if refused(&error) => Err(BrokerError::Refused {
            host: host.to_string(),
            reason: error.to_string(),
        }),
        Ok(Err(error)) => Err(BrokerError::Connect {
            host: host.to_string(),
            reason: error.to_string(),
        }),
        Err(_) => Err(BrokerError::Connect {
            host: host.to_string(),
            reason: format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()),
        }),
    }
}

/// Whether the broker refused for good: credentials, virtual host, access.
fn refused(error: &lapin::Error) -> bool {
    match error.kind() {
        lapin::ErrorKind::ProtocolError(amqp) => matches!(amqp.get_id(), 402 | 403 | 530),
        lapin::ErrorKind::AuthProviderError(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_shown_without_credentials() {
        assert_eq!(
            display_host("amqp://guest:s3cret@rabbit.internal:5673/%2f"),
            "rabbit.internal:5673"
        );
        assert_eq!(display_host("amqp://u:p@localhost/vhost"), "localhost:5672");
        assert!(!display_host("not a url with s3cret").contains("s3cret"));
    }
}
