//! Provider adapters: the [`Provider`] trait every cache API implements, the
//! classification of their failures ([`ProviderError`]), and the registry
//! ([`ProviderSettings`]) that parses `[targets.<id>]` tables, tells what each
//! provider supports ([`Capabilities`]) and builds the adapters.

mod bigscoots;
mod brilliant_directories;
mod cache_tasks;
mod cloudflare;
mod fastly;
mod http;
mod http_api;
mod log;
mod oracle_ocm;
mod poll;
mod varnish;
mod wpengine;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use toml::Table;

use crate::config::ConfigError;
use crate::job::{Action, ActionKind};

pub use http::{MAX_RETRY_AFTER, client, retry_after};

/// A cache provider's API, bound to one target.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Performs one call for `action`, which the coalescer already fitted to
    /// [`Capabilities`]. Returns once the provider accepted it.
    async fn purge(&self, action: &Action) -> Result<(), ProviderError>;
}

/// How a provider call failed, which decides what the worker does next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Worth trying again later (5xx, timeouts, connection failures).
    #[error("{message}")]
    Retryable {
        /// What happened, with the provider's own message when it gave one.
        message: String,
    },
    /// The provider asked us to slow down.
    #[error("{message}")]
    RateLimited {
        /// When the provider said to come back, if it said.
        retry_after: Option<Duration>,
        /// What happened.
        message: String,
    },
    /// Trying again cannot help (bad credentials, invalid request…).
    #[error("{message}")]
    Permanent {
        /// What happened, with the provider's own message.
        message: String,
    },
}

/// What a provider accepts, known from its settings alone.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    /// The action kinds it can perform.
    pub kinds: &'static [ActionKind],
    /// Documented per-call item limits, by kind.
    pub max_items: &'static [(ActionKind, usize)],
    /// Provider-specific validation of an action's values (scope names,
    /// command names), run when rules load and before jobs are queued.
    pub check: fn(&Action) -> Result<(), String>,
    /// A documented rate limit, applied to the calls it selects when the
    /// target sets no `rate` of its own.
    pub default_rate: Option<DefaultRate>,
}

/// A provider's documented rate limit for some of its calls.
#[derive(Debug, Clone, Copy)]
pub struct DefaultRate {
    /// The limit.
    pub rate: crate::config::Rate,
    /// Which calls it applies to.
    pub applies_to: fn(&Action) -> bool,
}

