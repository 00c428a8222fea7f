//! The process's RabbitMQ connections: a primary one, to one node of
//! `[queue] url` at a time (the next node after a loss), and
//! `[queue] publish_connections - 1` more to the same node, over which the
//! pooled publishing channels are spread — one connection's reader and
//! writer limit how many confirms it carries. Each extra connection is
//! opened under its own lock (channels created at once for a new connection
//! wait for the one opening, rather than each opening and closing another),
//! follows the primary (made again when the primary is), is replaced when
//! broken, and is closed at shutdown. Readiness is the primary's: a lost
//! extra connection fails only the publishes on its channels (which the
//! spool takes) and is opened again by the next channel made on it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use lapin::Connection;

use super::connect::{BrokerError, open};

/// How long closing one connection may take at shutdown.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// The largest frame asked for on an extra connection (unless its URL sets
/// one): lapin keeps 32 frames of buffer each way per connection — 8 MB at
/// RabbitMQ's default of 128 KB — and these carry jobs of a few hundred
/// bytes (a larger one is sent in several frames).
const EXTRA_FRAME_MAX: u32 = 32 * 1024;

/// `url` asking for frames of at most [`EXTRA_FRAME_MAX`] unless it sets a size.
fn with_small_frames(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.query_pairs().any(|(key, _)| key == "frame_max") => {
            parsed
                .query_pairs_mut()
                .append_pair("frame_max", &EXTRA_FRAME_MAX.to_string());
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

/// One open connection, and which one it is.
struct Live {
    connection: Arc<Connection>,
    /// Unique among every connection this process made.
    generation: u64,
    /// The primary's generation it was opened beside (its own, for the
    /// primary): an extra connection is current only beside that primary.
    primary: u64,
    /// The node's URL (with its heartbeat) and `host:port`.
    url: String,
    host: String,
}

/// A place for one connection.
#[derive(Default)]
struct Slot {
    live: std::sync::Mutex<Option<Live>>,
    /// Held while this slot's connection is being opened.
    opening: tokio::sync::Mutex<()>,
}

impl Slot {
    fn live(&self) -> std::sync::MutexGuard<'_, Option<Live>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A connection handed out: the connection, its generation, its host.
pub(super) type Handle = (Arc<Connection>, u64, String);

/// The connections; slot 0 is the primary.
pub(super) struct Connections {
    nodes: Vec<(String, String)>,
    name: String,
    /// The node the next primary is made to.
    next: AtomicUsize,
    generation: AtomicU64,
    slots: Vec<Slot>,
    closed: AtomicBool,
}

impl Connections {
    /// `count` connections (at least one) to the `nodes` (URL, host).
    pub fn new(nodes: Vec<(String, String)>, name: &str, count: usize) -> Connections {
        Connections {
            nodes,
            name: name.to_string(),
            next: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            slots: (0..count.max(1)).map(|_| Slot::default()).collect(),
            closed: AtomicBool::new(false),
        }
    }

    /// How many connections are kept.
    pub fn count(&self) -> usize {
        self.slots.len()
    }

    /// Every node, for messages.
    pub fn hosts(&self) -> String {
        let hosts: Vec<&str> = self.nodes.iter().map(|(_, host)| host.as_str()).collect();
        hosts.join(", ")
    }

    /// The node of the primary (or every node, while there is none).
    pub fn host(&self) -> String {
        match &*self.slots[0].live() {
            Some(live) => live.host.clone(),
            None => self.hosts(),
        }
    }

    fn down(&self) -> BrokerError {
        BrokerError::Down(self.hosts())
    }

    /// The primary, if it is up; with its URL.
    fn primary_live(&self) -> Option<(Handle, String)> {
        match &*self.slots[0].live() {
            Some(live) if live.connection.status().connected() => Some((
                (live.connection.clone(), live.generation, live.host.clone()),
                live.url.clone(),
            )),
            _ => None,
        }
    }

    /// The primary connection, if it is up.
    pub fn primary(&self) -> Result<Handle, BrokerError> {
        self.primary_live()
            .map(|(handle, _)| handle)
            .ok_or_else(|| self.down())
    }

    /// Makes the primary connection if it is not up: to each node in turn,
    /// from the one after the last used. Returns once one is up, or with
    /// the last node's error.
    pub async fn connect(&self) -> Result<(), BrokerError> {
        let _opening = self.slots[0].opening.lock().await;
        if self.primary().is_ok() {
            return Ok(());
        }
        let count = self.nodes.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last = None;
        for offset in 0..count {
            let (url, host) = &self.nodes[(start + offset) % count];
            match open(url, host, &self.name).await {
                Ok(connection) => {
                    let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::info!(host = %host, "connected to RabbitMQ");
                    self.next.store((start + offset) % count, Ordering::Relaxed);
                    let live = Live {
                        connection: Arc::new(connection),
                        generation,
                        primary: generation,
                        url: url.clone(),
                        host: host.clone(),
                    };
                    return self.install(0, live).map(|_| ());
                }
                Err(error) => last = Some(error),
            }
        }
        Err(last.unwrap_or_else(|| self.down()))
    }

    /// Connection `index` (0: the primary), opened if it is not up (to
    /// the primary's node) — by one caller at a time.
    pub async fn get(&self, index: usize) -> Result<Handle, BrokerError> {
        if index == 0 {
            return self.primary();
        }
        if let Some(handle) = self.extra(index)? {
            return Ok(handle);
        }
        let _opening = self.slots[index].opening.lock().await;
        if let Some(handle) = self.extra(index)? {
            return Ok(handle);
        }
        let ((_, primary, host), url) = self.primary_live().ok_or_else(|| self.down())?;
        let connection = open(&with_small_frames(&url), &host, &self.name).await?;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let live = Live {
            connection: Arc::new(connection),
            generation,
            primary,
            url,
            host,
        };
        self.install(index, live)
    }

    /// Extra connection `index` if it is up beside the current primary;
    /// an error if the primary is not up.
    fn extra(&self, index: usize) -> Result<Option<Handle>, BrokerError> {
        let ((_, primary, _), _) = self.primary_live().ok_or_else(|| self.down())?;
        Ok(match &*self.slots[index].live() {
            Some(live) if live.primary == primary && live.connection.status().connected() => {
                Some((live.connection.clone(), live.generation, live.host.clone()))
            }
            _ => None,
        })
    }

    /// Puts `live` in slot `index`, closing what was there — or closes
    /// `live` when the connections are closed already.
    fn install(&self, index: usize, live: Live) -> Result<Handle, BrokerError> {
        if self.closed.load(Ordering::SeqCst) {
            tokio::spawn(close_one(live, 200, "closing"));
            return Err(self.down());
        }
        let handle = (live.connection.clone(), live.generation, live.host.clone());
        if let Some(old) = self.slots[index].live().replace(live) {
            tokio::spawn(close_one(old, 200, "replaced"));
        }
        Ok(handle)
    }

    /// Whether connection `index` is still `generation`, up, and (for an
    /// extra one) beside the current primary.
    pub fn is_current(&self, index: usize, generation: u64) -> bool {
        let found = match index {
            0 => self.primary().ok(),
            _ => self.extra(index).ok().flatten(),
        };
        found.is_some_and(|(_, current, _)| current == generation)
    }

    /// Drops every connection (a confirm on connection `generation` missed
    /// its deadline: its node is not to be trusted), so that the next
    /// primary is made to the next node. Only if `generation` is still open.
    pub fn discard(&self, generation: u64) {
        let known = self.slots.iter().any(|slot| {
            slot.live()
                .as_ref()
                .is_some_and(|live| live.generation == generation)
        });
        if !known {
            return;
        }
        self.next.fetch_add(1, Ordering::Relaxed);
        for slot in &self.slots {
            if let Some(dropped) = slot.live().take() {
                tracing::warn!(host = %dropped.host, "RabbitMQ connection dropped: it stopped answering");
                tokio::spawn(close_one(dropped, 320, "not answering"));
            }
        }
    }

    /// Closes every connection, and any opened from now on.
    pub async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let closing: Vec<_> = self
            .slots
            .iter()
            .filter_map(|slot| slot.live().take())
            .map(|live| close_one(live, 200, "closing"))
            .collect();
        futures_util::future::join_all(closing).await;
    }
}

/// Closes one connection, within [`CLOSE_TIMEOUT`].
async fn close_one(live: Live, code: u16, reason: &'static str) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, live.connection.close(code, reason.into())).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f?heartbeat=5";

    fn connections(count: usize) -> Connections {
        let nodes = vec![(URL.to_string(), "127.0.0.1:5672".to_string())];
        Connections::new(nodes, "purgehook-connections-test", count)
    }

    #[test]
    fn extra_connections_ask_for_small_frames_unless_the_url_sets_a_size() {
        assert_eq!(with_small_frames(URL), format!("{URL}&frame_max=32768"));
        let set = "amqp://h/%2f?frame_max=4096";
        assert_eq!(with_small_frames(set), set);
    }

    #[tokio::test]
    async fn an_extra_connection_opened_by_many_at_once_is_opened_once() {
        let connections = connections(3);
        assert!(connections.get(1).await.is_err(), "no primary yet");
        connections.connect().await.unwrap();
        let opened = futures_util::future::join_all((0..8).map(|_| connections.get(1))).await;
        let generations: Vec<u64> = opened.into_iter().map(|h| h.unwrap().1).collect();
        assert!(
            generations.iter().all(|g| *g == generations[0]),
            "{generations:?}"
        );
        let (connection, generation, _) = connections.get(1).await.unwrap();
        assert_eq!(generation, generations[0]);
        assert!(connection.status().connected());
        // Both of two channels opened at once on a fresh connection work.
        let (a, b) = tokio::join!(connections.get(2), connections.get(2));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.1, b.1);
        let (first, second) = tokio::join!(a.0.create_channel(), b.0.create_channel());
        assert!(first.unwrap().status().connected());
        assert!(second.unwrap().status().connected());
        connections.close().await;
    }

    #[tokio::test]
    async fn a_broken_extra_connection_is_replaced_and_all_close_at_shutdown() {
        let connections = connections(2);
        connections.connect().await.unwrap();
        let (primary, primary_generation, _) = connections.get(0).await.unwrap();
        let (extra, generation, _) = connections.get(1).await.unwrap();
        extra.close(200, "broken".into()).await.unwrap();
        assert!(!connections.is_current(1, generation));
        assert!(
            connections.is_current(0, primary_generation),
            "the primary stays"
        );
        let (again, replaced, _) = connections.get(1).await.unwrap();
        assert_ne!(replaced, generation);
        assert!(again.status().connected());
        connections.close().await;
        assert!(!primary.status().connected());
        assert!(!again.status().connected());
        assert!(
            connections.get(1).await.is_err(),
            "nothing opens after close"
        );
        assert!(connections.connect().await.is_err(), "nor a primary");
    }

    #[tokio::test]
    async fn a_missed_confirm_drops_every_connection() {
        let connections = connections(2);
        connections.connect().await.unwrap();
        let (primary, _, _) = connections.get(0).await.unwrap();
        let (_, generation, _) = connections.get(1).await.unwrap();
        connections.discard(generation);
        assert!(connections.primary().is_err());
        assert!(connections.get(1).await.is_err());
        connections.connect().await.unwrap();
        let (_, fresh, _) = connections.get(1).await.unwrap();
        assert!(fresh > generation);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while primary.status().connected() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!primary.status().connected(), "the dropped one is closed");
        connections.close().await;
    }
}
