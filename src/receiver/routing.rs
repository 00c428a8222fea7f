//! What a reload replaces in the receiver: the sources, the rules, the
//! targets the purge API knows and the API's tokens, held as one snapshot.
//! Each request reads the snapshot once, when it starts, and keeps it to
//! its end: a request that began before a reload is answered by the old
//! configuration, every later one by the new, and none is dropped.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use crate::capability::Capabilities;
use crate::job::TargetId;
use crate::rules::RuleSet;
use crate::secret::Secret;
use crate::source::Source;
use crate::units::Rate;

/// One configuration's routing.
pub struct Routing {
    /// Configured sources, by id.
    pub sources: BTreeMap<String, Source>,
    /// Compiled rules.
    pub rules: RuleSet,
    /// What each configured target accepts, for the purge API.
    pub targets: BTreeMap<TargetId, Capabilities>,
    /// The targets' own `rate`s, where set, for the status page.
    pub rates: BTreeMap<TargetId, Rate>,
    /// Bearer tokens of the API (`[server] api_tokens`).
    pub api_tokens: Vec<Secret>,
}

/// The routing in force, replaced whole by a reload; cheap to clone.
#[derive(Clone)]
pub struct LiveRouting(Arc<RwLock<Arc<Routing>>>);

impl LiveRouting {
    /// Puts `routing` in force.
    pub fn new(routing: Routing) -> LiveRouting {
        LiveRouting(Arc::new(RwLock::new(Arc::new(routing))))
    }

    /// The routing in force now, for one request.
    pub fn current(&self) -> Arc<Routing> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts `routing` in force for every request that starts from now on.
    pub fn replace(&self, routing: Routing) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(routing);
    }
}
