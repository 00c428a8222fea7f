//! Storm escalation: a merged batch that would carry more than a target's
//! `escalate_after` URLs becomes one purge of the provider's broader kind —
//! the URLs' common prefix, where the provider takes prefixes and the URLs
//! share one of at least one whole path segment (`https://a.example/blog/`),
//! else `everything` — so that a bulk import costs one call, not one per
//! hundred URLs. Pure, like the coalescer it follows (but for
//! [`Storm::say`], which logs and counts): the broader purge is merged with
//! the batch's other calls by the coalescer itself (a prefix drops the URLs
//! it covers, `everything` subsumes every other purge).

use super::coalesce::{coalesce, prefix_covers};
use crate::action::{Action, ActionKind};
use crate::capability::Capabilities;
use crate::job::TargetId;
use crate::telemetry;

/// A batch over its target's `escalate_after`: the URLs it carried and
/// the broader purge that replaced them, if the provider has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storm {
    /// The URLs the batch would have purged one by one.
    pub urls: Vec<String>,
    /// The broader purge made instead; `None` when the provider takes no
    /// prefixes and no `everything`, or takes prefixes only and the URLs
    /// share none (the calls are then left as they were).
    pub broader: Option<Action>,
}

impl Storm {
    /// Whether `call` is (or includes) the broader purge.
    pub fn is_covered_by(&self, call: &Action) -> bool {
        match (&self.broader, call) {
            (Some(Action::Everything { .. }), Action::Everything { .. }) => true,
            (Some(Action::Prefixes { prefixes: ours }), Action::Prefixes { prefixes }) => {
                ours.iter().all(|prefix| prefixes.contains(prefix))
            }
            _ => false,
        }
    }

    /// Logs and counts the storm of `target`: escalated, at WARN; one its
    /// provider cannot escalate, once (`refusal_said`).
    pub fn say(&self, target: &TargetId, after: usize, refusal_said: &mut bool) {
        let reason = self.reason(after);
        let urls = self.urls.len();
        match &self.broader {
            Some(broader) => {
                telemetry::escalation(target.as_str());
                tracing::warn!(target_id = %target, urls, kind = %broader.kind(), %reason, "purge storm: one broader purge instead");
            }
            None if !*refusal_said => {
                *refusal_said = true;
                tracing::warn!(target_id = %target, urls, %reason, "purge storm not escalated (said once)");
            }
            None => {}
        }
    }

    /// Why the batch was (or could not be) escalated, for the log.
    pub fn reason(&self, after: usize) -> String {
        let count = self.urls.len();
        match &self.broader {
            Some(Action::Prefixes { prefixes }) => format!(
                "{count} URLs in one batch (escalate_after = {after}) share the prefix {}",
                prefixes.join(", ")
            ),
            Some(_) => format!(
                "{count} URLs in one batch (escalate_after = {after}) share no prefix of a whole path segment that the provider can purge"
            ),
            None => format!(
                "{count} URLs in one batch (escalate_after = {after}), but the provider takes prefixes only and the URLs share none of a whole path segment"
            ),
        }
    }
}

/// `calls` (the coalescer's, for one batch) with their URLs replaced by
/// one broader purge when they carry more than `after` URLs.
pub fn escalate(
    calls: Vec<Action>,
    caps: &Capabilities,
    after: usize,
) -> (Vec<Action>, Option<Storm>) {
    let urls: Vec<String> = calls
        .iter()
        .filter_map(|call| match call {
            Action::Urls { urls } => Some(urls.iter().cloned()),
            _ => None,
        })
        .flatten()
        .collect();
    if urls.len() <= after {
        return (calls, None);
    }
    let prefix = caps
        .supports(ActionKind::Prefixes)
        .then(|| common_prefix(&urls))
        .flatten();
    let broader = match prefix {
        Some(prefix) => Some(Action::Prefixes {
            prefixes: vec![prefix],
        }),
        None if caps.supports(ActionKind::Everything) => Some(Action::EVERYTHING),
        None => None,
    };
    let calls = match &broader {
        Some(broader) => coalesce(calls.iter().chain(std::iter::once(broader)), caps),
        None => calls,
    };
    (calls, Some(Storm { urls, broader }))
}

/// The longest prefix of whole path segments that every URL shares, on
/// one scheme, host and port, with at least one segment
/// (`https://a.example/blog/` for `…/blog/a` and `…/blog/2024/b`); `None`
/// when the URLs share only their host, or not even that.
pub fn common_prefix(urls: &[String]) -> Option<String> {
    let (first, rest) = urls.split_first()?;
    let first_url = url::Url::parse(first).ok()?;
    let origin = first_url.origin();
    let mut shared = directories(&first_url);
    for text in rest {
        let url = url::Url::parse(text).ok()?;
        if url.origin() != origin {
            return None;
        }
        let theirs = directories(&url);
        let common = shared
            .iter()
            .zip(&theirs)
            .take_while(|(a, b)| a == b)
            .count();
        shared.truncate(common);
        if shared.is_empty() {
            return None;
        }
    }
    if shared.is_empty() || !origin.is_tuple() {
        return None;
    }
    let prefix = format!("{}/{}/", origin.ascii_serialization(), shared.join("/"));
    // The URLs as written must start with it too (a host in capitals, an
    // escape written differently): else the coalescer would keep them.
    urls.iter()
        .all(|url| prefix_covers(&prefix, url))
        .then_some(prefix)
}

