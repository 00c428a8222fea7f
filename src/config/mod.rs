//! The configuration: the [`Settings`] tree, and [`load`], which reads it from
//! TOML (defaults → file → `PURGEHOOK__SECTION__KEY` overrides), types every
//! section, resolves secret references, and reports every error it finds at
//! once, each naming the file and the key path.
//!
//! Rules are compiled by [`crate::rules`]; this module only checks their
//! shape, so that `check` can list config and rule errors together.

mod env_override;
mod secret;
pub mod values;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::{Table, Value};

pub use secret::Secret;
pub use values::{Rate, parse_duration};

use crate::provider::ProviderSettings;

/// The default configuration file, used when neither `--config` nor
/// `PURGEHOOK_CONFIG` names one.
pub const DEFAULT_CONFIG_PATH: &str = "config/purgehook.toml";

/// Everything purgehook is configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The file the settings came from (for messages).
    pub origin: PathBuf,
    /// `[server]`
    pub server: ServerSettings,
    /// `[queue]`
    pub queue: QueueSettings,
    /// `[worker]`
    pub worker: WorkerSettings,
    /// `[log]`
    pub log: LogSettings,
    /// `[sources.<id>]`
    pub sources: BTreeMap<String, SourceSettings>,
    /// `[targets.<id>]`
    pub targets: BTreeMap<String, TargetSettings>,
    /// `[[rules]]`, in file order.
    pub rules: Vec<RuleSettings>,
}

/// `[server]`: the HTTP receiver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on (`127.0.0.1:8080`; port 0 picks a free port).
    pub listen: String,
    /// Largest accepted webhook body; larger ones get 413.
    pub max_body_bytes: usize,
    /// Bearer tokens for `/api/v1/*`.
    pub api_tokens: Vec<Secret>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 1024 * 1024,
            api_tokens: Vec::new(),
        }
    }
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
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSettings {
    /// `embedded` or `amqp`.
    pub backend: QueueBackendKind,
    /// Directory of the embedded store.
    pub path: PathBuf,
    /// AMQP URL (amqp only).
    pub url: String,
    /// Name prefix of exchanges and queues (amqp only).
    pub prefix: String,
    /// `quorum` or `classic` (amqp only).
    pub queue_type: AmqpQueueType,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            backend: QueueBackendKind::Embedded,
            path: PathBuf::from("data"),
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            prefix: "purgehook".into(),
            queue_type: AmqpQueueType::Quorum,
        }
    }
}

/// `[worker]`: merging and retry defaults for every target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerSettings {
    /// Coalescing window: how long a target collects jobs before calling.
    #[serde(deserialize_with = "values::duration")]
    pub window: Duration,
    /// Attempts before a job is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with full jitter.
    #[serde(deserialize_with = "values::duration")]
    pub backoff: Duration,
    /// Largest retry delay.
    #[serde(deserialize_with = "values::duration")]
    pub max_backoff: Duration,
    /// Most jobs merged into one batch.
    pub max_batch: usize,
    /// Where a `purgehook worker` process serves `/healthz`, `/readyz` and
    /// `/metrics` (none when absent).
    pub listen: Option<String>,
    /// On stop, how long a provider call in progress (an async job being
    /// polled, say) may go on before it is cancelled and queued again.
    #[serde(deserialize_with = "values::duration")]
    pub stop_grace: Duration,
    /// Retryable failures in a row after which a target stops calling its
    /// provider for `breaker_cooldown` (0 turns the breaker off).
    pub breaker_failures: u32,
    /// How long an open breaker waits before one probe call; doubles after
    /// each failed probe, up to `max_backoff`.
    #[serde(deserialize_with = "values::duration")]
    pub breaker_cooldown: Duration,
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
        }
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
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
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

