//! Provider adapters: the [`Provider`] trait every cache API implements, the
//! classification of their failures ([`ProviderError`]), and the
//! [`registry`], one table of every provider, which reads a target's
//! provider keys and builds its adapter.

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
mod registration;
pub mod registry;
mod settings;
mod varnish;
mod wpengine;

use std::time::Duration;

use async_trait::async_trait;

use crate::action::Action;

pub use http::{MAX_ANSWER_BYTES, MAX_RETRY_AFTER, client, probe_client, retry_after};
pub use registration::{Context, Registration};
pub use registry::Configured;

/// A cache provider's API, bound to one target.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Performs one call for `action`, which the coalescer already fitted to
    /// the provider's capabilities. Returns once the provider accepted it.
    async fn purge(&self, action: &Action) -> Result<(), ProviderError>;

    /// A one-line description without secrets, for `check`.
    fn describe(&self) -> String;
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
    /// Part of the call was done; the rest (`remaining`) is worth trying
    /// again, like a retryable failure.
    #[error("{message}")]
    Incomplete {
        /// What was not done, in the provider's own words.
        message: String,
        /// The part of the action still to do.
        remaining: Action,
    },
}

impl ProviderError {
    /// A 429 that gave no `Retry-After` waits `floor` (a rate's period, or
    /// `[worker] rate_limited_wait`): retrying it at once would be refused
    /// again.
    pub fn waiting_at_least(self, floor: Duration) -> ProviderError {
        match self {
            ProviderError::RateLimited {
                retry_after: None,
                message,
            } => ProviderError::RateLimited {
                retry_after: Some(floor),
                message,
            },
            other => other,
        }
    }

    /// The action a retry should make: what remains of a partly done call,
    /// else the call itself.
    pub fn retry_of(&self, call: Action) -> Action {
        match self {
            ProviderError::Incomplete { remaining, .. } => remaining.clone(),
            _ => call,
        }
    }

    /// A permanent failure for an action the adapter cannot send (the
    /// coalescer fits actions to the capabilities, so this is a bug or a
    /// producer's job that bypassed the checks).
    pub fn cannot(provider: &str, action: &Action) -> ProviderError {
        ProviderError::Permanent {
            message: format!("{provider} cannot purge {} in one call", action.kind()),
        }
    }
}
