//! The process's RabbitMQ connection and its pooled confirm-mode channels.
//!
//! `[queue] url` names one node or several (a cluster). One connection is
//! kept at a time, to one node; when it is lost (closed, reset, or silent
//! past two heartbeats — every URL gets `heartbeat=5` unless it sets one),
//! or dropped after a publisher confirm missed its deadline, the next
//! connection is made to the next node of the list. Channels come from a
//! pool, each in confirm mode and reused while its connection is the
//! current one — never a channel per request. Errors name the broker's
//! host, never the credentials of its URL.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use lapin::options::ConfirmSelectOptions;
use lapin::{Channel, Connection, ConnectionProperties};

use crate::queue::QueueError;

/// How long a request may wait for a pooled channel.
const WAIT: Duration = Duration::from_secs(5);

/// How long opening a connection (TCP, TLS and the AMQP handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The heartbeat asked for when a URL sets none: a silent connection is
/// found dead after two of them.
const HEARTBEAT_SECONDS: u16 = 5;

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

/// The nodes' URLs, checked, each with a heartbeat.
fn node_urls(urls: &[String]) -> Result<Vec<(String, String)>, BrokerError> {
    if urls.is_empty() {
        return Err(BrokerError::BadUrl("names no node".into()));
    }
    urls.iter()
        .map(|url| {
            let host = display_host(url);
            let mut parsed = url::Url::parse(url).map_err(|_| {
                BrokerError::BadUrl(format!("is not a valid AMQP URL (for {host})"))
            })?;
            if !matches!(parsed.scheme(), "amqp" | "amqps") {
                return Err(BrokerError::BadUrl(format!(
                    "must start with amqp:// or amqps:// (for {host})"
                )));
            }
            if !parsed.query_pairs().any(|(key, _)| key == "heartbeat") {
                parsed
                    .query_pairs_mut()
                    .append_pair("heartbeat", &HEARTBEAT_SECONDS.to_string());
            }
            Ok((parsed.to_string(), host))
        })
        .collect()
}

/// The current connection, and which one it is.
struct Live {
    connection: Arc<Connection>,
    generation: u64,
    host: String,
}

struct Shared {
    nodes: Vec<(String, String)>,
    name: String,
    next: AtomicUsize,
    generation: AtomicU64,
    live: std::sync::Mutex<Option<Live>>,
}

impl Shared {
    fn live(&self) -> std::sync::MutexGuard<'_, Option<Live>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn hosts(&self) -> String {
        let hosts: Vec<&str> = self.nodes.iter().map(|(_, host)| host.as_str()).collect();
        hosts.join(", ")
    }

    /// The current connection, if it is up.
    fn current(&self) -> Result<(Arc<Connection>, u64, String), BrokerError> {
        match &*self.live() {
            Some(live) if live.connection.status().connected() => {
                Ok((live.connection.clone(), live.generation, live.host.clone()))
            }
            _ => Err(BrokerError::Down(self.hosts())),
        }
    }
}