/// The signature scheme of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// GitHub: `X-Hub-Signature-256`.
    Github,
    /// Standard Webhooks: `webhook-id` / `-timestamp` / `-signature`.
    Standard,
    /// The WP Webhooks plugin: `X-WP-Webhook-Signature`.
    WpWebhooks,
    /// WooCommerce: `X-WC-Webhook-Signature`.
    Woocommerce,
}

impl SourceKind {
    /// The name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Github => "github",
            SourceKind::Standard => "standard",
            SourceKind::WpWebhooks => "wp-webhooks",
            SourceKind::Woocommerce => "woocommerce",
        }
    }
}

/// `[sources.<id>]`: an inbound endpoint `POST /hooks/<id>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    /// The signature scheme.
    pub kind: SourceKind,
    /// Accepted secrets; several allow rotation.
    pub secrets: Vec<Secret>,
    /// Largest accepted clock difference for timestamped schemes.
    #[serde(default = "default_tolerance", deserialize_with = "values::duration")]
    pub tolerance: Duration,
}

fn default_tolerance() -> Duration {
    Duration::from_secs(300)
}

/// `[targets.<id>]`: a provider instance and how the worker treats it.
#[derive(Debug, Clone)]
pub struct TargetSettings {
    /// Provider-specific settings (API, credentials).
    pub provider: ProviderSettings,
    /// Coalescing window; `[worker] window` when absent.
    pub window: Option<Duration>,
    /// At most N calls per period.
    pub rate: Option<Rate>,
    /// Attempts before dead-lettering; `[worker] max_attempts` when absent.
    pub max_attempts: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetCommon {
    /// Typed here so a non-string is reported; dispatched on before typing.
    #[serde(rename = "provider")]
    _provider: String,
    #[serde(default, deserialize_with = "values::optional_duration")]
    window: Option<Duration>,
    #[serde(default)]
    rate: Option<Rate>,
    #[serde(default)]
    max_attempts: Option<u32>,
}

const TARGET_COMMON_KEYS: [&str; 4] = ["provider", "window", "rate", "max_attempts"];

/// One `[[rules]]` entry, shape-checked; compiled by [`crate::rules`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSettings {
    /// A human name, used in every message about the rule.
    pub name: String,
    /// The source id the rule listens to.
    pub source: String,
    /// Glob on the event type (`push`, `post.*`); `*` when absent.
    #[serde(default = "match_all")]
    pub event: String,
    /// A condition expression; the rule applies only when it is true.
    #[serde(default)]
    pub when: Option<String>,
    /// The actions; each a table with `target` and the action's fields.
    pub actions: Vec<Table>,
}

fn match_all() -> String {
    "*".into()
}

/// One problem in the configuration, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted key path (`targets.blog.window`), or empty for the whole file.
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl ConfigError {
    /// Builds an error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a configuration file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors {
    /// The file.
    pub file: PathBuf,
    /// The problems, in the order found.
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.errors.len();
        write!(
            f,
            "{} has {count} error{}:",
            self.file.display(),
            if count == 1 { "" } else { "s" }
        )?;
        for error in &self.errors {
            write!(f, "\n  {}: {error}", self.file.display())?;
        }
        Ok(())
    }
}

/// Loads the file at `path`, applies the process's `PURGEHOOK__` overrides,
/// and types it. Every error found is reported.
pub fn load(path: &Path) -> Result<Settings, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
        file: path.to_path_buf(),
        errors: vec![ConfigError::new("", format!("cannot read the file: {e}"))],
    })?;
    from_toml(&text, path, std::env::vars())
}

