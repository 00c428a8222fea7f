//! The fixed sections of the configuration — `[server]`, `[queue]`,
//! `[worker]`, `[log]` — with their defaults, each read by [`Fields`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::fields::Fields;
use crate::secret::Secret;
use crate::units::HumaneDuration;

/// `[server]`: the HTTP receiver.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Address to listen on (`127.0.0.1:8080`; port 0 picks a free port).
    pub listen: String,
    /// Largest accepted webhook body; larger ones get 413.
    pub max_body_bytes: usize,
    /// Bearer tokens for `/api/v1/*`.
    pub api_tokens: Vec<Secret>,
    /// How long a request's body may take to arrive (408 beyond).
    pub body_timeout: Duration,
    /// How long a new connection may take to send its request's head.
    pub header_timeout: Duration,
    /// Most connections the receiver holds open at once (all clients
    /// together; kept below the process's file-descriptor limit).
    pub max_connections: usize,
    /// Most requests one client address may have in progress at once
    /// (429 beyond; 0 turns the limit off).
    pub max_requests_per_client: usize,
    /// Most connections one client address may hold open at once (closed
    /// at once beyond; 0 turns the limit off).
    pub max_connections_per_client: usize,
    /// Failed API authentications after which a client address is locked
    /// out of the API for `api_lockout` (0 turns the lockout off).
    pub api_auth_failures: u32,
    /// How long failures are remembered, and how long a lockout lasts.
    pub api_lockout: Duration,
    /// A second address serving the status page without a token (bind it
    /// to a private address).
    pub status_listen: Option<String>,
}

/// The shortest API token accepted.
pub const MIN_TOKEN_CHARS: usize = 16;

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 1024 * 1024,
            api_tokens: Vec::new(),
            body_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(5),
            max_connections: 10_000,
            max_requests_per_client: 64,
            max_connections_per_client: 256,
            api_auth_failures: 10,
            api_lockout: Duration::from_secs(60),
            status_listen: None,
        }
    }
}

impl ServerSettings {
    pub(super) fn read(mut fields: Fields<'_>) -> Self {
        let d = Self::default();
        let listen = fields.value_or("listen", d.listen);
        let max_body_bytes = fields.value_or("max_body_bytes", d.max_body_bytes);
        let api_tokens = fields.secrets("api_tokens").unwrap_or_default();
        for (index, token) in api_tokens.iter().enumerate() {
            if token.expose().trim().chars().count() < MIN_TOKEN_CHARS {
                fields.problem(
                    &format!("api_tokens[{index}]"),
                    format!(
                        "too short (the {} value): use at least {MIN_TOKEN_CHARS} random characters",
                        token.origin()
                    ),
                );
            }
        }
        let body_timeout = positive_duration(&mut fields, "body_timeout", d.body_timeout);
        let header_timeout = positive_duration(&mut fields, "header_timeout", d.header_timeout);
        let max_connections = fields.value_or("max_connections", d.max_connections);
        if max_connections == 0 {
            fields.problem("max_connections", "must be at least 1");
        }
        let settings = Self {
            listen,
            max_body_bytes,
            api_tokens,
            body_timeout,
            header_timeout,
            max_connections: max_connections.max(1),
            max_requests_per_client: fields
                .value_or("max_requests_per_client", d.max_requests_per_client),
            max_connections_per_client: fields
                .value_or("max_connections_per_client", d.max_connections_per_client),
            api_auth_failures: fields.value_or("api_auth_failures", d.api_auth_failures),
            api_lockout: positive_duration(&mut fields, "api_lockout", d.api_lockout),
            status_listen: fields.value_or("status_listen", d.status_listen),
        };
        let _ = fields.finish();
        settings
    }
}

/// A duration key that must be above zero; `default` when absent or invalid.
fn positive_duration(fields: &mut Fields<'_>, key: &'static str, default: Duration) -> Duration {
    let value = duration_or(fields, key, default);
    if value.is_zero() {
        fields.problem(key, "must be longer than 0s");
        return default;
    }
    value
}

/// Which queue backend carries the jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueBackendKind {
    /// The on-disk store in `[queue] path` (default).
    Embedded,
    /// RabbitMQ at `[queue] url`.
    Amqp,
}

