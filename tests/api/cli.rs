//! The command line as a user runs it: `check`, `route` and `sign`.

use std::process::{Command, Output};

use serde_json::Value;

use crate::helpers::*;

fn purgehook(args: &[&str], config: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_purgehook"))
        .args(args)
        .env("PURGEHOOK_CONFIG", config)
        .env_remove("GITHUB_WEBHOOK_SECRET")
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const RULES: &str = r#"
[targets.site]
provider = "log"

[[rules]]
name = "content pushed"
source = "github"
event = "push"
[[rules.actions]]
target = "site"
urls = ['''{{ payload | changed_files | map('regex_replace', '^(.*)\\.md$', 'https://site.example/$1/') | list }}''']
"#;

fn write_config(dir: &tempfile::TempDir, body: &str) -> std::path::PathBuf {
    let path = dir.path().join("purgehook.toml");
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn check_prints_what_a_config_defines() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &format!("{}{RULES}", sources()));
    let output = purgehook(&["check"], &config);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("is valid."), "{stdout}");
    assert!(
        stdout.contains("github: github at POST /hooks/github"),
        "{stdout}"
    );
    assert!(stdout.contains("site: log"), "{stdout}");
    assert!(stdout.contains("\"content pushed\""), "{stdout}");
    assert!(!stdout.contains(GITHUB_SECRET), "secrets are never printed");
}

#[test]
fn check_lists_every_error_with_file_and_key_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        r#"
[server]
listen = "127.0.0.1:8080"
max_body = 10

[sources.github]
kind = "github"
secrets = ["env:GITHUB_WEBHOOK_SECRET"]

[targets.blog]
provider = "bigscoots"
base_url = "https://blog.example.com"
username = "deploy"
password = "literal app password"
window = "soon"
"#,
    );
    let output = purgehook(&["check", "--config", config.to_str().unwrap()], &config);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("has 3 errors"), "{stderr}");
    assert!(
        stderr.contains(
            "purgehook.toml: server.max_body: unknown key (did you mean `max_body_bytes`?)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "sources.github.secrets[0]: environment variable GITHUB_WEBHOOK_SECRET is not set"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("targets.blog.window: expected a duration"),
        "{stderr}"
    );
    assert!(!stderr.contains("literal app password"));
}

#[test]
fn route_shows_the_event_the_matching_rules_and_the_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &format!("{}{RULES}", sources()));
    let fixture = dir.path().join("push.json");
    std::fs::write(&fixture, PUSH_NEW_BRANCH).unwrap();
    let output = purgehook(
        &[
            "route",
            "--source",
            "github",
            "--event",
            "push",
            fixture.to_str().unwrap(),
        ],
        &config,
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let routed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(routed["event"]["type"], "push");
    assert_eq!(routed["matched_rules"][0], "content pushed");
    assert_eq!(routed["jobs"][0]["target"], "site");
    assert_eq!(
        routed["jobs"][0]["action"]["urls"][0],
        "https://site.example/README/"
    );
}

#[tokio::test]
async fn sign_makes_deliveries_the_receiver_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &format!("{}{RULES}", sources()));
    let fixture = dir.path().join("push.json");
    std::fs::write(&fixture, PUSH_NEW_BRANCH).unwrap();
    let output = purgehook(
        &[
            "sign",
            "--source",
            "github",
            "--event",
            "push",
            fixture.to_str().unwrap(),
        ],
        &config,
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let headers: Vec<(String, String)> = text(&output.stdout)
        .lines()
        .map(|line| {
            let (name, value) = line.split_once(": ").expect("Name: value");
            (name.to_string(), value.to_string())
        })
        .collect();
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "X-Hub-Signature-256" && v.starts_with("sha256="))
    );

    let app = spawn_app(&format!("{}{RULES}", sources())).await;
    let response = app.post_hook("github", &headers, PUSH_NEW_BRANCH).await;
    assert_eq!(response.status(), 202);
    app.stop().await;
}
