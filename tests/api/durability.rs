//! Nothing accepted is lost: the real binary is killed with SIGKILL right
//! after answering 202, and the job still runs once it starts again.

use std::path::Path;
use std::process::Child;
use std::time::Duration;

use serde_json::json;

use crate::fakes::bigscoots::BigScoots;
use crate::fakes::json as body_json;
use crate::helpers::*;

/// Starts `purgehook serve` and returns it with the port it listens on.
fn serve(config: &Path, window: &str) -> (Child, u16) {
    spawn_binary(
        "serve",
        config,
        &[("PURGEHOOK__TARGETS__BLOG__WINDOW", window)],
    )
}

#[tokio::test]
async fn a_job_accepted_before_kill_9_runs_after_restart() {
    let site = BigScoots::start(APP_PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("purgehook.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[queue]\npath = \"{}\"\n{}{}\n{}",
            dir.path().join("queue").display(),
            sources(),
            site.target("blog", APP_PASSWORD, ""),
            r#"
[[rules]]
name = "published post"
source = "wp"
[[rules.actions]]
target = "blog"
post_ids = ["{{ payload.data.post.ID }}"]
"#
        ),
    )
    .unwrap();

    // A window of an hour: the job cannot run before the kill.
    let (mut first, port) = serve(&config, "1h");
    let body = post_event("post.published", 1234, "post");
    let response = purgehook::provider::client()
        .unwrap()
        .post(format!("http://127.0.0.1:{port}/hooks/wp"))
        .headers(
            standard_headers(&body)
                .into_iter()
                .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
                .collect(),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    first.kill().expect("SIGKILL");
    first.wait().unwrap();
    assert!(
        site.requests().await.is_empty(),
        "nothing ran before the kill"
    );

    let (mut second, _) = serve(&config, "10ms");
    let calls = eventually(Duration::from_secs(15), "the job after restart", || async {
        let calls = site.requests().await;
        (!calls.is_empty()).then_some(calls)
    })
    .await;
    assert_eq!(
        body_json(&calls[0]),
        json!({"purge_type": "post_ids", "post_ids": [1234]})
    );
    second.kill().unwrap();
    second.wait().unwrap();
}
