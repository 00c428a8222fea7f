//! The purge history on the embedded backend: a GitHub push followed from
//! its event through its job and the provider call to the URL's
//! verification, asked by URL, event, job and target, `since` honoured;
//! the API's bearer check and its 400s naming the parameter; retention
//! deleting old records from the store's file; `purgehook history`
//! answering through the API while `serve` holds the store; and a job that
//! `purgehook purge` queues on the store itself, found by `purgehook
//! history` before and after `serve` ran it.

use std::time::Duration;

use purgehook::queue::Queue;
use serde_json::Value;

use crate::fakes::cdn::Cdn;
use crate::helpers::*;
use crate::operator::{purgehook, serve, stderr, stdout};

const WAIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "history-token-0123456789";

/// A Cloudflare zone whose purges are verified, a rule purging one of its
/// pages on every push, and an API token; `extra` is appended.
fn config(cdn: &Cdn, extra: &str) -> String {
    format!(
        r#"{}{}
[[rules]]
name = "pushed"
source = "github"
event = "push"
[[rules.actions]]
target = "zone"
urls = ["{}"]

[server]
api_tokens = ["{TOKEN}"]
{extra}"#,
        sources(),
        cdn.target(
            "zone",
            "window = \"20ms\"\nverify = { rate = \"20/s\", delay = \"200ms\" }"
        ),
        cdn.url("/blog/a"),
    )
}

