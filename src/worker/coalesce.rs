//! The coalescer: a pure function from the pending actions of one target and
//! its provider's capabilities to the provider calls that cover them, merged
//! exactly as DESIGN.md says:
//!
//! - `everything` subsumes every other pending purge (commands are not purges
//!   and are kept);
//! - sets are unioned (urls, prefixes, tags, post ids, scopes); `related` and
//!   `full` are OR-ed; identical resources are sent once;
//! - a URL covered by a pending prefix is dropped;
//! - a merged set is split only where the provider's per-call limit demands;
//! - commands keep their arrival order (they change state: `disable_cache`
//!   then `enable_cache` must stay so); repeats in a row are sent once.

use std::collections::{BTreeMap, BTreeSet};

use crate::action::{Action, ActionKind};
use crate::capability::Capabilities;

/// The calls that cover `pending`, in order: purges, then resources, then
/// commands.
pub fn coalesce<'a>(
    pending: impl IntoIterator<Item = &'a Action>,
    caps: &Capabilities,
) -> Vec<Action> {
    let mut merged = Merged::default();
    for action in pending {
        merged.add(action);
    }
    merged.calls(caps)
}

/// What a target's pending actions add up to: the merge rule of each kind.
#[derive(Default)]
struct Merged<'a> {
    everything: Option<bool>,
    urls: BTreeSet<&'a String>,
    prefixes: BTreeSet<&'a String>,
    tags: BTreeSet<&'a String>,
    post_ids: BTreeSet<u64>,
    related: bool,
    scopes: BTreeSet<&'a String>,
    full: bool,
    resources: Vec<(&'a String, &'a BTreeMap<String, serde_json::Value>)>,
    commands: Vec<&'a String>,
}

impl<'a> Merged<'a> {
    fn add(&mut self, action: &'a Action) {
        match action {
            Action::Everything { full } => {
                self.everything = Some(self.everything.unwrap_or(false) | full);
            }
            Action::Urls { urls } => self.urls.extend(urls),
            Action::Prefixes { prefixes } => self.prefixes.extend(prefixes),
            Action::Tags { tags } => self.tags.extend(tags),
            Action::PostIds { post_ids, related } => {
                self.post_ids.extend(post_ids.iter().copied());
                self.related |= related;
            }
            Action::Scopes { scopes, full } => {
                self.scopes.extend(scopes);
                self.full |= full;
            }
            Action::Resource { title, params } => {
                if !self.resources.contains(&(title, params)) {
                    self.resources.push((title, params));
                }
            }
            Action::Command { name } => {
                if self.commands.last() != Some(&name) {
                    self.commands.push(name);
                }
            }
        }
    }

    fn calls(self, caps: &Capabilities) -> Vec<Action> {
        let mut calls = Vec::new();
        match self.everything {
            Some(full) => calls.push(Action::Everything { full }),
            None => self.purges(caps, &mut calls),
        }
        calls.extend(
            self.commands
                .into_iter()
                .map(|name| Action::Command { name: name.clone() }),
        );
        calls
    }

    /// The purges when nothing asks for everything, split at the
    /// provider's per-call limits.
    fn purges(&self, caps: &Capabilities, calls: &mut Vec<Action>) {
        let owned = |set: &BTreeSet<&String>| set.iter().map(|s| (*s).clone()).collect::<Vec<_>>();
        let split = |kind: ActionKind, items: Vec<String>| chunks(items, caps.max_items(kind));
        let urls: Vec<String> = self
            .urls
            .iter()
            .filter(|url| !self.prefixes.iter().any(|p| prefix_covers(p, url)))
            .map(|url| (*url).clone())
            .collect();
        for urls in split(ActionKind::Urls, urls) {
            calls.push(Action::Urls { urls });
        }
        for prefixes in split(ActionKind::Prefixes, owned(&self.prefixes)) {
            calls.push(Action::Prefixes { prefixes });
        }
        for tags in split(ActionKind::Tags, owned(&self.tags)) {
            calls.push(Action::Tags { tags });
        }
        let ids = self.post_ids.iter().copied().collect();
        for post_ids in chunks(ids, caps.max_items(ActionKind::PostIds)) {
            calls.push(Action::PostIds {
                post_ids,
                related: self.related,
            });
        }
        for scopes in split(ActionKind::Scopes, owned(&self.scopes)) {
            calls.push(Action::Scopes {
                scopes,
                full: self.full,
            });
        }
        for (title, params) in &self.resources {
            calls.push(Action::Resource {
                title: (*title).clone(),
                params: (*params).clone(),
            });
        }
    }
}

/// Whether purging `prefix` purges `url`. Prefixes may be written with or
/// without a scheme (`https://a.example/blog/` or `a.example/blog/`).
pub fn prefix_covers(prefix: &str, url: &str) -> bool {
    url.starts_with(prefix) || without_scheme(url).starts_with(without_scheme(prefix))
}

fn without_scheme(text: &str) -> &str {
    text.split_once("://").map_or(text, |(_, rest)| rest)
}

fn chunks<T>(items: Vec<T>, limit: Option<usize>) -> Vec<Vec<T>> {
    if items.is_empty() {
        return Vec::new();
    }
    let size = limit.unwrap_or(usize::MAX).max(1);
    let mut out = Vec::new();
    let mut iter = items.into_iter().peekable();
    while iter.peek().is_some() {
        out.push(iter.by_ref().take(size).collect());
    }
    out
}

#[cfg(test)]
#[path = "coalesce_tests.rs"]
mod tests;