/// The connection and the channel pool.
#[derive(Clone)]
pub struct Broker {
    shared: Arc<Shared>,
    channels: managed::Pool<ChannelManager>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("hosts", &self.shared.hosts())
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// Checks the URLs and prepares the pool; nothing connects until
    /// [`Broker::connect`].
    pub fn new(urls: &[String], name: &str) -> Result<Broker, BrokerError> {
        let shared = Arc::new(Shared {
            nodes: node_urls(urls)?,
            name: name.to_string(),
            next: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            live: std::sync::Mutex::new(None),
        });
        let channels = managed::Pool::builder(ChannelManager {
            shared: shared.clone(),
        })
        .max_size(PUBLISH_CHANNELS)
        .wait_timeout(Some(WAIT))
        .create_timeout(Some(WAIT))
        .recycle_timeout(Some(WAIT))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| BrokerError::Channel {
            host: shared.hosts(),
            reason: e.to_string(),
        })?;
        Ok(Broker { shared, channels })
    }

    /// The node connected to (or every node, when none is).
    pub fn host(&self) -> String {
        match &*self.shared.live() {
            Some(live) => live.host.clone(),
            None => self.shared.hosts(),
        }
    }

    /// Whether a connection is up.
    pub fn is_connected(&self) -> bool {
        self.shared.current().is_ok()
    }

    /// Makes a connection if none is up: to each node in turn, from the
    /// one after the last used. Returns once one is up, or with the last
    /// node's error.
    pub async fn connect(&self) -> Result<(), BrokerError> {
        if self.is_connected() {
            return Ok(());
        }
        let count = self.shared.nodes.len();
        let start = self.shared.next.fetch_add(1, Ordering::Relaxed);
        let mut last = None;
        for offset in 0..count {
            let (url, host) = &self.shared.nodes[(start + offset) % count];
            match open(url, host, &self.shared.name).await {
                Ok(connection) => {
                    let generation = self.shared.generation.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::info!(host = %host, "connected to RabbitMQ");
                    *self.shared.live() = Some(Live {
                        connection: Arc::new(connection),
                        generation,
                        host: host.clone(),
                    });
                    self.shared
                        .next
                        .store((start + offset) % count, Ordering::Relaxed);
                    return Ok(());
                }
                Err(error) => last = Some(error),
            }
        }
        Err(last.unwrap_or_else(|| BrokerError::Down(self.shared.hosts())))
    }

    /// Drops the current connection (a confirm missed its deadline: the
    /// connection is not to be trusted), so that the next one is made to
    /// the next node. Only if it is still connection `generation`.
    pub fn discard(&self, generation: u64) {
        let dropped = {
            let mut live = self.shared.live();
            match &*live {
                Some(current) if current.generation == generation => live.take(),
                _ => None,
            }
        };
        if let Some(dropped) = dropped {
            tracing::warn!(host = %dropped.host, "RabbitMQ connection dropped: it stopped answering");
            self.shared.next.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    dropped.connection.close(320, "not answering".into()),
                )
                .await;
            });
        }
    }

    /// A pooled confirm-mode channel of the current connection, returned to
    /// the pool when dropped.
    pub async fn channel(&self) -> Result<managed::Object<ChannelManager>, BrokerError> {
        self.channels.get().await.map_err(|e| match e {
            managed::PoolError::Backend(error) => error,
            other => BrokerError::Down(format!("{} ({other})", self.shared.hosts())),
        })
    }

    /// A channel of its own (for a consumer), in confirm mode.
    pub async fn dedicated_channel(&self) -> Result<Channel, BrokerError> {
        let (connection, _, host) = self.shared.current()?;
        open_channel(&connection, &host).await
    }

    /// Closes the connection (and so every channel on it).
    pub async fn close(&self) {
        self.channels.close();
        let live = self.shared.live().take();
        if let Some(live) = live {
            let _ = live.connection.close(200, "closing".into()).await;
        }
    }
}

/// Opens a connection to one node, within [`CONNECT_TIMEOUT`].
async fn open(url: &str, host: &str, name: &str) -> Result<Connection, BrokerError> {
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

async fn open_channel(connection: &Connection, host: &str) -> Result<Channel, BrokerError> {
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

/// A pooled channel, with the connection it belongs to.
pub struct PooledChannel {
    /// The channel.
    pub channel: Channel,
    /// Its connection's generation.
    pub generation: u64,
}

/// Makes and checks the pooled channels.
pub struct ChannelManager {
    shared: Arc<Shared>,
}

impl managed::Manager for ChannelManager {
    type Type = PooledChannel;
    type Error = BrokerError;

    async fn create(&self) -> Result<PooledChannel, BrokerError> {
        let (connection, generation, host) = self.shared.current()?;
        let channel = open_channel(&connection, &host).await?;
        Ok(PooledChannel {
            channel,
            generation,
        })
    }

    async fn recycle(&self, pooled: &mut PooledChannel, _: &Metrics) -> RecycleResult<BrokerError> {
        let current = self.shared.current().map(|(_, generation, _)| generation);
        if pooled.channel.status().connected() && current.is_ok_and(|g| g == pooled.generation) {
            Ok(())
        } else {
            Err(RecycleError::Backend(BrokerError::Down(
                self.shared.hosts(),
            )))
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

    #[test]
    fn every_node_gets_a_heartbeat_unless_it_sets_one() {
        let nodes = node_urls(&[
            "amqp://guest:guest@a:5672/%2f".into(),
            "amqp://guest:guest@b:5673/%2f?heartbeat=30".into(),
        ])
        .unwrap();
        assert!(nodes[0].0.ends_with("?heartbeat=5"), "{}", nodes[0].0);
        assert!(nodes[1].0.ends_with("?heartbeat=30"), "{}", nodes[1].0);
        assert_eq!(
            (nodes[0].1.as_str(), nodes[1].1.as_str()),
            ("a:5672", "b:5673")
        );
        assert!(node_urls(&["http://x".into()]).is_err());
        assert!(node_urls(&[]).is_err());
    }
}
