//! The purge vocabulary: what one target is asked to purge.
//!
//! Every kind of [`Action`] is defined once, below, with its fields; the
//! enum (and so the job's wire format), [`ActionKind`] and each kind's
//! [`KindSpec`] come from that one definition. The API and job parser
//! ([`Action::from_object`]), the rule compiler and the command line read
//! the specs, so a new kind is one entry here, its validation, the
//! coalescer's merge rule and the providers that take it.
//!
//! This module imports nothing from the rest of the crate.

mod parse;
pub(crate) mod spec;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

pub use parse::InvalidAction;
pub use spec::{FieldSpec, KindSpec, Shape};
pub use validate::MAX_ACTION_ITEMS;

spec::vocabulary! {
    /// Everything the target caches.
    Everything = "everything", rule "everything", flag "everything" {
        /// With everything or scopes: also the provider's heavier
        /// maintenance or deeper refresh, where it has one (Brilliant
        /// Directories' `full=true`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        full: bool => Flag;
    }
    /// Absolute URLs.
    Urls = "urls", rule "urls", flag "url" {
        /// Absolute URLs to purge (`https://…`).
        urls: Vec<String> => Texts, flag = "url";
    }
    /// URL prefixes (with or without scheme).
    Prefixes = "prefixes", rule "prefixes", flag "prefix" {
        /// URL prefixes to purge, with or without scheme.
        prefixes: Vec<String> => Texts, flag = "prefix";
    }
    /// Cache tags / surrogate keys.
    Tags = "tags", rule "tags", flag "tag" {
        /// Cache tags (surrogate keys) to purge.
        tags: Vec<String> => Texts, flag = "tag";
    }
    /// WordPress post ids, optionally with their related pages.
    PostIds = "post_ids", rule "post_ids", flag "post-id" {
        /// WordPress post ids to purge.
        post_ids: Vec<u64> => Ids, flag = "post-id";
        /// With post ids: also the archives, taxonomies… the posts appear on.
        #[serde(default)]
        related: bool => Flag;
    }
    /// Named cache areas of the provider (e.g. `object`, `page`, `cdn`).
    Scopes = "scopes", rule "scopes", flag "scope" {
        /// Named cache areas of the provider to purge.
        scopes: Vec<String> => Texts, flag = "scope";
        /// With everything or scopes: a full (deep) refresh, where the
        /// provider offers one.
        #[serde(default)]
        full: bool => Flag;
    }
    /// A named resource and its parameters (the cache task API).
    Resource = "resource", rule "title", flag "title" {
        /// A named resource to refresh (the cache task API).
        title: String => Text;
        /// With a resource: its parameters.
        #[serde(default)]
        params: BTreeMap<String, serde_json::Value> => Params, flag = "param";
    }
    /// A provider command that is not a purge (`clear_opcache`, …).
    Command = "command", rule "command", flag "command" {
        /// A provider command that is not a purge (BigScoots: `clear_opcache`…).
        name: String => Text, rule_key = "command", flag = "command";
    }
}

impl ActionKind {
    /// The name used in JSON and configuration.
    pub fn as_str(self) -> &'static str {
        self.spec().name
    }

    /// Every kind's name, comma-separated (for messages).
    pub fn names() -> String {
        Self::ALL
            .iter()
            .map(|kind| kind.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no action kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action kind {0:?}; one of {names}", names = ActionKind::names())]
pub struct UnknownKind(pub String);

impl FromStr for ActionKind {
    type Err = UnknownKind;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| UnknownKind(name.to_string()))
    }
}

impl Action {
    /// `everything`, without the heavier maintenance.
    pub const EVERYTHING: Action = Action::Everything { full: false };

    /// How many items the action names (1 for the kinds without a list).
    pub fn item_count(&self) -> usize {
        match self {
            Action::Urls { urls: items }
            | Action::Prefixes { prefixes: items }
            | Action::Tags { tags: items }
            | Action::Scopes { scopes: items, .. } => items.len(),
            Action::PostIds { post_ids, .. } => post_ids.len(),
            Action::Everything { .. } | Action::Resource { .. } | Action::Command { .. } => 1,
        }
    }
}

#[cfg(test)]
mod tests;