/// A URL's directory segments: every path segment but the last (a page's
/// name, or empty after a trailing `/`).
fn directories(url: &url::Url) -> Vec<String> {
    let mut segments: Vec<String> = url
        .path_segments()
        .map(|segments| segments.map(str::to_string).collect())
        .unwrap_or_default();
    segments.pop();
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(paths: &[&str]) -> Vec<String> {
        paths
            .iter()
            .map(|path| format!("https://www.example.com{path}"))
            .collect()
    }

    const PREFIXES: Capabilities = Capabilities {
        kinds: &[ActionKind::Urls, ActionKind::Prefixes],
        ..Capabilities::any("prefixes only")
    };
    const EVERYTHING: Capabilities = Capabilities {
        kinds: &[ActionKind::Urls, ActionKind::Everything],
        max_items: &[(ActionKind::Urls, 100)],
        ..Capabilities::any("everything")
    };
    const BOTH: Capabilities = Capabilities {
        kinds: &[
            ActionKind::Urls,
            ActionKind::Prefixes,
            ActionKind::Everything,
            ActionKind::Tags,
        ],
        max_items: &[(ActionKind::Urls, 100), (ActionKind::Prefixes, 100)],
        ..Capabilities::any("both")
    };

    #[test]
    fn a_common_prefix_is_made_of_whole_path_segments() {
        let blog = urls(&["/blog/post-1", "/blog/post-2", "/blog/2024/post-3/"]);
        assert_eq!(
            common_prefix(&blog).as_deref(),
            Some("https://www.example.com/blog/")
        );
        let deeper = urls(&["/blog/2024/a", "/blog/2024/b/"]);
        assert_eq!(
            common_prefix(&deeper).as_deref(),
            Some("https://www.example.com/blog/2024/")
        );
        // Sharing only the start of a segment, or only the host, is none.
        assert_eq!(common_prefix(&urls(&["/blog-a/x", "/blog-b/x"])), None);
        assert_eq!(common_prefix(&urls(&["/a", "/b"])), None);
        assert_eq!(common_prefix(&urls(&["/blog/a", "/shop/a"])), None);
        // The directory itself and a page in it share it.
        assert_eq!(
            common_prefix(&urls(&["/blog/", "/blog/a"])).as_deref(),
            Some("https://www.example.com/blog/")
        );
        // A query string is no directory.
        assert_eq!(
            common_prefix(&urls(&["/search?q=a/b", "/search?q=a/c"])),
            None
        );
        let hosts = vec![
            "https://a.example.com/blog/x".to_string(),
            "https://b.example.com/blog/x".to_string(),
        ];
        assert_eq!(common_prefix(&hosts), None, "two hosts");
        let schemes = vec![
            "http://a.example.com/blog/x".to_string(),
            "https://a.example.com/blog/y".to_string(),
        ];
        assert_eq!(common_prefix(&schemes), None, "two schemes");
    }

    #[test]
    fn batches_within_the_threshold_are_left_alone() {
        let calls = vec![Action::Urls {
            urls: urls(&["/a", "/b"]),
        }];
        assert_eq!(escalate(calls.clone(), &BOTH, 2), (calls, None));
    }

    #[test]
    fn a_storm_sharing_a_prefix_becomes_one_prefix_purge_beside_the_other_calls() {
        let many: Vec<String> = (0..250).map(|i| format!("/blog/post-{i}")).collect();
        let many = urls(&many.iter().map(String::as_str).collect::<Vec<_>>());
        let calls = coalesce(
            &[
                Action::Urls { urls: many.clone() },
                Action::Tags {
                    tags: vec!["home".into()],
                },
            ],
            &BOTH,
        );
        assert_eq!(calls.len(), 4, "three URL calls and the tags");
        let (calls, storm) = escalate(calls, &BOTH, 50);
        let prefix = Action::Prefixes {
            prefixes: vec!["https://www.example.com/blog/".into()],
        };
        assert_eq!(
            calls,
            vec![
                prefix.clone(),
                Action::Tags {
                    tags: vec!["home".into()]
                }
            ]
        );
        let storm = storm.expect("escalated");
        assert_eq!(storm.urls.len(), 250);
        assert_eq!(storm.broader, Some(prefix.clone()));
        assert!(storm.is_covered_by(&prefix));
        assert!(!storm.is_covered_by(&Action::EVERYTHING));
        assert!(storm.reason(50).contains("https://www.example.com/blog/"));
    }

    #[test]
    fn a_storm_without_a_prefix_becomes_everything_and_keeps_commands() {
        let many: Vec<String> = (0..2000).map(|i| format!("/p{i}")).collect();
        let many = urls(&many.iter().map(String::as_str).collect::<Vec<_>>());
        let calls = coalesce(&[Action::Urls { urls: many }], &EVERYTHING);
        assert_eq!(calls.len(), 20);
        let mut with_command = calls.clone();
        with_command.push(Action::Command {
            name: "clear_opcache".into(),
        });
        let (calls, storm) = escalate(with_command, &EVERYTHING, 50);
        assert_eq!(
            calls,
            vec![
                Action::EVERYTHING,
                Action::Command {
                    name: "clear_opcache".into()
                }
            ]
        );
        assert_eq!(storm.unwrap().broader, Some(Action::EVERYTHING));
        // A prefix-taking provider too, when the URLs share no directory.
        let scattered = urls(&["/a", "/b", "/c"]);
        let (calls, _) = escalate(vec![Action::Urls { urls: scattered }], &BOTH, 2);
        assert_eq!(calls, vec![Action::EVERYTHING]);
    }

    #[test]
    fn a_provider_with_prefixes_only_keeps_a_storm_without_a_prefix() {
        let calls = vec![Action::Urls {
            urls: urls(&["/a", "/b", "/c"]),
        }];
        let (kept, storm) = escalate(calls.clone(), &PREFIXES, 2);
        assert_eq!(kept, calls);
        let storm = storm.expect("a storm, not escalated");
        assert_eq!(storm.broader, None);
        assert!(
            storm.reason(2).contains("prefixes only"),
            "{}",
            storm.reason(2)
        );
    }
}
