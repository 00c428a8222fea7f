//! [`QueueError`]: what went wrong when the queue could not do what was
//! asked. Publishing callers answer 503 (with `Retry-After`) for every one
//! of them: nothing was accepted.

/// Why the queue could not do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    /// The broker cannot be reached, or its connection or channel failed.
    #[error("RabbitMQ at {host} is unreachable: {reason}")]
    Unreachable {
        /// The broker's `host:port`.
        host: String,
        /// What failed.
        reason: String,
    },
    /// The broker did not confirm a message in time (a silent partition):
    /// the connection was dropped.
    #[error("RabbitMQ at {host} did not confirm within {}s", within.as_secs())]
    NoConfirm {
        /// The broker's `host:port`.
        host: String,
        /// The deadline.
        within: std::time::Duration,
    },
    /// The spool of a receiver is full (`[queue] spool_max`).
    #[error("the spool holds {0} jobs already ([queue] spool_max); RabbitMQ must come back first")]
    SpoolFull(usize),
    /// The broker refused a message (a negative confirm).
    #[error("RabbitMQ at {host} refused a message (nack)")]
    Refused {
        /// The broker's `host:port`.
        host: String,
    },
    /// A message reached no queue (its routing key names none).
    #[error(
        "a message to {exchange} with routing key {routing_key:?} could not be routed to any queue"
    )]
    Unroutable {
        /// The exchange published to.
        exchange: String,
        /// Its routing key.
        routing_key: String,
    },
    /// The broker could not declare an exchange or queue.
    #[error("cannot declare {what} on RabbitMQ at {host}: {reason}")]
    Topology {
        /// The broker's `host:port`.
        host: String,
        /// The exchange or queue.
        what: String,
        /// Why.
        reason: String,
    },
    /// The embedded store could not write or read its file.
    #[error("the store {path} failed: {reason}")]
    Store {
        /// The store's file.
        path: String,
        /// What failed (redb's description).
        reason: String,
    },
    /// The embedded store cannot write now (a full disk, a failing
    /// device); it tries again by itself and takes writes once it can.
    #[error("the store {path} cannot write now ({reason}); it tries again by itself")]
    Unwritable {
        /// The store's file.
        path: String,
        /// The error that stopped its writes.
        reason: String,
    },
    /// The embedded store is closed (the process is stopping).
    #[error("the store is closed")]
    Closed,
    /// The embedded store is open in another process (one at a time).
    #[error("the store {0} is open in another process (is purgehook already running?)")]
    InUse(String),
    /// The de-duplication store (Redis) could not be set up.
    #[error("cannot set up de-duplication: {0}")]
    Dedupe(String),
    /// A job could not be written in the wire format.
    #[error("a job could not be encoded: {0}")]
    Encode(String),
}