/// `GET /api/v1/history?{query}` with the token: status and body.
async fn history(app: &TestApp, query: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = app
        .client
        .get(format!("{}/api/v1/history?{query}", app.address));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn records(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, body) = history(app, query, Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    body["records"].as_array().cloned().unwrap_or_default()
}

fn kinds(records: &[Value]) -> Vec<&str> {
    records
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_push_is_followed_from_its_event_to_the_verified_purge() {
    let cdn = Cdn::start().await;
    let app = spawn_app(&config(&cdn, "")).await;
    let response = app.github("push", PUSH_NEW_BRANCH).await;
    assert_eq!(response.status().as_u16(), 202);
    let answer: Value = response.json().await.unwrap();
    let event = answer["event_id"].as_str().unwrap().to_string();
    let job = answer["jobs"][0].as_str().unwrap().to_string();

    let by_job = eventually(WAIT, "the verification in the history", || async {
        let found = records(&app, &format!("job={job}")).await;
        (kinds(&found).first() == Some(&"verify")).then_some(found)
    })
    .await;
    assert_eq!(
        kinds(&by_job),
        ["verify", "call", "job", "event"],
        "{by_job:#?}"
    );
    let [verify, call, job_record, event_record] = &by_job[..] else {
        unreachable!()
    };
    assert_eq!(verify["outcome"], "fresh");
    assert_eq!(verify["urls"][0], cdn.url("/blog/a"));
    assert_eq!(call["outcome"], "ok");
    assert_eq!(call["target"], "zone");
    assert_eq!(
        verify["call"], call["call"],
        "the verification names its call"
    );
    assert!(
        call["jobs"]
            .as_array()
            .unwrap()
            .contains(&Value::from(job.as_str()))
    );
    assert_eq!(job_record["rule"], "pushed");
    assert_eq!(job_record["source"], "github");
    assert_eq!(job_record["event"], event.as_str());
    assert_eq!(event_record["outcome"], "accepted");
    assert!(
        event_record["delivery"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );

    // The same story by event, URL and target.
    let by_event = records(&app, &format!("event={event}")).await;
    assert_eq!(kinds(&by_event), kinds(&by_job));
    let url = cdn.url("/blog/a");
    let by_url = records(&app, &format!("url={}", urlencode(&url))).await;
    assert_eq!(kinds(&by_url), kinds(&by_job));
    let by_target = records(&app, "target=zone").await;
    assert_eq!(kinds(&by_target), ["verify", "call", "job"]);
    // The event came at least the verification's delay before its check.
    let recent = records(&app, &format!("job={job}&since=150ms")).await;
    assert!(!kinds(&recent).contains(&"event"), "{recent:#?}");
    let unknown = records(&app, "job=0190ffff-0000-7000-8000-000000000000").await;
    assert!(unknown.is_empty());
    app.stop().await;
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("x", text)]).unwrap()[2..].to_string()
}

#[tokio::test]
async fn the_history_api_wants_the_token_and_names_a_bad_parameter() {
    let cdn = Cdn::start().await;
    let app = spawn_app(&config(&cdn, "")).await;
    let (status, _) = history(&app, "target=zone", None).await;
    assert_eq!(status, 401);
    let (status, _) = history(&app, "target=zone", Some("not-the-token-at-all")).await;
    assert_eq!(status, 401);
    for (query, field) in [
        ("target=zone&since=soon", "since"),
        ("colour=red", "colour"),
        ("", "url"),
        ("url=a&job=b", "url"),
        ("job=", "job"),
        ("job=a&job=b", "job"),
    ] {
        let (status, body) = history(&app, query, Some(TOKEN)).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["field"], field, "{query}: {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn records_older_than_the_retention_are_deleted_from_the_store() {
    let cdn = Cdn::start().await;
    let app = spawn_app(&config(&cdn, "[history]\nretention = \"1s\"\n")).await;
    assert_eq!(
        app.github("push", PUSH_NEW_BRANCH).await.status().as_u16(),
        202
    );
    let Queue::Embedded(store) = &app.queue else {
        unreachable!("the embedded backend")
    };
    eventually(WAIT, "records in the store", || async {
        (!store.log_read(0).await.unwrap().is_empty()).then_some(())
    })
    .await;
    eventually(WAIT, "every record deleted", || async {
        store.log_read(0).await.unwrap().is_empty().then_some(())
    })
    .await;
    assert!(records(&app, "target=zone").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn the_history_command_answers_through_the_api_while_serve_holds_the_store() {
    let cdn = Cdn::start().await;
    let running = serve(&config(&cdn, ""));
    let output = purgehook(
        &["purge", "--target", "zone", "--url", &cdn.url("/blog/b")],
        &running.config,
        &running.env,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    let job = printed
        .split("(job ")
        .nth(1)
        .and_then(|rest| rest.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("a job id in {printed:?}"))
        .to_string();
    let found: Vec<Value> = eventually(WAIT, "the call in the history", || async {
        let output = purgehook(
            &["history", "--job", &job, "--json"],
            &running.config,
            &running.env,
        );
        assert!(output.status.success(), "{}", stderr(&output));
        let found: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
        found.iter().any(|r| r["kind"] == "call").then_some(found)
    })
    .await;
    let job_record = found.iter().find(|r| r["kind"] == "job").unwrap();
    assert_eq!(job_record["source"], "api");
    assert_eq!(job_record["urls"][0], cdn.url("/blog/b"));

    let table = stdout(&purgehook(
        &["history", "--url", &cdn.url("/blog/b")],
        &running.config,
        &running.env,
    ));
    assert!(table.starts_with("TIME"), "{table}");
    assert!(table.contains(&job) && table.contains("urls ×1"), "{table}");

    let bad = purgehook(
        &["history", "--job", &job, "--since", "soon"],
        &running.config,
        &running.env,
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--since"), "{}", stderr(&bad));
    let none = purgehook(&["history"], &running.config, &running.env);
    assert!(!none.status.success());
}

/// The job id `purgehook purge` printed.
fn printed_job(output: &std::process::Output) -> String {
    let printed = stdout(output);
    printed
        .split("(job ")
        .nth(1)
        .and_then(|rest| rest.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("a job id in {printed:?}"))
        .to_string()
}

/// `purgehook history --job ID --json`, run against the store itself.
fn history_of(job: &str, config: &std::path::Path, env: &[(&str, String)]) -> Vec<Value> {
    let output = purgehook(&["history", "--job", job, "--json"], config, env);
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn a_job_the_purge_command_queues_on_the_store_itself_is_in_the_history() {
    let cdn = Cdn::start().await;
    let toml = config(&cdn, "");
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("purgehook.toml");
    std::fs::write(&config_file, &toml).unwrap();
    let store = dir.path().join("queue");
    Queue::open_embedded(&store).await.unwrap().close().await;
    let env = [("PURGEHOOK__QUEUE__PATH", store.display().to_string())];

    let output = purgehook(
        &["purge", "--target", "zone", "--url", &cdn.url("/blog/c")],
        &config_file,
        &env,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let job = printed_job(&output);
    let queued = history_of(&job, &config_file, &env);
    assert_eq!(kinds(&queued), ["job"], "{queued:?}");
    assert_eq!(queued[0]["source"], "cli");
    assert_eq!(queued[0]["outcome"], "queued");
    assert_eq!(queued[0]["urls"][0], cdn.url("/blog/c"));

    // `serve` on the same store runs it; its call joins the job's history.
    let app = spawn_app_in(&toml, dir).await;
    eventually(WAIT, "the job's call in the history", || async {
        let found = records(&app, &format!("job={job}")).await;
        found
            .iter()
            .any(|r| r["kind"] == "call" && r["outcome"] == "ok")
            .then_some(())
    })
    .await;
    assert_eq!(
        cdn.purges(),
        [serde_json::json!({"files": [cdn.url("/blog/c")]})]
    );
    let dir = app.stop().await;
    let found = history_of(&job, &config_file, &env);
    assert!(
        found
            .iter()
            .any(|r| r["kind"] == "job" && r["source"] == "cli"),
        "{found:?}"
    );
    assert!(found.iter().any(|r| r["kind"] == "call"), "{found:?}");
    drop(dir);
}
