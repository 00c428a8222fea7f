//! What a provider module gives the registry: a [`Registration`] (its
//! capabilities and how it builds its adapter from its keys) and the
//! [`Context`] an adapter is built with.

use std::sync::Arc;

use super::Provider;
use crate::capability::Capabilities;
use crate::config::{Fields, Read};
use crate::job::TargetId;

/// One provider.
pub struct Registration {
    /// Its name (as `provider = "…"`) and what it accepts.
    pub capabilities: Capabilities,
    /// Reads its keys (recording every problem) and builds the adapter.
    pub build: fn(&mut Fields<'_>, &Context<'_>) -> Read<Arc<dyn Provider>>,
}

/// What an adapter is built with.
pub struct Context<'a> {
    /// The target it serves.
    pub target: &'a TargetId,
    /// The shared HTTP client.
    pub client: &'a reqwest::Client,
}