/// Types a configuration given as TOML text, with overrides from `vars`.
/// `origin` only names the file in messages.
pub fn from_toml(
    text: &str,
    origin: &Path,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, ConfigErrors> {
    let fail = |errors| ConfigErrors {
        file: origin.to_path_buf(),
        errors,
    };
    let mut table: Table = toml::from_str(text)
        .map_err(|e| fail(vec![ConfigError::new("", format!("not valid TOML: {e}"))]))?;
    env_override::apply(&mut table, vars).map_err(|e| fail(vec![ConfigError::new("", e)]))?;

    let mut errors = Vec::new();
    let mut take = |key: &str| table.remove(key);
    let server: Option<ServerSettings> = section(take("server"), "server", &mut errors);
    for (index, token) in server.iter().flat_map(|s| s.api_tokens.iter()).enumerate() {
        if token.expose().trim().len() < 16 {
            errors.push(ConfigError::new(
                format!("server.api_tokens[{index}]"),
                format!(
                    "too short (the {} value): use at least 16 random characters",
                    token.origin()
                ),
            ));
        }
    }
    let queue = section(take("queue"), "queue", &mut errors);
    let worker = section(take("worker"), "worker", &mut errors);
    let log = section(take("log"), "log", &mut errors);
    let sources = keyed_sections(take("sources"), "sources", &mut errors, |v, p, e| {
        typed(v, p, e)
    });
    let targets = keyed_sections(take("targets"), "targets", &mut errors, target);
    let rules = rule_list(take("rules"), &mut errors);
    for unknown in table.keys() {
        errors.push(ConfigError::new(
            unknown.as_str(),
            "unknown section; expected one of server, queue, worker, log, sources, targets, rules",
        ));
    }
    if errors.is_empty() {
        Ok(Settings {
            origin: origin.to_path_buf(),
            server: server.unwrap_or_default(),
            queue: queue.unwrap_or_default(),
            worker: worker.unwrap_or_default(),
            log: log.unwrap_or_default(),
            sources,
            targets,
            rules,
        })
    } else {
        Err(fail(errors))
    }
}

/// Types one value, recording every error found with its full key path.
///
/// serde stops at a table's first bad key; to report the others in the same
/// run, a table is typed again without each key that failed (or was unknown),
/// until it passes or an error cannot be stepped over.
fn typed<T: DeserializeOwned>(
    value: Value,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    let mut value = value;
    let mut set_aside: Vec<String> = Vec::new();
    let mut items_set_aside: BTreeMap<String, usize> = BTreeMap::new();
    while set_aside.len() + items_set_aside.len() < 32 {
        let error = match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(typed) if set_aside.is_empty() && items_set_aside.is_empty() => return Some(typed),
            Ok(_) => return None,
            Err(error) => error,
        };
        let inner = error.path().to_string();
        let message = error.into_inner().message().to_string();
        let missing = backticked(&message, "missing field `");
        if missing.is_some_and(|key| set_aside.iter().any(|k| k == key)) {
            // Only reported because its bad value was set aside above.
            return None;
        }
        let Value::Table(table) = &mut value else {
            errors.push(ConfigError::new(joined(path, &inner), message));
            return None;
        };
        let (key, item) = match inner.as_str() {
            "" | "." => (
                backticked(&message, "unknown field `").unwrap_or_default(),
                None,
            ),
            nested => split_key_path(nested),
        };
        let key = key.to_string();
        match (item, table.get_mut(&key)) {
            (Some(index), Some(Value::Array(items))) if index < items.len() => {
                // Elements are typed in order: those set aside were all before.
                let before = items_set_aside.entry(key.clone()).or_default();
                let original = index + *before;
                let rest = &inner[inner.find(']').map_or(inner.len(), |end| end + 1)..];
                errors.push(ConfigError::new(
                    format!("{path}.{key}[{original}]{rest}"),
                    message,
                ));
                items.remove(index);
                *before += 1;
            }
            (_, Some(_)) => {
                errors.push(ConfigError::new(joined(path, &inner), message));
                table.remove(&key);
                set_aside.push(key);
            }
            (_, None) => {
                errors.push(ConfigError::new(joined(path, &inner), message));
                return None;
            }
        }
    }
    None
}

