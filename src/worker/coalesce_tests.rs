use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::action::Action;

fn no_check(_: &Action) -> Result<(), String> {
    Ok(())
}

const UNLIMITED: Capabilities = Capabilities {
    provider: "test",
    kinds: &[],
    max_items: &[],
    check: no_check,
    default_rate: None,
};

const TIGHT: Capabilities = Capabilities {
    provider: "test",
    kinds: &[],
    max_items: &[
        (ActionKind::Urls, 3),
        (ActionKind::Tags, 2),
        (ActionKind::Scopes, 1),
        (ActionKind::PostIds, 4),
        (ActionKind::Prefixes, 1),
    ],
    check: no_check,
    default_rate: None,
};

fn url() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["https://a.example", "https://b.example"]),
        0..4u8,
        0..4u8,
    )
        .prop_map(|(host, dir, page)| format!("{host}/d{dir}/p{page}"))
}

fn prefix() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..4u8).prop_map(|dir| format!("https://a.example/d{dir}/")),
        (0..4u8).prop_map(|dir| format!("b.example/d{dir}/")),
    ]
}

fn words(pool: &'static [&'static str]) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(prop::sample::select(pool).prop_map(str::to_string), 1..4)
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        1 => any::<bool>().prop_map(|full| Action::Everything { full }),
        6 => prop::collection::vec(url(), 1..5).prop_map(|urls| Action::Urls { urls }),
        2 => prop::collection::vec(prefix(), 1..3).prop_map(|prefixes| Action::Prefixes { prefixes }),
        3 => words(&["t1", "t2", "t3", "t4", "t5"]).prop_map(|tags| Action::Tags { tags }),
        3 => (prop::collection::vec(1..12u64, 1..5), any::<bool>())
            .prop_map(|(post_ids, related)| Action::PostIds { post_ids, related }),
        2 => (words(&["object", "page", "cdn"]), any::<bool>())
            .prop_map(|(scopes, full)| Action::Scopes { scopes, full }),
        1 => prop::sample::select(vec!["r1", "r2"]).prop_map(|t| Action::Resource {
            title: t.into(),
            params: BTreeMap::new(),
        }),
        2 => prop::sample::select(vec!["clear_opcache", "enable_cache", "disable_cache"])
            .prop_map(|n| Action::Command { name: n.into() }),
    ]
}

fn caps() -> impl Strategy<Value = &'static Capabilities> {
    prop::sample::select(vec![&UNLIMITED, &TIGHT])
}

/// Every string item of `kind` across the calls, with its call's flag.
fn items<'a>(calls: &'a [Action], kind: ActionKind) -> Vec<(&'a str, bool)> {
    calls
        .iter()
        .flat_map(|call| -> Vec<(&'a str, bool)> {
            match (call, kind) {
                (Action::Urls { urls }, ActionKind::Urls) => {
                    urls.iter().map(|u| (u.as_str(), false)).collect()
                }
                (Action::Prefixes { prefixes }, ActionKind::Prefixes) => {
                    prefixes.iter().map(|p| (p.as_str(), false)).collect()
                }
                (Action::Tags { tags }, ActionKind::Tags) => {
                    tags.iter().map(|t| (t.as_str(), false)).collect()
                }
                (Action::Scopes { scopes, full }, ActionKind::Scopes) => {
                    scopes.iter().map(|s| (s.as_str(), *full)).collect()
                }
                _ => Vec::new(),
            }
        })
        .collect()
}