/// Checks that a `base_url` is http(s), recording an error under `path`.
pub(crate) fn require_http(
    url: &url::Url,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<()> {
    if matches!(url.scheme(), "http" | "https") && url.has_host() {
        Some(())
    } else {
        errors.push(ConfigError::new(
            format!("{path}.base_url"),
            format!("expected an http(s) URL, got {url}"),
        ));
        None
    }
}

impl Capabilities {
    /// Whether `kind` is supported.
    pub fn supports(&self, kind: ActionKind) -> bool {
        self.kinds.contains(&kind)
    }

    /// The per-call item limit for `kind`, if the provider documents one.
    pub fn max_items(&self, kind: ActionKind) -> Option<usize> {
        self.max_items
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, n)| *n)
    }

    /// Checks that `action` can be sent to this provider; names the problem.
    pub fn accepts(&self, action: &Action) -> Result<(), String> {
        if !self.supports(action.kind()) {
            return Err(format!(
                "action kind {} is not supported; this provider supports {}",
                action.kind(),
                self.kinds
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        action.validate().map_err(|e| e.to_string())?;
        (self.check)(action)
    }
}

fn accept_any(_: &Action) -> Result<(), String> {
    Ok(())
}

/// The provider part of a `[targets.<id>]` table.
#[derive(Debug, Clone)]
pub enum ProviderSettings {
    /// BigScoots Cache (WordPress REST).
    Bigscoots(bigscoots::Settings),
    /// Brilliant Directories' `refreshCache`.
    BrilliantDirectories(brilliant_directories::Settings),
    /// Oracle Content Management's site cache refresh.
    OracleOcm(oracle_ocm::Settings),
    /// The cache task API.
    CacheTasks(cache_tasks::Settings),
    /// Cloudflare's `purge_cache`.
    Cloudflare(cloudflare::Settings),
    /// Fastly's purge API.
    Fastly(fastly::Settings),
    /// Varnish `PURGE`/`BAN`.
    Varnish(varnish::Settings),
    /// Any HTTP API, by templates.
    Http(http_api::Settings),
    /// WP Engine's `purge_cache`.
    Wpengine(wpengine::Settings),
    /// Logs what it would purge.
    Log(log::Settings),
}

impl ProviderSettings {
    /// The provider names accepted in `provider = "…"`.
    pub const NAMES: &'static [&'static str] = &[
        "bigscoots",
        "brilliant_directories",
        "oracle_ocm",
        "cache_tasks",
        "wpengine",
        "cloudflare",
        "fastly",
        "varnish",
        "http",
        "log",
    ];

    /// Types the provider-specific keys of a target (`table`, without the
    /// common keys), recording errors under `path`.
    pub fn parse(
        name: &str,
        table: Table,
        path: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<ProviderSettings> {
        match name {
            "bigscoots" => bigscoots::Settings::parse(table, path, errors).map(Self::Bigscoots),
            "brilliant_directories" => brilliant_directories::Settings::parse(table, path, errors)
                .map(Self::BrilliantDirectories),
            "oracle_ocm" => oracle_ocm::Settings::parse(table, path, errors).map(Self::OracleOcm),
            "cache_tasks" => {
                cache_tasks::Settings::parse(table, path, errors).map(Self::CacheTasks)
            }
            "cloudflare" => cloudflare::Settings::parse(table, path, errors).map(Self::Cloudflare),
            "fastly" => fastly::Settings::parse(table, path, errors).map(Self::Fastly),
            "varnish" => varnish::Settings::parse(table, path, errors).map(Self::Varnish),
            "http" => http_api::Settings::parse(table, path, errors).map(Self::Http),
            "wpengine" => wpengine::Settings::parse(table, path, errors).map(Self::Wpengine),
            "log" => log::Settings::parse(table, path, errors).map(Self::Log),
            other => {
                errors.push(ConfigError::new(
                    format!("{path}.provider"),
                    format!(
                        "unknown provider {other:?}; expected one of {}",
                        Self::NAMES.join(", ")
                    ),
                ));
                None
            }
        }
    }

    /// The provider's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Bigscoots(_) => "bigscoots",
            Self::BrilliantDirectories(_) => "brilliant_directories",
            Self::OracleOcm(_) => "oracle_ocm",
            Self::CacheTasks(_) => "cache_tasks",
            Self::Cloudflare(_) => "cloudflare",
            Self::Fastly(_) => "fastly",
            Self::Varnish(_) => "varnish",
            Self::Http(_) => "http",
            Self::Wpengine(_) => "wpengine",
            Self::Log(_) => "log",
        }
    }

    /// What this provider accepts.
    pub fn capabilities(&self) -> Capabilities {
        match self {
            Self::Bigscoots(_) => bigscoots::CAPABILITIES,
            Self::BrilliantDirectories(_) => brilliant_directories::CAPABILITIES,
            Self::OracleOcm(_) => oracle_ocm::CAPABILITIES,
            Self::CacheTasks(_) => cache_tasks::CAPABILITIES,
            Self::Cloudflare(_) => cloudflare::CAPABILITIES,
            Self::Fastly(_) => fastly::CAPABILITIES,
            Self::Varnish(_) => varnish::CAPABILITIES,
            Self::Http(_) => http_api::CAPABILITIES,
            Self::Wpengine(_) => wpengine::CAPABILITIES,
            Self::Log(_) => log::CAPABILITIES,
        }
    }

    /// A one-line description without secrets, for `check`.
    pub fn describe(&self) -> String {
        match self {
            Self::Bigscoots(s) => format!("{} as {}", s.base_url, s.username),
            Self::BrilliantDirectories(s) => s.base_url.to_string(),
            Self::OracleOcm(s) => format!("site {} at {}", s.site, s.base_url),
            Self::CacheTasks(s) => s.base_url.to_string(),
            Self::Cloudflare(s) => format!("zone {}", s.zone_id),
            Self::Fastly(s) => format!(
                "service {}{}",
                s.service_id,
                if s.soft_purge { ", soft purges" } else { "" }
            ),
            Self::Varnish(s) => s.base_url.to_string(),
            Self::Http(s) => s.url_template().to_string(),
            Self::Wpengine(s) => format!("install {} at {}", s.install_id, s.base_url),
            Self::Log(_) => "writes purges to the log".into(),
        }
    }

    /// Builds the adapter for target `target`, sharing `client`.
    pub fn build(&self, target: &str, client: &reqwest::Client) -> Arc<dyn Provider> {
        match self {
            Self::Bigscoots(s) => Arc::new(bigscoots::BigScoots::new(s.clone(), client.clone())),
            Self::BrilliantDirectories(s) => Arc::new(
                brilliant_directories::BrilliantDirectories::new(s.clone(), client.clone()),
            ),
            Self::OracleOcm(s) => Arc::new(oracle_ocm::OracleOcm::new(s.clone(), client.clone())),
            Self::CacheTasks(s) => {
                Arc::new(cache_tasks::CacheTasks::new(s.clone(), client.clone()))
            }
            Self::Cloudflare(s) => Arc::new(cloudflare::Cloudflare::new(s.clone(), client.clone())),
            Self::Fastly(s) => Arc::new(fastly::Fastly::new(s.clone(), client.clone())),
            Self::Varnish(s) => Arc::new(varnish::Varnish::new(s.clone(), client.clone())),
            Self::Http(s) => Arc::new(http_api::HttpApi::new(target, s.clone(), client.clone())),
            Self::Wpengine(s) => Arc::new(wpengine::WpEngine::new(s.clone(), client.clone())),
            Self::Log(_) => Arc::new(log::LogProvider::new(target)),
        }
    }
}
