use std::path::Path;
use std::time::Duration;

use super::*;
use crate::app::Prepared;

/// Reads and builds everything, as `check` does.
fn prepare(text: &str, vars: Vec<(String, String)>) -> Result<Prepared, ConfigErrors> {
    Prepared::new(from_toml(text, Path::new("test.toml"), vars)?)
}

fn parse(text: &str) -> Result<Prepared, ConfigErrors> {
    prepare(text, Vec::new())
}

fn error_lines(text: &str) -> Vec<String> {
    parse(text)
        .expect_err("config should be refused")
        .errors
        .iter()
        .map(ToString::to_string)
        .collect()
}

const DESIGN_EXAMPLE: &str = r#"
[server]
listen = "127.0.0.1:8080"
max_body_bytes = 1048576

[queue]
backend = "embedded"
path = "data"

[worker]
window = "1500ms"
max_attempts = 5
backoff = "2s"
max_backoff = "1m"

[sources.github]
kind = "github"
secrets = ["literal-one", "literal-two"]

[sources.wp]
kind = "standard"
secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]

[targets.blog]
provider = "bigscoots"
base_url = "https://blog.example.com"
username = "deploy"
password = "abcd efgh ijkl mnop"
window = "2s"
rate = "1/60s"

[[rules]]
name = "published post"
source = "wp"
event = "post.published"
when = "payload.post.post_type in ['post', 'page']"
[[rules.actions]]
target = "blog"
post_ids = ["{{ payload.post.ID }}"]
related = true
"#;

#[test]
fn the_design_example_loads() {
    let prepared = parse(DESIGN_EXAMPLE).expect("valid");
    let settings = &prepared.settings;
    assert_eq!(settings.worker.window, Duration::from_millis(1500));
    assert_eq!(settings.worker.max_backoff, Duration::from_secs(60));
    assert_eq!(settings.sources["github"].secrets.len(), 2);
    let blog = &prepared.targets["blog"];
    assert_eq!(blog.provider.capabilities.provider, "bigscoots");
    assert_eq!(blog.settings.window, Some(Duration::from_secs(2)));
    assert_eq!(
        blog.settings.rate.map(|r| r.interval()),
        Some(Duration::from_secs(60))
    );
    assert_eq!(settings.rules[0].actions.len(), 1);
}

#[test]
fn defaults_fill_missing_sections() {
    let prepared = parse("").expect("empty config is valid");
    let settings = &prepared.settings;
    assert_eq!(settings.server.listen, "127.0.0.1:8080");
    assert_eq!(settings.queue.backend, QueueBackendKind::Embedded);
    assert_eq!(settings.worker.max_attempts, 8);
    assert_eq!(settings.queue.publish_connections, 1);
}

#[test]
fn publish_connections_are_between_1_and_64() {
    let four = parse(
        "[queue]
publish_connections = 4
",
    )
    .expect("4 is valid");
    assert_eq!(four.settings.queue.publish_connections, 4);
    for (value, expected) in [
        (
            "0",
            "queue.publish_connections: must be between 1 and 64, got 0",
        ),
        (
            "65",
            "queue.publish_connections: must be between 1 and 64, got 65",
        ),
        ("\"four\"", "queue.publish_connections: invalid type"),
    ] {
        let joined = error_lines(&format!("[queue]\npublish_connections = {value}\n")).join("\n");
        assert!(joined.contains(expected), "{expected:?} not in\n{joined}");
    }
}

#[test]
fn every_error_is_listed_with_its_key_path() {
    let lines = error_lines(
        r#"
[server]
listn = "x"
[worker]
window = "2 parsecs"
[targets.blog]
provider = "bigscoots"
base_url = "https://blog.example.com"
username = "u"
password = "p"
colour = "red"
[targets.cdn]
provider = "akamai"
[surprise]
"#,
    );
    assert_eq!(lines.len(), 5, "{lines:#?}");
    assert!(
        lines[0].starts_with("server.listn: unknown key (did you mean `listen`?)"),
        "{}",
        lines[0]
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("worker.window: expected a duration")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("targets.blog.colour: unknown key"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("targets.cdn.provider: unknown provider \"akamai\""))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("surprise: unknown section")),
        "{lines:#?}"
    );
}

#[test]
fn a_mistyped_key_lists_every_key_valid_there() {
    let lines = error_lines(
        r#"
[targets.blog]
provider = "bigscoots"
base_url = "https://blog.example.com"
username = "u"
password = "p"
windw = "2s"
[targets.notes]
provider = "log"
rat = "1/s"
"#,
    );
    let blog = lines
        .iter()
        .find(|l| l.starts_with("targets.blog.windw"))
        .expect("the blog's typo is reported");
    assert!(blog.contains("did you mean `window`?"), "{blog}");
    for key in [
        "base_url",
        "username",
        "password",
        "provider",
        "window",
        "rate",
        "max_attempts",
    ] {
        assert!(blog.contains(key), "{key} missing from {blog}");
    }
    let notes = lines
        .iter()
        .find(|l| l.starts_with("targets.notes.rat"))
        .expect("the log target's typo is reported");
    assert!(notes.contains("did you mean `rate`?"), "{notes}");
    assert!(
        notes.contains("provider, window, rate, max_attempts"),
        "{notes}"
    );
}

