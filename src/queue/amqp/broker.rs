//! The process's RabbitMQ connections and its pooled confirm-mode channels.
//!
//! `[queue] url` names one node or several (a cluster). The connections
//! ([`Connections`]) go to one node at a time; when the primary is lost
//! (closed, reset, or silent past two heartbeats — every URL gets
//! `heartbeat=5` unless it sets one), or they are dropped after a publisher
//! confirm missed its deadline, the next ones are made to the next node of
//! the list. Channels come from a pool, spread round-robin over the
//! `[queue] publish_connections`, each in confirm mode and reused while its
//! connection is current — never a channel per request. Errors name the
//! broker's host, never the credentials of its URL.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use lapin::options::ConfirmSelectOptions;
use lapin::{Channel, Connection};

use super::connect::{BrokerError, display_host};
use super::connections::Connections;

/// How long a request may wait for a pooled channel.
const WAIT: Duration = Duration::from_secs(5);

/// The heartbeat asked for when a URL sets none: a silent connection is
/// found dead after two of them.
const HEARTBEAT_SECONDS: u16 = 5;

/// Channels kept for publishing (at least one per connection).
const PUBLISH_CHANNELS: usize = 8;

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

/// The connections and the channel pool.
#[derive(Clone)]
pub struct Broker {
    shared: Arc<Connections>,
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
    /// Checks the URLs and prepares the pool, its channels spread over
    /// `connections` connections; nothing connects until
    /// [`Broker::connect`].
    pub fn new(urls: &[String], name: &str, connections: usize) -> Result<Broker, BrokerError> {
        let shared = Arc::new(Connections::new(node_urls(urls)?, name, connections));
        let channels = managed::Pool::builder(ChannelManager {
            shared: shared.clone(),
            next: AtomicUsize::new(0),
        })
        .max_size(PUBLISH_CHANNELS.max(shared.count()))
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
        self.shared.host()
    }

    /// Whether the primary connection is up.
    pub fn is_connected(&self) -> bool {
        self.shared.primary().is_ok()
    }

    /// Makes the primary connection if it is not up: to each node in
    /// turn, from the one after the last used.
    pub async fn connect(&self) -> Result<(), BrokerError> {
        self.shared.connect().await
    }

    /// Drops every connection (a confirm on connection `generation` missed
    /// its deadline: it is not to be trusted), so that the next ones are
    /// made to the next node. Only if `generation` is still open.
    pub fn discard(&self, generation: u64) {
        self.shared.discard(generation);
    }

    /// Opens every publishing connection now, with a channel on each (a
    /// receiver does, once connected, rather than on its first requests).
    pub async fn warm(&self) -> Result<(), BrokerError> {
        let mut held = Vec::with_capacity(self.shared.count());
        for _ in 0..self.shared.count() {
            held.push(self.channel().await?);
        }
        Ok(())
    }

    /// A pooled confirm-mode channel of the current connection, returned to
    /// the pool when dropped.
    pub async fn channel(&self) -> Result<managed::Object<ChannelManager>, BrokerError> {
        self.channels.get().await.map_err(|e| match e {
            managed::PoolError::Backend(error) => error,
            other => BrokerError::Down(format!("{} ({other})", self.shared.hosts())),
        })
    }

    /// A channel of its own (for a consumer) on the primary connection, in
    /// confirm mode.
    pub async fn dedicated_channel(&self) -> Result<Channel, BrokerError> {
        let (connection, _, host) = self.shared.primary()?;
        open_channel(&connection, &host).await
    }

    /// Closes every connection (and so every channel on them).
    pub async fn close(&self) {
        self.channels.close();
        self.shared.close().await;
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

/// Closes `channel` (a publish or a confirm on it failed), in the
/// background: the pool drops it when next handed back, and makes another.
pub fn retire(channel: &Channel) {
    let channel = channel.clone();
    tokio::spawn(async move {
        let closing = channel.close(200, "a publish failed".into());
        let _ = tokio::time::timeout(WAIT, closing).await;
    });
}

/// A pooled channel, with the connection it belongs to.
pub struct PooledChannel {
    /// The channel.
    pub channel: Channel,
    /// Its connection's generation.
    pub generation: u64,
    /// Its connection's place among the publishing connections.
    connection: usize,
}

/// Makes and checks the pooled channels.
pub struct ChannelManager {
    shared: Arc<Connections>,
    /// The connection the next channel is made on (round-robin).
    next: AtomicUsize,
}

impl managed::Manager for ChannelManager {
    type Type = PooledChannel;
    type Error = BrokerError;

    async fn create(&self) -> Result<PooledChannel, BrokerError> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.shared.count();
        let (connection, generation, host) = self.shared.get(index).await?;
        let channel = open_channel(&connection, &host).await?;
        Ok(PooledChannel {
            channel,
            generation,
            connection: index,
        })
    }

    async fn recycle(&self, pooled: &mut PooledChannel, _: &Metrics) -> RecycleResult<BrokerError> {
        if pooled.channel.status().connected()
            && self.shared.is_current(pooled.connection, pooled.generation)
        {
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