fn post_ids(calls: &[Action]) -> Vec<(u64, bool)> {
    calls
        .iter()
        .flat_map(|call| match call {
            Action::PostIds { post_ids, related } => {
                post_ids.iter().map(|id| (*id, *related)).collect()
            }
            _ => Vec::new(),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every job's purge is covered by the merged calls.
    #[test]
    fn every_job_is_covered(jobs in prop::collection::vec(action(), 1..12), caps in caps()) {
        let calls = coalesce(&jobs, caps);
        let everything = calls.iter().any(|c| matches!(c, Action::Everything { .. }));
        let prefixes = items(&calls, ActionKind::Prefixes);
        for job in &jobs {
            match job {
                Action::Everything { full } => prop_assert!(
                    calls.iter().any(|c| matches!(c, Action::Everything { full: f } if *f || !full)),
                    "everything (full: {}) not covered", full
                ),
                Action::Command { name } => prop_assert!(calls.iter().any(|c| matches!(c, Action::Command { name: n } if n == name)), "command {} dropped", name),
                _ if everything => {}
                Action::Urls { urls } => for url in urls {
                    prop_assert!(
                        items(&calls, ActionKind::Urls).iter().any(|(u, _)| u == url)
                            || prefixes.iter().any(|(p, _)| prefix_covers(p, url)),
                        "{url} not covered"
                    );
                },
                Action::Prefixes { prefixes: wanted } => for p in wanted {
                    prop_assert!(prefixes.iter().any(|(q, _)| q == p));
                },
                Action::Tags { tags } => for t in tags {
                    prop_assert!(items(&calls, ActionKind::Tags).iter().any(|(u, _)| u == t));
                },
                Action::Scopes { scopes, full } => for s in scopes {
                    prop_assert!(items(&calls, ActionKind::Scopes).iter().any(|(u, f)| u == s && (*f || !full)));
                },
                Action::PostIds { post_ids: ids, related } => for id in ids {
                    prop_assert!(post_ids(&calls).iter().any(|(i, r)| i == id && (*r || !related)));
                },
                Action::Resource { .. } => prop_assert!(calls.contains(job)),
            }
        }
    }

    /// The calls purge nothing that no job asked for, and send each item once.
    #[test]
    fn nothing_more_is_purged(jobs in prop::collection::vec(action(), 1..12), caps in caps()) {
        let calls = coalesce(&jobs, caps);
        let asked = |kind: ActionKind, item: &str| jobs.iter().any(|j| items(std::slice::from_ref(j), kind).iter().any(|(i, _)| *i == item));
        if calls.iter().any(|c| matches!(c, Action::Everything { .. })) {
            prop_assert!(jobs.iter().any(|j| matches!(j, Action::Everything { .. })), "everything never asked");
            prop_assert!(calls.iter().all(|c| matches!(c, Action::Everything { .. } | Action::Command { .. })), "everything did not subsume");
            if calls.contains(&Action::Everything { full: true }) {
                prop_assert!(jobs.contains(&Action::Everything { full: true }), "full never asked");
            }
        }
        for kind in [ActionKind::Urls, ActionKind::Prefixes, ActionKind::Tags, ActionKind::Scopes] {
            let sent = items(&calls, kind);
            for (item, flag) in &sent {
                prop_assert!(asked(kind, item), "{kind} {item} was never asked for");
                prop_assert_eq!(sent.iter().filter(|(i, _)| i == item).count(), 1, "{} sent twice", item);
                if *flag {
                    prop_assert!(jobs.iter().any(|j| matches!(j, Action::Scopes { full: true, .. })), "full never asked");
                }
            }
        }
        for (id, related) in post_ids(&calls) {
            prop_assert!(jobs.iter().any(|j| matches!(j, Action::PostIds { post_ids, .. } if post_ids.contains(&id))), "post {} never asked", id);
            if related {
                prop_assert!(jobs.iter().any(|j| matches!(j, Action::PostIds { related: true, .. })), "related never asked");
            }
        }
        // A URL covered by a pending prefix is not sent on its own.
        let prefixes = items(&calls, ActionKind::Prefixes);
        for (url, _) in items(&calls, ActionKind::Urls) {
            prop_assert!(!prefixes.iter().any(|(p, _)| prefix_covers(p, url)));
        }
    }

    /// Calls respect the per-call limits, are never empty, and are split only
    /// where a limit demands it.
    #[test]
    fn calls_fit_the_limits_and_split_only_when_needed(jobs in prop::collection::vec(action(), 1..12), caps in caps()) {
        let calls = coalesce(&jobs, caps);
        for call in &calls {
            prop_assert!(call.item_count() >= 1);
            if let Some(limit) = caps.max_items(call.kind()) {
                prop_assert!(call.item_count() <= limit, "{:?} over {}", call, limit);
            }
        }
        for kind in [ActionKind::Urls, ActionKind::Prefixes, ActionKind::Tags, ActionKind::Scopes, ActionKind::PostIds] {
            let of_kind: Vec<&Action> = calls.iter().filter(|c| c.kind() == kind).collect();
            let total: usize = of_kind.iter().map(|c| c.item_count()).sum();
            let needed = match caps.max_items(kind) {
                Some(limit) => total.div_ceil(limit),
                None => usize::from(total > 0),
            };
            prop_assert_eq!(of_kind.len(), needed, "{} split more than needed", kind);
        }
    }

    /// Commands keep their arrival order; only repeats in a row merge.
    #[test]
    fn commands_keep_their_order(jobs in prop::collection::vec(action(), 1..12)) {
        let calls = coalesce(&jobs, &UNLIMITED);
        let mut expected: Vec<&Action> = jobs.iter().filter(|j| j.kind() == ActionKind::Command).collect();
        expected.dedup();
        let sent: Vec<&Action> = calls.iter().filter(|c| c.kind() == ActionKind::Command).collect();
        prop_assert_eq!(sent, expected);
    }
}

#[test]
fn the_design_examples_hold() {
    let urls: Vec<String> = (0..150)
        .map(|i| format!("https://a.example/p{i}"))
        .collect();
    const CLOUDFLARE_LIKE: Capabilities = Capabilities {
        provider: "test",
        kinds: &[],
        max_items: &[(ActionKind::Urls, 100)],
        check: no_check,
        default_rate: None,
    };
    let calls = coalesce(&[Action::Urls { urls }], &CLOUDFLARE_LIKE);
    assert_eq!(
        calls.iter().map(Action::item_count).collect::<Vec<_>>(),
        [100, 50]
    );

    let jobs = [
        Action::PostIds {
            post_ids: vec![1, 2],
            related: false,
        },
        Action::PostIds {
            post_ids: vec![2, 3],
            related: true,
        },
        Action::Urls {
            urls: vec![
                "https://a.example/blog/x".into(),
                "https://a.example/shop".into(),
            ],
        },
        Action::Prefixes {
            prefixes: vec!["https://a.example/blog/".into()],
        },
    ];
    assert_eq!(
        coalesce(&jobs, &UNLIMITED),
        [
            Action::Urls {
                urls: vec!["https://a.example/shop".into()]
            },
            Action::Prefixes {
                prefixes: vec!["https://a.example/blog/".into()]
            },
            Action::PostIds {
                post_ids: vec![1, 2, 3],
                related: true
            },
        ]
    );
    let with_everything = [
        jobs[0].clone(),
        Action::EVERYTHING,
        Action::Command {
            name: "clear_opcache".into(),
        },
    ];
    assert_eq!(
        coalesce(&with_everything, &UNLIMITED),
        [
            Action::EVERYTHING,
            Action::Command {
                name: "clear_opcache".into()
            }
        ]
    );
}
