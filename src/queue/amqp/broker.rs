//! The process's RabbitMQ connection and its pooled confirm-mode channels.
//!
//! One long-lived connection (deadpool-lapin with one slot: a broken
//! connection is replaced the next time it is asked for), and a deadpool of
//! channels on it, each in confirm mode and reused while it is open —
//! never a channel per request. Errors name the broker's host, never the
//! credentials of its URL.

use std::time::Duration;

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use lapin::options::ConfirmSelectOptions;
use lapin::{Channel, ConnectionProperties};

use crate::queue::QueueError;

/// How long a request may wait for a connection or channel before the
/// broker counts as unavailable.
const WAIT: Duration = Duration::from_secs(5);

/// Channels kept for publishing.
const PUBLISH_CHANNELS: usize = 8;

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
        /// The broker's `host:port`.
        host: String,
        /// Why.
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
    /// A pooled channel was closed.
    #[error("the channel is closed")]
    Closed,
}

impl From<BrokerError> for QueueError {
    fn from(error: BrokerError) -> Self {
        let host = match &error {
            BrokerError::Connect { host, .. } | BrokerError::Channel { host, .. } => host.clone(),
            BrokerError::BadUrl(_) | BrokerError::Closed => String::new(),
        };
        QueueError::Unreachable {
            host,
            reason: error.to_string(),
        }
    }
}

/// The connection and the channel pool.
#[derive(Clone)]
pub struct Broker {
    connections: deadpool_lapin::Pool,
    channels: managed::Pool<ChannelManager>,
    host: String,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("host", &self.host)
            .finish_non_exhaustive()
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

impl Broker {
    /// Prepares the pools; nothing connects until first use.
    pub fn new(url: &str, name: &str) -> Result<Broker, BrokerError> {
        let host = display_host(url);
        let parsed = url::Url::parse(url)
            .map_err(|_| BrokerError::BadUrl(format!("is not a valid AMQP URL (for {host})")))?;
        if !matches!(parsed.scheme(), "amqp" | "amqps") {
            return Err(BrokerError::BadUrl(format!(
                "must start with amqp:// or amqps:// (for {host})"
            )));
        }
        let config = deadpool_lapin::Config {
            url: Some(url.to_string()),
            pool: Some(deadpool_lapin::PoolConfig {
                max_size: 1,
                timeouts: deadpool_lapin::Timeouts {
                    wait: Some(WAIT),
                    create: Some(WAIT),
                    recycle: Some(WAIT),
                },
                ..deadpool_lapin::PoolConfig::default()
            }),
        };
        let name = name.to_string();
        let connections = config
            .create_pool(
                move || ConnectionProperties::default().with_connection_name(name.clone().into()),
                deadpool_lapin::Runtime::Tokio1,
            )
            .map_err(|e| BrokerError::Connect {
                host: host.clone(),
                reason: e.to_string(),
            })?;
        let channels = managed::Pool::builder(ChannelManager {
            connections: connections.clone(),
            host: host.clone(),
        })
        .max_size(PUBLISH_CHANNELS)
        .wait_timeout(Some(WAIT))
        .create_timeout(Some(WAIT))
        .recycle_timeout(Some(WAIT))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| BrokerError::Channel {
            host: host.clone(),
            reason: e.to_string(),
        })?;
        Ok(Broker {
            connections,
            channels,
            host,
        })
    }

    /// The broker's `host:port`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// A pooled confirm-mode channel, returned to the pool when dropped.
    pub async fn channel(&self) -> Result<managed::Object<ChannelManager>, BrokerError> {
        self.channels.get().await.map_err(|e| match e {
            managed::PoolError::Backend(error) => error,
            other => BrokerError::Connect {
                host: self.host.clone(),
                reason: other.to_string(),
            },
        })
    }

    /// Closes the connection (and so every channel on it).
    pub async fn close(&self) {
        self.channels.close();
        if let Ok(connection) = self.connections.get().await {
            let _ = connection.close(200, "closing".into()).await;
        }
        self.connections.close();
    }

    /// A channel of its own (for a consumer), in confirm mode.
    pub async fn dedicated_channel(&self) -> Result<Channel, BrokerError> {
        open_channel(&self.connections, &self.host).await
    }
}

/// Makes and checks the pooled channels.
pub struct ChannelManager {
    connections: deadpool_lapin::Pool,
    host: String,
}

async fn open_channel(
    connections: &deadpool_lapin::Pool,
    host: &str,
) -> Result<Channel, BrokerError> {
    let connection = connections.get().await.map_err(|e| BrokerError::Connect {
        host: host.to_string(),
        reason: match e {
            managed::PoolError::Backend(error) => error.to_string(),
            other => other.to_string(),
        },
    })?;
    let channel_error = |reason: String| BrokerError::Channel {
        host: host.to_string(),
        reason,
    };
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| channel_error(e.to_string()))?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|e| channel_error(format!("cannot enable publisher confirms: {e}")))?;
    Ok(channel)
}

impl managed::Manager for ChannelManager {
    type Type = Channel;
    type Error = BrokerError;

    async fn create(&self) -> Result<Channel, BrokerError> {
        open_channel(&self.connections, &self.host).await
    }

    async fn recycle(&self, channel: &mut Channel, _: &Metrics) -> RecycleResult<BrokerError> {
        if channel.status().connected() {
            Ok(())
        } else {
            Err(RecycleError::Backend(BrokerError::Closed))
        }
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