/// A serde path's first key and, when it indexes into it, the index:
/// `secrets[1]` → (`secrets`, 1); `base_url` → (`base_url`, none).
fn split_key_path(nested: &str) -> (&str, Option<usize>) {
    let key_end = nested.find(['.', '[']).unwrap_or(nested.len());
    let key = &nested[..key_end];
    let index = nested[key_end..]
        .strip_prefix('[')
        .and_then(|rest| rest.split(']').next())
        .and_then(|digits| digits.parse().ok());
    (key, index)
}

/// The text between `prefix` and the next backtick in a serde message.
fn backticked<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let start = message.find(prefix)? + prefix.len();
    let length = message[start..].find('`')?;
    Some(&message[start..start + length])
}

/// `path` and a serde path inside it, as one key path.
fn joined(path: &str, inner: &str) -> String {
    if inner == "." || inner.is_empty() {
        path.to_string()
    } else if inner.starts_with('[') {
        format!("{path}{inner}")
    } else {
        format!("{path}.{inner}")
    }
}

fn section<T: DeserializeOwned + Default>(
    value: Option<Value>,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    match value {
        None => Some(T::default()),
        Some(value) => typed(value, path, errors),
    }
}

fn keyed_sections<T>(
    value: Option<Value>,
    path: &str,
    errors: &mut Vec<ConfigError>,
    parse: impl Fn(Value, &str, &mut Vec<ConfigError>) -> Option<T>,
) -> BTreeMap<String, T> {
    let mut parsed = BTreeMap::new();
    let Some(value) = value else {
        return parsed;
    };
    let Value::Table(table) = value else {
        errors.push(ConfigError::new(path, "expected a table of named entries"));
        return parsed;
    };
    for (id, entry) in table {
        let entry_path = format!("{path}.{id}");
        if !valid_id(&id) {
            errors.push(ConfigError::new(
                entry_path.clone(),
                "ids use only letters, digits, '-' and '_'",
            ));
        }
        if let Some(item) = parse(entry, &entry_path, errors) {
            parsed.insert(id, item);
        }
    }
    parsed
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn target(value: Value, path: &str, errors: &mut Vec<ConfigError>) -> Option<TargetSettings> {
    let Value::Table(mut table) = value else {
        errors.push(ConfigError::new(path, "expected a table"));
        return None;
    };
    let mut common = Table::new();
    for key in TARGET_COMMON_KEYS {
        if let Some(value) = table.remove(key) {
            common.insert(key.to_string(), value);
        }
    }
    if !common.contains_key("provider") {
        errors.push(ConfigError::new(
            format!("{path}.provider"),
            format!(
                "missing; expected one of {}",
                ProviderSettings::NAMES.join(", ")
            ),
        ));
        return None;
    }
    let provider_name = common
        .get("provider")
        .and_then(Value::as_str)
        .map(str::to_string);
    let common: Option<TargetCommon> = typed(Value::Table(common), path, errors);
    let provider = ProviderSettings::parse(&provider_name?, table, path, errors)?;
    let common = common?;
    Some(TargetSettings {
        provider,
        window: common.window,
        rate: common.rate,
        max_attempts: common.max_attempts,
    })
}

fn rule_list(value: Option<Value>, errors: &mut Vec<ConfigError>) -> Vec<RuleSettings> {
    let Some(value) = value else {
        return Vec::new();
    };
    let Value::Array(entries) = value else {
        errors.push(ConfigError::new(
            "rules",
            "expected an array of tables ([[rules]])",
        ));
        return Vec::new();
    };
    entries
        .into_iter()
        .enumerate()
        .filter_map(|(index, entry)| typed(entry, &format!("rules[{index}]"), errors))
        .collect()
}

/// Parses a value with serde into `T`, naming `path` in the error; for the
/// provider modules, which type their own part of a target table.
pub fn typed_section<T: DeserializeOwned>(
    table: Table,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    typed(Value::Table(table), path, errors)
}

#[cfg(test)]
mod tests;
