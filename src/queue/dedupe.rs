//! De-duplication of deliveries. A sender that retries (or an attacker who
//! replays) sends the same delivery again: the same delivery id and body.
//! Its [`DeliveryKey`] is remembered for a window once its jobs are stored,
//! and a delivery whose key is remembered queues nothing.
//!
//! On the embedded store the key is stored in the same transaction as the
//! jobs (exact, and it survives a restart). On RabbitMQ the keys are kept
//! in Redis when `[dedupe] redis_url` is set (shared by every receiver),
//! else in the receiver's memory ([`Deduper`]): then a duplicate that
//! reaches another receiver, or arrives after a restart, is queued again —
//! harmless (a purge repeated), but not prevented.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;
use std::time::Duration;

use redis::AsyncCommands as _;
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use xxhash_rust::xxh3::xxh3_128;

/// A delivery's identity: the source, the sender's delivery id (when it
/// sends one) and the body, hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeliveryKey([u8; 32]);

impl DeliveryKey {
    /// The key of a delivery of `source`, with the sender's `delivery_id`
    /// (or none) and the raw `body`. Both count: a sender that reuses an id
    /// for another body (WooCommerce's ids repeat within a second) sends
    /// another delivery.
    pub fn new(source: &str, delivery_id: Option<&str>, body: &[u8]) -> DeliveryKey {
        let mut hash = Sha256::new();
        for part in [source.as_bytes(), delivery_id.unwrap_or("").as_bytes()] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        // The body (verified already, or from a token holder) by a fast
        // 128-bit hash: it tells bodies apart, which is all a key needs,
        // at a tenth of a SHA-256 of a large body.
        hash.update(xxh3_128(body).to_be_bytes());
        DeliveryKey(hash.finalize().into())
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Its first 64 bits: what memory keeps of it. A new delivery is
    /// taken for one of n remembered with odds of n/2⁶⁴ (5 × 10⁻¹⁴ at a
    /// million).
    pub(crate) fn short(&self) -> u64 {
        short_key(&self.0).unwrap_or(0)
    }

    fn redis_key(&self, prefix: &str) -> String {
        format!("{prefix}:dedupe:{}", hex::encode(self.0))
    }
}

/// What publishing a delivery's jobs did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// The jobs are stored.
    Stored,
    /// The delivery was accepted before: nothing was queued.
    Duplicate,
    /// The same delivery is being stored right now (by another request):
    /// nothing was queued; the sender should retry shortly.
    InProgress,
}

/// Where a RabbitMQ receiver remembers the deliveries it accepted.
pub enum Deduper {
    /// Nothing is remembered (`[dedupe] window = "0s"`).
    Off,
    /// In this process, at most [`MEMORY_KEYS`] keys.
    Memory(Mutex<Remembered>),
    /// In Redis, shared by every receiver.
    Redis {
        /// The connection (reconnects by itself).
        connection: redis::aio::ConnectionManager,
        /// Prefix of the keys.
        prefix: String,
    },
}

/// The most keys a receiver remembers in memory; the oldest are forgotten first.
pub const MEMORY_KEYS: usize = 100_000;

/// How long a delivery being stored holds its key before it counts as
/// abandoned (its request failed without saying).
const PENDING: Duration = Duration::from_secs(60);

/// The first 64 bits of a key's bytes (`None` when shorter).
pub(crate) fn short_key(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?))
}

/// Hashes a short key ([`DeliveryKey::short`]): its bits are random
/// already (a SHA-256's), so one multiplication spreads them.
#[derive(Default)]
pub(crate) struct ShortKeyHasher(u64);

impl Hasher for ShortKeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*byte)).wrapping_mul(FIBONACCI);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key.wrapping_mul(FIBONACCI);
    }
}

/// 2⁶⁴ divided by the golden ratio: multiplying by it spreads the bits.
const FIBONACCI: u64 = 0x9E37_79B9_7F4A_7C15;

/// Maps keyed by [`DeliveryKey::short`].
pub(crate) type ShortKeyMap<V> = HashMap<u64, V, BuildHasherDefault<ShortKeyHasher>>;

