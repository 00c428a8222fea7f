use std::path::Path;

use super::*;
use crate::action::Action;
use crate::config::{ConfigError, SourceSettings, Unread, from_toml};
use crate::secret::Secret;
use crate::source::{Inbound, Received, Source};

const BASE: &str = r#"
[sources.github]
kind = "github"
secrets = ["gh-secret"]
[sources.wp]
kind = "standard"
secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
[targets.blog]
provider = "bigscoots"
base_url = "https://blog.example.com"
username = "deploy"
password = "abcd efgh"
[targets.shop]
provider = "wpengine"
install_id = "shop1"
username = "api"
password = "pw"
"#;

fn compile(rules: &str) -> Result<RuleSet, Vec<ConfigError>> {
    let loaded = from_toml(&format!("{BASE}{rules}"), Path::new("t.toml"), Vec::new())
        .expect("config is TOML");
    crate::app::Prepared::new(loaded)
        .map(|prepared| prepared.rules)
        .map_err(|errors| errors.errors)
}

fn compile_errors(rules: &str) -> Vec<String> {
    match compile(rules) {
        Ok(_) => panic!("rules should be refused"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

/// An event as the source would make it, previewed (no signature needed here).
fn preview(kind: &str, id: &str, headers: &[(&str, &str)], body: &[u8]) -> Unverified {
    let settings = SourceSettings {
        kind: Some(kind.to_string()),
        secrets: vec![Secret::from_value("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")],
        options: Unread {
            path: format!("sources.{id}"),
            ..Unread::default()
        },
    };
    let mut problems = Problems::new(Path::new("t.toml"), Default::default());
    let source = Source::new(id, &settings, &mut problems).unwrap();
    let inbound = Inbound {
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.to_vec(),
        ..Default::default()
    };
    match source.preview(inbound, None).unwrap() {
        Received::Event(event) => event,
        Received::Ping { .. } => panic!("ping"),
    }
}

fn wp_post(id: &str, post_type: &str) -> Unverified {
    let body = format!(
        r#"{{"type":"post.published","data":{{"post":{{"ID":{id},"post_type":"{post_type}"}}}}}}"#
    );
    preview("standard", "wp", &[], body.as_bytes())
}

const POST_RULE: &str = r#"
[[rules]]
name = "published post"
source = "wp"
event = "post.*"
when = "payload.data.post.post_type in ['post', 'page']"
[[rules.actions]]
target = "blog"
post_ids = ["{{ payload.data.post.ID }}"]
related = true
"#;

#[test]
fn a_matching_event_makes_typed_jobs() {
    let rules = compile(POST_RULE).unwrap();
    let routed = rules.preview(&wp_post("42", "post")).unwrap();
    assert_eq!(routed.matched_rules, ["published post"]);
    assert_eq!(routed.jobs.len(), 1);
    let job = &routed.jobs[0];
    assert_eq!(job.target, "blog");
    assert_eq!(
        job.action,
        Action::PostIds {
            post_ids: vec![42],
            related: true
        }
    );
    let event = job.event.as_ref().unwrap();
    assert_eq!(
        (event.source.as_str(), event.event_type.as_str()),
        ("wp", "post.published")
    );
}

#[test]
fn conditions_and_globs_filter_events() {
    let rules = compile(POST_RULE).unwrap();
    assert!(
        rules
            .preview(&wp_post("42", "attachment"))
            .unwrap()
            .jobs
            .is_empty()
    );
    let other = preview("standard", "wp", &[], br#"{"type":"comment.created"}"#);
    let routed = rules.preview(&other).unwrap();
    assert!(routed.matched_rules.is_empty() && routed.jobs.is_empty());
}

#[test]
fn string_ids_are_coerced_and_garbage_is_a_named_error() {
    let rules = compile(POST_RULE).unwrap();
    let routed = rules.preview(&wp_post("\"17\"", "page")).unwrap();
    assert_eq!(
        routed.jobs[0].action,
        Action::PostIds {
            post_ids: vec![17],
            related: true
        }
    );
    let error = rules.preview(&wp_post("\"abc\"", "post")).unwrap_err();
    assert_eq!(error.rule, "published post");
    assert!(
        error
            .problem
            .to_string()
            .contains("post_ids: abc is not a post id"),
        "{error}"
    );
    assert!(rules.preview(&wp_post("-3", "post")).is_err());
}

#[test]
fn push_files_become_urls_and_pushes_without_content_make_no_job() {
    let rules = compile(
        r#"
[[rules]]
name = "content"
source = "github"
event = "push"
when = "payload.ref == 'refs/heads/master'"
[[rules.actions]]
target = "blog"
urls = ['''{{ payload | changed_files | select('matching', '\\.md$')
  | map('regex_replace', '^(content/)?(.*)\\.md$', 'https://blog.example.com/$2/') | list }}''']
"#,
    )
    .unwrap();
    let push = include_bytes!("../../tests/fixtures/github/push-with-new-branch.payload.json");
    let event = preview("github", "github", &[("x-github-event", "push")], push);
    let routed = rules.preview(&event).unwrap();
    assert_eq!(
        routed.jobs[0].action,
        Action::Urls {
            urls: vec!["https://blog.example.com/README/".into()]
        }
    );
    let tag = include_bytes!("../../tests/fixtures/github/push-payload.json");
    let event = preview("github", "github", &[("x-github-event", "push")], tag);
    assert!(
        rules.preview(&event).unwrap().jobs.is_empty(),
        "a tag push is not on master"
    );
}

#[test]
fn templated_values_that_the_provider_refuses_are_route_errors() {
    let rules = compile(
        r#"
[[rules]]
name = "scoped"
source = "wp"
[[rules.actions]]
target = "shop"
scopes = ["{{ payload.scope }}"]
"#,
    )
    .unwrap();
    let event = preview(
        "standard",
        "wp",
        &[],
        br#"{"type":"x","scope":"everything-please"}"#,
    );
    let error = rules.preview(&event).unwrap_err();
    assert!(
        error
            .problem
            .to_string()
            .contains("unknown WP Engine cache type"),
        "{error}"
    );
    let event = preview("standard", "wp", &[], br#"{"type":"x","scope":"page"}"#);
    assert_eq!(
        rules.preview(&event).unwrap().jobs[0].action,
        Action::Scopes {
            scopes: vec!["page".into()],
            full: false
        }
    );
}

#[test]
fn compile_errors_name_the_rule_and_the_key() {
    let lines = compile_errors(
        r#"
[[rules]]
name = "bad one"
source = "gitlab"
when = "payload.ref =="
[[rules.actions]]
target = "nowhere"
everything = true
[[rules.actions]]
target = "shop"
urls = ["https://shop.example/"]
[[rules.actions]]
target = "blog"
command = "reboot_server"
[[rules.actions]]
target = "blog"
urls = ["https://a.example/"]
tags = ["x"]
[[rules.actions]]
target = "blog"
post_ids = ["{{ payload. }}"]
"#,
    );
    let expect = [
        "rules[0].source: rule \"bad one\": unknown source \"gitlab\"",
        "rules[0].when: rule \"bad one\": syntax error",
        "rules[0].actions[0].target: rule \"bad one\": unknown target \"nowhere\"",
        "rules[0].actions[1]: rule \"bad one\": target \"shop\" (wpengine) does not support urls actions",
        "rules[0].actions[2]: rule \"bad one\": target \"blog\": unknown BigScoots command \"reboot_server\"",
        "rules[0].actions[3]: rule \"bad one\": an action has exactly one kind; found urls and tags",
        "rules[0].actions[4].post_ids[0]: rule \"bad one\": syntax error",
    ];
    assert_eq!(lines.len(), expect.len(), "{lines:#?}");
    for (line, expected) in lines.iter().zip(expect) {
        assert!(
            line.starts_with(expected),
            "{line}\n  should start with\n{expected}"
        );
    }
}

#[test]
fn a_push_routed_on_its_head_commit_is_not_parsed_whole() {
    let rules = compile(
        r#"
[[rules]]
name = "the pushed commit"
source = "github"
event = "push"
[[rules.actions]]
target = "blog"
urls = ["https://blog.example.com/commit/{{ payload.after }}/"]
"#,
    )
    .unwrap();
    let push = include_bytes!("../../tests/fixtures/github/push-with-new-branch.payload.json");
    let event = preview("github", "github", &[("x-github-event", "push")], push);
    let routed = rules.preview(&event).unwrap();
    assert_eq!(
        routed.jobs[0].action,
        Action::Urls {
            urls: vec![
                "https://blog.example.com/commit/6113728f27ae82c7b1a177c8d03f9e96e0adf246/".into()
            ]
        }
    );
    assert!(!event.payload.is_parsed());
}