#[test]
fn every_missing_key_of_a_table_is_reported_at_once() {
    let lines = error_lines("[targets.shop]\nprovider = \"wpengine\"\n");
    let keys: Vec<&str> = lines
        .iter()
        .map(|line| line.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        keys,
        [
            "targets.shop.install_id",
            "targets.shop.username",
            "targets.shop.password"
        ],
        "{lines:#?}"
    );
    assert!(lines.iter().all(|l| l.contains("missing")));
}

#[test]
fn the_file_is_named_in_the_report() {
    let report = parse("[server]\nlisten = 3").unwrap_err().to_string();
    assert!(report.starts_with("test.toml has 1 error:"), "{report}");
    assert!(
        report.contains("test.toml: server.listen: invalid type: integer `3`, expected a string"),
        "{report}"
    );
}

#[test]
fn an_error_from_an_override_names_the_variable() {
    let vars = vec![
        ("PURGEHOOK__SERVER__LISTEN".to_string(), "8081".to_string()),
        (
            "PURGEHOOK__TARGETS__BLOG__WINDOW".to_string(),
            "soon".to_string(),
        ),
    ];
    let report = prepare(DESIGN_EXAMPLE, vars).unwrap_err().to_string();
    assert!(report.starts_with("test.toml has 2 errors:"), "{report}");
    assert!(
        report.contains(
            "PURGEHOOK__SERVER__LISTEN (environment): server.listen: invalid type: integer `8081`"
        ),
        "{report}"
    );
    assert!(
        report.contains("PURGEHOOK__TARGETS__BLOG__WINDOW (environment): targets.blog.window: expected a duration"),
        "{report}"
    );
    assert!(!report.contains("test.toml: server.listen"), "{report}");
}

#[test]
fn secrets_never_appear_in_errors_or_debug_output() {
    let text = r#"
[targets.blog]
provider = "bigscoots"
base_url = "not a url"
username = "deploy"
password = "s3cr3t-app-password"
"#;
    let report = parse(text).unwrap_err().to_string();
    assert!(report.contains("targets.blog.base_url"), "{report}");
    assert!(!report.contains("s3cr3t"), "{report}");
    let valid = text.replace("not a url", "https://blog.example.com");
    let prepared = parse(&valid).unwrap();
    let debug = format!("{:?} {:?}", prepared.settings, prepared.sources);
    assert!(!debug.contains("s3cr3t"), "{debug}");
}

#[test]
fn environment_overrides_are_typed_like_the_file() {
    let vars = vec![
        (
            "PURGEHOOK__SERVER__LISTEN".to_string(),
            "127.0.0.1:0".to_string(),
        ),
        ("PURGEHOOK__WORKER__WINDOW".to_string(), "25ms".to_string()),
    ];
    let settings = prepare(DESIGN_EXAMPLE, vars).unwrap().settings;
    assert_eq!(settings.server.listen, "127.0.0.1:0");
    assert_eq!(settings.worker.window, Duration::from_millis(25));
    let bad = vec![("PURGEHOOK__WORKER__WINDOW".to_string(), "soon".to_string())];
    let errors = prepare(DESIGN_EXAMPLE, bad).unwrap_err();
    assert_eq!(errors.errors[0].path, "worker.window");
    assert_eq!(
        errors.errors[0].variable.as_deref(),
        Some("PURGEHOOK__WORKER__WINDOW")
    );
}

#[test]
fn every_bad_key_of_one_target_is_reported_at_once() {
    let lines = error_lines(
        r#"
[targets.blog]
provider = "bigscoots"
window = "soon"
base_url = "not a url"
username = "u"
password = "env:PURGEHOOK_TEST_UNSET_BLOG_PASSWORD"
colour = "red"
"#,
    );
    let keys: Vec<&str> = lines
        .iter()
        .map(|line| line.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        keys,
        [
            "targets.blog.window",
            "targets.blog.base_url",
            "targets.blog.password",
            "targets.blog.colour",
        ],
        "{lines:#?}"
    );
    assert!(
        lines[2].contains("PURGEHOOK_TEST_UNSET_BLOG_PASSWORD is not set"),
        "{}",
        lines[2]
    );
}

#[test]
fn short_api_tokens_are_refused_without_showing_them() {
    let lines = error_lines(
        r#"
[server]
api_tokens = ["a-long-enough-random-token", "hunter2"]
"#,
    );
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].starts_with("server.api_tokens[1]: too short"),
        "{}",
        lines[0]
    );
    assert!(!lines[0].contains("hunter2"));
    let empty = error_lines("[server]\napi_tokens = [\"\"]");
    assert_eq!(empty, ["server.api_tokens[0]: literal is empty"]);
}