/// Keys remembered in memory, compactly (a receiver remembers up to
/// [`MEMORY_KEYS`]): each as its first 64 bits with its expiry in
/// milliseconds since the map was made and whether it is stored (or still
/// pending). About 7 MB at [`MEMORY_KEYS`] (it was 35 MB with whole keys,
/// SipHash and `Instant`s).
pub struct Remembered {
    epoch: Instant,
    keys: ShortKeyMap<Slot>,
    /// (expiry, key), in the order they were remembered.
    order: VecDeque<(u64, u64)>,
}

/// A remembered key's expiry (ms since the epoch) and state.
#[derive(Clone, Copy)]
struct Slot {
    expires_ms: u64,
    stored: bool,
}

impl Default for Remembered {
    fn default() -> Self {
        Remembered::new()
    }
}

impl Remembered {
    /// An empty memory.
    pub fn new() -> Remembered {
        Remembered {
            epoch: Instant::now(),
            keys: HashMap::default(),
            order: VecDeque::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Claims `key` for storing: `None` when it is free (now pending).
    fn claim(&mut self, key: DeliveryKey) -> Option<Published> {
        let now = self.now_ms();
        self.expire(now);
        let key = key.short();
        match self.keys.get(&key) {
            Some(slot) if slot.expires_ms > now && slot.stored => Some(Published::Duplicate),
            Some(slot) if slot.expires_ms > now => Some(Published::InProgress),
            _ => {
                self.remember(key, false, now + PENDING.as_millis() as u64);
                None
            }
        }
    }

    fn remember(&mut self, key: u64, stored: bool, expires_ms: u64) {
        if self.keys.len() >= MEMORY_KEYS
            && let Some((_, oldest)) = self.order.pop_front()
        {
            self.keys.remove(&oldest);
        }
        self.keys.insert(key, Slot { expires_ms, stored });
        self.order.push_back((expires_ms, key));
    }

    /// Remembers `key` as stored for `window`.
    fn stored(&mut self, key: DeliveryKey, window: Duration) {
        let expires_ms = self.now_ms() + window.as_millis() as u64;
        self.remember(key.short(), true, expires_ms);
    }

    /// Forgets `key` (its storing failed).
    fn release(&mut self, key: DeliveryKey) {
        self.keys.remove(&key.short());
    }

    fn expire(&mut self, now: u64) {
        while let Some((expires, key)) = self.order.front().copied() {
            if expires > now {
                break;
            }
            self.order.pop_front();
            if self
                .keys
                .get(&key)
                .is_some_and(|slot| slot.expires_ms <= now)
            {
                self.keys.remove(&key);
            }
        }
    }
}

impl Deduper {
    /// Remembers in Redis at `url`, or in memory without one.
    pub async fn connect(
        url: Option<&str>,
        prefix: &str,
        window: Duration,
    ) -> Result<Deduper, redis::RedisError> {
        if window.is_zero() {
            return Ok(Deduper::Off);
        }
        let Some(url) = url else {
            return Ok(Deduper::Memory(Mutex::new(Remembered::new())));
        };
        let client = redis::Client::open(url)?;
        let connection = redis::aio::ConnectionManager::new(client).await?;
        Ok(Deduper::Redis {
            connection,
            prefix: prefix.to_string(),
        })
    }

    /// Claims `key` before its jobs are stored: `None` when the delivery is
    /// new (and now pending), else what it is. When Redis cannot be asked,
    /// the delivery counts as new (a duplicate purge, never a lost one).
    pub async fn claim(&self, key: DeliveryKey) -> Option<Published> {
        match self {
            Deduper::Off => None,
            Deduper::Memory(remembered) => lock(remembered).claim(key),
            Deduper::Redis { connection, prefix } => {
                let name = key.redis_key(prefix);
                let mut connection = connection.clone();
                let options = redis::SetOptions::default()
                    .conditional_set(redis::ExistenceCheck::NX)
                    .with_expiration(redis::SetExpiry::EX(PENDING.as_secs()));
                let claimed: redis::RedisResult<Option<String>> =
                    connection.set_options(&name, "pending", options).await;
                match claimed {
                    Ok(Some(_)) => None,
                    Ok(None) => match connection.get::<_, Option<String>>(&name).await {
                        Ok(Some(state)) if state == "done" => Some(Published::Duplicate),
                        Ok(Some(_)) => Some(Published::InProgress),
                        Ok(None) | Err(_) => None,
                    },
                    Err(error) => {
                        tracing::warn!(%error, "cannot reach Redis to de-duplicate; the delivery counts as new");
                        None
                    }
                }
            }
        }
    }

    /// Settles a claim: remembered for `window` once stored, released when
    /// storing failed (so that the sender's retry is taken).
    pub async fn settle(&self, key: DeliveryKey, stored: bool, window: Duration) {
        match self {
            Deduper::Off => {}
            Deduper::Memory(remembered) => {
                let mut remembered = lock(remembered);
                if stored {
                    remembered.stored(key, window);
                } else {
                    remembered.release(key);
                }
            }
            Deduper::Redis { connection, prefix } => {
                let name = key.redis_key(prefix);
                let mut connection = connection.clone();
                let done: redis::RedisResult<()> = if stored {
                    connection
                        .set_ex(&name, "done", window.as_secs().max(1))
                        .await
                } else {
                    connection.del(&name).await
                };
                if let Err(error) = done {
                    tracing::warn!(%error, "cannot record a delivery in Redis; a replay of it would be queued again");
                }
            }
        }
    }
}

fn lock(remembered: &Mutex<Remembered>) -> std::sync::MutexGuard<'_, Remembered> {
    remembered.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_depends_on_source_delivery_id_and_body() {
        let key = DeliveryKey::new("gh", Some("d1"), b"{}");
        assert_eq!(key, DeliveryKey::new("gh", Some("d1"), b"{}"));
        assert_ne!(key, DeliveryKey::new("gh", Some("d2"), b"{}"));
        assert_ne!(key, DeliveryKey::new("gh", Some("d1"), b"{ }"));
        assert_ne!(key, DeliveryKey::new("wp", Some("d1"), b"{}"));
        // No ambiguity between the parts.
        assert_ne!(
            DeliveryKey::new("ab", Some("c"), b""),
            DeliveryKey::new("a", Some("bc"), b"")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn memory_remembers_for_the_window_and_forgets_failures() {
        let deduper = Deduper::Memory(Mutex::new(Remembered::new()));
        let key = DeliveryKey::new("gh", Some("d1"), b"{}");
        let window = Duration::from_secs(3600);
        assert_eq!(deduper.claim(key).await, None);
        assert_eq!(deduper.claim(key).await, Some(Published::InProgress));
        deduper.settle(key, false, window).await;
        assert_eq!(
            deduper.claim(key).await,
            None,
            "a failed store frees the key"
        );
        deduper.settle(key, true, window).await;
        assert_eq!(deduper.claim(key).await, Some(Published::Duplicate));
        tokio::time::advance(window + Duration::from_secs(1)).await;
        assert_eq!(deduper.claim(key).await, None, "forgotten after the window");
    }

    #[tokio::test(start_paused = true)]
    async fn memory_keeps_at_most_its_bound_and_forgets_the_oldest_first() {
        let mut remembered = Remembered::new();
        let window = Duration::from_secs(3600);
        let key = |n: usize| DeliveryKey::new("gh", Some(&n.to_string()), b"{}");
        for n in 0..MEMORY_KEYS + 10 {
            assert_eq!(remembered.claim(key(n)), None);
            remembered.stored(key(n), window);
        }
        assert!(remembered.keys.len() <= MEMORY_KEYS);
        assert!(remembered.order.len() <= 2 * MEMORY_KEYS);
        let newest = key(MEMORY_KEYS + 9);
        assert_eq!(remembered.claim(newest), Some(Published::Duplicate));
        assert_eq!(remembered.claim(key(0)), None, "the oldest is forgotten");
    }
}