/// RabbitMQ queue type for the per-target queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AmqpQueueType {
    /// Replicated quorum queues (default).
    Quorum,
    /// Classic queues.
    Classic,
}

impl AmqpQueueType {
    /// The name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            AmqpQueueType::Quorum => "quorum",
            AmqpQueueType::Classic => "classic",
        }
    }
}

/// `[queue]`: where jobs wait.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// `embedded` or `amqp`.
    pub backend: QueueBackendKind,
    /// Directory of the embedded store (on amqp: of a receiver's spool).
    pub path: PathBuf,
    /// The broker's nodes: one AMQP URL, or several (a cluster) tried in
    /// turn (amqp only).
    pub urls: Vec<String>,
    /// Name prefix of exchanges and queues (amqp only).
    pub prefix: String,
    /// `quorum` or `classic` (amqp only).
    pub queue_type: AmqpQueueType,
    /// Whether a receiver keeps the jobs RabbitMQ cannot take in a local
    /// durable spool, and forwards them later (amqp only).
    pub spool: bool,
    /// The most jobs a spool holds; beyond, deliveries get 503.
    pub spool_max: usize,
    /// Connections to the broker's node the publishing channels are
    /// spread over (amqp only).
    pub publish_connections: usize,
}

/// One value or a list of them (`url = "…"` or `url = ["…", "…"]`).
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            backend: QueueBackendKind::Embedded,
            path: PathBuf::from("data"),
            urls: vec!["amqp://guest:guest@127.0.0.1:5672/%2f".into()],
            prefix: "purgehook".into(),
            queue_type: AmqpQueueType::Quorum,
            spool: true,
            spool_max: 100_000,
            publish_connections: 1,
        }
    }
}

impl QueueSettings {
    pub(super) fn read(mut fields: Fields<'_>) -> Self {
        let d = Self::default();
        let urls = match fields.value_or("url", OneOrMany::Many(d.urls.clone())) {
            OneOrMany::One(url) => vec![url],
            OneOrMany::Many(urls) if urls.is_empty() => {
                fields.problem("url", "names no node; give one URL or a list of them");
                d.urls
            }
            OneOrMany::Many(urls) => urls,
        };
        let settings = Self {
            backend: fields.value_or("backend", d.backend),
            path: fields.value_or("path", d.path),
            urls,
            prefix: fields.value_or("prefix", d.prefix),
            queue_type: fields.value_or("queue_type", d.queue_type),
            spool: fields.value_or("spool", d.spool),
            spool_max: fields.value_or("spool_max", d.spool_max),
            publish_connections: publish_connections(&mut fields, d.publish_connections),
        };
        let _ = fields.finish();
        settings
    }
}

/// The most publishing connections.
const MAX_PUBLISH_CONNECTIONS: usize = 64;

fn publish_connections(fields: &mut Fields<'_>, default: usize) -> usize {
    let value = fields.value_or("publish_connections", default);
    if (1..=MAX_PUBLISH_CONNECTIONS).contains(&value) {
        value
    } else {
        fields.problem(
            "publish_connections",
            format!("must be between 1 and {MAX_PUBLISH_CONNECTIONS}, got {value}"),
        );
        default
    }
}

/// `[worker]`: merging and retry defaults for every target.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Coalescing window: how long a target collects jobs before calling.
    pub window: Duration,
    /// Attempts before a job is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with full jitter.
    pub backoff: Duration,
    /// Largest retry delay.
    pub max_backoff: Duration,
    /// Most jobs merged into one batch.
    pub max_batch: usize,
    /// Where a `purgehook worker` process serves `/healthz`, `/readyz` and
    /// `/metrics` (none when absent).
    pub listen: Option<String>,
    /// On stop, how long a provider call in progress (an async job being
    /// polled, say) may go on before it is cancelled and queued again.
    pub stop_grace: Duration,
    /// Retryable failures in a row after which a target stops calling its
    /// provider for `breaker_cooldown` (0 turns the breaker off).
    pub breaker_failures: u32,
    /// How long an open breaker waits before one probe call; doubles after
    /// each failed probe, up to `max_backoff`.
    pub breaker_cooldown: Duration,
    /// How long a 429 that gives no `Retry-After` holds a target's calls,
    /// when the target sets no `rate` (whose period is used then).
    pub rate_limited_wait: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(1),
            max_attempts: 8,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            max_batch: 1000,
            listen: None,
            stop_grace: Duration::from_secs(10),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(30),
            rate_limited_wait: Duration::from_secs(30),
        }
    }
}

