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

use crate::job::{Action, ActionKind};
use crate::provider::Capabilities;

/// The calls that cover `pending`, in order: purges, then resources, then
/// commands.
pub fn coalesce<'a>(
    pending: impl IntoIterator<Item = &'a Action>,
    caps: &Capabilities,
) -> Vec<Action> {
    let mut everything = false;
    let mut everything_full = false;
    let mut urls = BTreeSet::new();
    let mut prefixes = BTreeSet::new();
    let mut tags = BTreeSet::new();
    let mut post_ids = BTreeSet::new();
    let mut related = false;
    let mut scopes = BTreeSet::new();
    let mut full = false;
    let mut resources: Vec<(&String, &BTreeMap<String, serde_json::Value>)> = Vec::new();
    let mut commands: Vec<&String> = Vec::new();

    for action in pending {
        match action {
            Action::Everything { full: f } => {
                everything = true;
                everything_full |= f;
            }
            Action::Urls { urls: u } => urls.extend(u),
            Action::Prefixes { prefixes: p } => prefixes.extend(p),
            Action::Tags { tags: t } => tags.extend(t),
            Action::PostIds {
                post_ids: ids,
                related: r,
            } => {
                post_ids.extend(ids.iter().copied());
                related |= r;
            }
            Action::Scopes { scopes: s, full: f } => {
                scopes.extend(s);
                full |= f;
            }
            Action::Resource { title, params } => {
                if !resources.contains(&(title, params)) {
                    resources.push((title, params));
                }
            }
            Action::Command { name } => {
                if commands.last() != Some(&name) {
                    commands.push(name);
                }
            }
        }
    }

    let mut calls = Vec::new();
    if everything {
        calls.push(Action::Everything {
            full: everything_full,
        });
    } else {
        let urls: Vec<String> = urls
            .into_iter()
            .filter(|url| !prefixes.iter().any(|p| prefix_covers(p, url)))
            .cloned()
            .collect();
        let chunked = |kind: ActionKind, items: Vec<String>| chunks(items, caps.max_items(kind));
        for chunk in chunked(ActionKind::Urls, urls) {
            calls.push(Action::Urls { urls: chunk });
        }
        for chunk in chunked(
            ActionKind::Prefixes,
            prefixes.into_iter().cloned().collect(),
        ) {
            calls.push(Action::Prefixes { prefixes: chunk });
        }
        for chunk in chunked(ActionKind::Tags, tags.into_iter().cloned().collect()) {
            calls.push(Action::Tags { tags: chunk });
        }
        for chunk in chunks(
            post_ids.into_iter().collect(),
            caps.max_items(ActionKind::PostIds),
        ) {
            calls.push(Action::PostIds {
                post_ids: chunk,
                related,
            });
        }
        for chunk in chunked(ActionKind::Scopes, scopes.into_iter().cloned().collect()) {
            calls.push(Action::Scopes {
                scopes: chunk,
                full,
            });
        }
        for (title, params) in resources {
            calls.push(Action::Resource {
                title: title.clone(),
                params: params.clone(),
            });
        }
    }
    for name in commands {
        calls.push(Action::Command { name: name.clone() });
    }
    calls
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
