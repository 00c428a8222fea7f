use std::path::Path;
use std::time::Duration;

use super::*;

fn parse(text: &str) -> Result<Settings, ConfigErrors> {
    from_toml(text, Path::new("test.toml"), Vec::new())
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
    let settings = parse(DESIGN_EXAMPLE).expect("valid");
    assert_eq!(settings.worker.window, Duration::from_millis(1500));
    assert_eq!(settings.worker.max_backoff, Duration::from_secs(60));
    assert_eq!(settings.sources["github"].secrets.len(), 2);
    let blog = &settings.targets["blog"];
    assert_eq!(blog.provider.name(), "bigscoots");
    assert_eq!(blog.window, Some(Duration::from_secs(2)));
    assert_eq!(
        blog.rate.map(|r| r.interval()),
        Some(Duration::from_secs(60))
    );
    assert_eq!(settings.rules[0].actions.len(), 1);
}

#[test]
fn defaults_fill_missing_sections() {
    let settings = parse("").expect("empty config is valid");
    assert_eq!(settings.server.listen, "127.0.0.1:8080");
    assert_eq!(settings.queue.backend, QueueBackendKind::Embedded);
    assert_eq!(settings.worker.max_attempts, 8);
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
        lines[0].starts_with("server.listn: unknown field `listn`"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("worker.window: expected a duration"),
        "{}",
        lines[1]
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("targets.blog.colour: unknown field"))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("targets.cdn.provider: unknown provider \"akamai\""))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("surprise: unknown section"))
    );
}

#[test]
fn the_file_is_named_in_the_report() {
    let report = parse("[server]\nlisten = 3").unwrap_err().to_string();
    assert!(report.starts_with("test.toml has 1 error:"), "{report}");
    assert!(
        report.contains("test.toml: server.listen: invalid type: integer `3`, expected a string")
    );
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
    let debug = format!("{:?}", parse(&valid).unwrap());
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
    let settings = from_toml(DESIGN_EXAMPLE, Path::new("t.toml"), vars).unwrap();
    assert_eq!(settings.server.listen, "127.0.0.1:0");
    assert_eq!(settings.worker.window, Duration::from_millis(25));
    let bad = vec![("PURGEHOOK__WORKER__WINDOW".to_string(), "soon".to_string())];
    let errors = from_toml(DESIGN_EXAMPLE, Path::new("t.toml"), bad).unwrap_err();
    assert_eq!(errors.errors[0].path, "worker.window");
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
            "targets.blog.colour",
            "targets.blog.password"
        ],
        "{lines:#?}"
    );
    assert!(
        lines[3].contains("PURGEHOOK_TEST_UNSET_BLOG_PASSWORD is not set"),
        "{}",
        lines[3]
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
fn unset_secret_variables_are_named() {
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
            "sources.github.secrets[0]: environment variable PURGEHOOK_TEST_UNSET_GITHUB_SECRET is not set",
            "sources.github.secrets[2]: environment variable PURGEHOOK_TEST_UNSET_OLD is not set",
        ]
    );
}