/// The largest `max_batch`: the broker's prefetch (twice `max_batch`, at
/// most this) is a 16-bit count.
pub const MAX_BATCH: usize = u16::MAX as usize;

fn max_batch(fields: &mut Fields<'_>, default: usize) -> usize {
    let value = fields.value_or("max_batch", default);
    if (1..=MAX_BATCH).contains(&value) {
        value
    } else {
        fields.problem(
            "max_batch",
            format!("must be between 1 and {MAX_BATCH}, got {value}"),
        );
        default
    }
}

/// A duration key of `fields`; `default` when absent or invalid.
fn duration_or(fields: &mut Fields<'_>, key: &'static str, default: Duration) -> Duration {
    fields.value_or(key, HumaneDuration(default)).0
}

impl WorkerSettings {
    pub(super) fn read(mut fields: Fields<'_>) -> Self {
        let d = Self::default();
        let settings = Self {
            window: duration_or(&mut fields, "window", d.window),
            max_attempts: fields.value_or("max_attempts", d.max_attempts),
            backoff: duration_or(&mut fields, "backoff", d.backoff),
            max_backoff: duration_or(&mut fields, "max_backoff", d.max_backoff),
            max_batch: max_batch(&mut fields, d.max_batch),
            listen: fields.value_or("listen", d.listen),
            stop_grace: duration_or(&mut fields, "stop_grace", d.stop_grace),
            breaker_failures: fields.value_or("breaker_failures", d.breaker_failures),
            breaker_cooldown: duration_or(&mut fields, "breaker_cooldown", d.breaker_cooldown),
            rate_limited_wait: duration_or(&mut fields, "rate_limited_wait", d.rate_limited_wait),
        };
        let _ = fields.finish();
        settings
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (default).
    Pretty,
    /// One JSON object per line.
    Json,
}

/// `[log]`: telemetry output.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// `pretty` or `json`.
    pub format: LogFormat,
    /// A tracing filter (`info`, `purgehook=debug`); `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            level: "info".into(),
        }
    }
}

impl LogSettings {
    pub(super) fn read(mut fields: Fields<'_>) -> Self {
        let d = Self::default();
        let settings = Self {
            format: fields.value_or("format", d.format),
            level: fields.value_or("level", d.level),
        };
        if let Err(error) = tracing_subscriber::EnvFilter::try_new(&settings.level) {
            fields.problem(
                "level",
                format!("not a tracing filter like \"info\" or \"purgehook=debug,info\": {error}"),
            );
        }
        let _ = fields.finish();
        settings
    }
}

/// `[dedupe]`: how deliveries sent again (retries, replays) are recognized.
#[derive(Debug, Clone)]
pub struct DedupeSettings {
    /// How long an accepted delivery is remembered (0 turns it off).
    pub window: Duration,
    /// Redis, to share what receivers on RabbitMQ remember (else each
    /// remembers in its own memory).
    pub redis_url: Option<String>,
}

impl Default for DedupeSettings {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(24 * 3600),
            redis_url: None,
        }
    }
}

impl DedupeSettings {
    pub(super) fn read(mut fields: Fields<'_>) -> Self {
        let d = Self::default();
        let settings = Self {
            window: duration_or(&mut fields, "window", d.window),
            redis_url: fields.value_or("redis_url", d.redis_url),
        };
        if let Some(problem) = settings.redis_url.as_deref().and_then(redis_url_problem) {
            fields.problem("redis_url", problem);
        }
        let _ = fields.finish();
        settings
    }
}

/// What is wrong with a Redis URL, if anything (never naming its password).
fn redis_url_problem(url: &str) -> Option<String> {
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "redis" | "rediss" | "redis+unix") => None,
        _ => Some("expected a redis:// URL, e.g. redis://127.0.0.1:6379/0".into()),
    }
}