#[test]
fn unset_secret_variables_are_named_and_may_be_removed_from_a_list() {
    let lines = error_lines(
        r#"
[sources.github]
kind = "github"
secrets = ["env:PURGEHOOK_TEST_UNSET_GITHUB_SECRET", "literal", "env:PURGEHOOK_TEST_UNSET_OLD"]
"#,
    );
    assert_eq!(
        lines,
        [
            "sources.github.secrets[0]: environment variable PURGEHOOK_TEST_UNSET_GITHUB_SECRET is not set (if it is no longer used, remove it from the list)",
            "sources.github.secrets[2]: environment variable PURGEHOOK_TEST_UNSET_OLD is not set (if it is no longer used, remove it from the list)",
        ]
    );
}

#[test]
fn follow_up_keys_read_flat_or_as_a_verify_table_with_defaults() {
    let prepared = parse(
        r#"
[targets.cdn]
provider = "cloudflare"
zone_id = "z"
api_token = "t"
verify = true
verify_rate = "10/s"
warm = true
escalate_after = 50

[targets.edge]
provider = "varnish"
base_url = "http://127.0.0.1:6081"
verify = { rate = "1/2s", max = 20, retries = 0, delay = "5s" }
"#,
    )
    .expect("valid");
    let cdn = &prepared.targets["cdn"].settings.follow_up;
    assert!(cdn.verify && cdn.warm);
    assert_eq!(cdn.verify_rate.interval(), Duration::from_millis(100));
    assert_eq!(cdn.verify_max, 100, "default");
    assert_eq!(cdn.verify_retries, 2, "default");
    assert_eq!(cdn.verify_delay, Duration::from_secs(2), "default");
    assert_eq!(
        cdn.warm_rate.interval(),
        Duration::from_millis(500),
        "default"
    );
    assert_eq!(cdn.escalate_after, Some(50));
    assert_eq!(
        cdn.describe(),
        ", verify 10/1s (at most 100 URLs a batch, 2 re-purges, after 2s), warm 2/1s, escalate after 50 URLs"
    );
    let edge = &prepared.targets["edge"].settings.follow_up;
    assert!(edge.verify, "a table turns it on");
    assert!(!edge.warm);
    assert_eq!(edge.verify_rate.interval(), Duration::from_secs(2));
    assert_eq!(
        (edge.verify_max, edge.verify_retries, edge.verify_delay),
        (20, 0, Duration::from_secs(5))
    );
    assert_eq!(edge.escalate_after, None);
    let workers = prepared.workers();
    let cdn_worker = workers.iter().find(|w| w.target == "cdn").unwrap();
    assert_eq!(cdn_worker.escalate_after, Some(50));
    let after = cdn_worker.after_purge.as_ref().expect("follow-ups");
    assert!(after.verify.is_some() && after.warm.is_some());
}

#[test]
fn follow_up_keys_a_provider_cannot_honour_are_errors_naming_the_target_and_key() {
    let lines = error_lines(
        r#"
[targets.tasks]
provider = "cache_tasks"
base_url = "https://cms.example.com/api"
token = "t"
escalate_after = 50

[targets.shop]
provider = "wpengine"
install_id = "i"
username = "u"
password = "p"
verify = true
warm = true
escalate_after = 10
"#,
    );
    let at = |path: &str| lines.iter().find(|l| l.starts_with(path)).cloned();
    let tasks = at("targets.tasks.escalate_after:").expect("escalation refused");
    assert!(tasks.contains("neither prefixes nor everything"), "{tasks}");
    let verify = at("targets.shop.verify:").expect("verify refused");
    assert!(verify.contains("purges no URLs"), "{verify}");
    assert!(at("targets.shop.warm:").is_some(), "{lines:?}");
    assert!(
        at("targets.shop.escalate_after").is_none(),
        "WP Engine purges everything: {lines:?}"
    );
}

#[test]
fn bad_follow_up_values_are_named() {
    let lines = error_lines(
        r#"
[targets.cdn]
provider = "log"
verify = { rate = "fast", dealy = "1s", retries = 1 }
verify_retries = 4
verify_max = 0
escalate_after = 0
warm = "yes"
"#,
    );
    let joined = lines.join("\n");
    for expected in [
        "targets.cdn.verify.rate: expected a rate",
        "targets.cdn.verify.dealy: unknown key (did you mean `delay`?)",
        "targets.cdn.verify_retries: given twice: as verify_retries and as verify.retries",
        "targets.cdn.verify_max: must be between 1 and 10000, got 0",
        "targets.cdn.escalate_after: must be at least 1",
        "targets.cdn.warm: invalid type",
    ] {
        assert!(joined.contains(expected), "{expected:?} not in\n{joined}");
    }
    let wrong = error_lines("[targets.cdn]\nprovider = \"log\"\nverify = 3\n");
    assert!(
        wrong[0].contains("expected true, false or a table"),
        "{wrong:?}"
    );
}
