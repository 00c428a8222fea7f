//! Reloading the configuration while the service runs: sources, targets
//! and rules change for every request that starts afterwards, while the
//! requests and batches in progress finish as they began; an invalid
//! configuration is refused, saying why, and the running one stays; SIGHUP
//! does it for the real binary; on RabbitMQ a target added by a reload gets
//! its queue before anything is published for it.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use purgehook::app::Role;
use purgehook::config;

use crate::amqp::{Deployment, purged_ids};
use crate::fakes::bigscoots::BigScoots;
use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(20);

const GITHUB_ONLY: &str = r#"
[sources.github]
kind = "github"
secrets = ["It's a Secret to Everybody"]
"#;

/// WordPress posts go to `target`.
fn posts_to(target: &str) -> String {
    format!(
        r#"
[[rules]]
name = "published post"
source = "wp"
event = "post.*"
[[rules.actions]]
target = "{target}"
post_ids = ["{{{{ payload.data.post.ID }}}}"]
"#
    )
}

/// The configuration `toml` as the app's own overrides would read it.
fn loaded(app: &TestApp, toml: &str) -> config::Loaded {
    let overrides = vec![
        (
            "PURGEHOOK__QUEUE__PATH".to_string(),
            format!("\"{}\"", app.dir.path().join("queue").display()),
        ),
        (
            "PURGEHOOK__SERVER__LISTEN".to_string(),
            "127.0.0.1:0".to_string(),
        ),
    ];
    config::from_toml(toml, std::path::Path::new("test.toml"), overrides).expect("TOML")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_moves_sources_targets_and_rules_without_dropping_a_request() {
    let old_site = BigScoots::start(APP_PASSWORD).await;
    let new_site = BigScoots::start(APP_PASSWORD).await;
    let before = format!(
        "{}{}{}",
        sources(),
        old_site.target("old", APP_PASSWORD, "window = \"10ms\""),
        posts_to("old")
    );
    // Both targets, the posts going to the new one: the old one's jobs
    // still queued when the configuration flips are done by its worker.
    let after = format!(
        "{}{}{}{}",
        sources(),
        old_site.target("old", APP_PASSWORD, "window = \"10ms\""),
        new_site.target("new", APP_PASSWORD, "window = \"10ms\""),
        posts_to("new")
    );
    let app = spawn_app(&before).await;

    // A stream of deliveries while the configuration flips back and forth,
    // every 25 answers.
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sender = {
        let client = app.client.clone();
        let address = app.address.clone();
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut answers = Vec::new();
            for id in 1..=150u64 {
                let body = post_event("post.published", id, "post");
                let mut request = client
                    .post(format!("{address}/hooks/wp"))
                    .body(body.clone());
                for (name, value) in standard_headers(&body) {
                    request = request.header(name, value);
                }
                let status = request.send().await.map(|r| r.status().as_u16());
                answers.push((id, status.unwrap_or(0)));
                sent.store(id, std::sync::atomic::Ordering::SeqCst);
            }
            answers
        })
    };
    for round in 0..5 {
        let due = 25 * (round + 1);
        eventually(WAIT, "the stream going on", || async {
            (sent.load(std::sync::atomic::Ordering::SeqCst) >= due).then_some(())
        })
        .await;
        let toml = if round % 2 == 0 { &after } else { &before };
        let reloaded = app
            .reloader
            .reload(loaded(&app, toml))
            .await
            .expect("valid");
        assert!(reloaded.need_restart.is_empty(), "{reloaded:?}");
        tokio::task::yield_now().await;
    }
    let answers = sender.await.unwrap();
    let refused: Vec<_> = answers
        .iter()
        .filter(|(_, status)| *status != 202)
        .collect();
    assert!(
        refused.is_empty(),
        "every delivery answered 202: {refused:?}"
    );

    // Every accepted post is purged, at the site its configuration named.
    let accepted: BTreeSet<u64> = answers.iter().map(|(id, _)| *id).collect();
    eventually(
        WAIT,
        "every post purged at one site or the other",
        || async {
            let mut purged: BTreeSet<u64> =
                purged_ids(&old_site.requests().await).into_iter().collect();
            purged.extend(purged_ids(&new_site.requests().await));
            (purged == accepted).then_some(())
        },
    )
    .await;

    // The last reload (round 4) put `after` in force: new gets the next.
    let body = post_event("post.published", 500, "post");
    assert_eq!(app.wordpress(&body).await.status(), 202);
    eventually(WAIT, "the post purged at the new site", || async {
        purged_ids(&new_site.requests().await)
            .contains(&500)
            .then_some(())
    })
    .await;
    assert!(!purged_ids(&old_site.requests().await).contains(&500));
    app.stop().await;
}

#[tokio::test]
async fn a_source_added_by_a_reload_is_served_and_one_removed_is_not() {
    let site = BigScoots::start(APP_PASSWORD).await;
    let target = site.target("blog", APP_PASSWORD, "window = \"10ms\"");
    let app = spawn_app(&format!("{GITHUB_ONLY}{target}")).await;
    let body = post_event("post.published", 7, "post");
    assert_eq!(app.wordpress(&body).await.status(), 404, "no wp source yet");

    let reloaded = app
        .reloader
        .reload(loaded(
            &app,
            &format!("{}{target}{}", sources(), posts_to("blog")),
        ))
        .await
        .expect("valid");
    assert_eq!(reloaded.workers.kept, vec![tid("blog")], "{reloaded:?}");
    assert_eq!(app.wordpress(&body).await.status(), 202);
    eventually(WAIT, "the post purged", || async {
        purged_ids(&site.requests().await)
            .contains(&7)
            .then_some(())
    })
    .await;

    app.reloader
        .reload(loaded(&app, &format!("{GITHUB_ONLY}{target}")))
        .await
        .expect("valid");
    assert_eq!(
        app.wordpress(&body).await.status(),
        404,
        "the wp source is gone"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_invalid_configuration_is_refused_and_the_running_one_stays() {
    let site = BigScoots::start(APP_PASSWORD).await;
    let target = site.target("blog", APP_PASSWORD, "window = \"10ms\"");
    let good = format!("{}{target}{}", sources(), posts_to("blog"));
    let app = spawn_app(&good).await;

    let broken = [
        // A rule naming a target that does not exist.
        format!("{}{target}{}", sources(), posts_to("nowhere")),
        // A provider that does not exist.
        format!(
            "{}[targets.blog]\nprovider = \"akamai\"\n{}",
            sources(),
            posts_to("blog")
        ),
        // A key that is not one.
        format!("{}{target}windw = \"1s\"\n{}", sources(), posts_to("blog")),
    ];
    for toml in &broken {
        let errors = app
            .reloader
            .reload(loaded(&app, toml))
            .await
            .expect_err("refused");
        let said = errors.to_string();
        assert!(
            said.contains("nowhere") || said.contains("akamai") || said.contains("windw"),
            "says what is wrong: {said}"
        );
    }
    let body = post_event("post.published", 9, "post");
    assert_eq!(app.wordpress(&body).await.status(), 202, "the old one runs");
    eventually(WAIT, "the post purged", || async {
        purged_ids(&site.requests().await)
            .contains(&9)
            .then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_being_called_when_its_target_changes_finishes_once_and_the_next_uses_the_new_settings()
 {
    let site = BigScoots::start(APP_PASSWORD).await;
    site.slow_next(1, Duration::from_millis(800)).await;
    let config = |window: &str| {
        format!(
            "{}{}{}",
            sources(),
            site.target("blog", APP_PASSWORD, &format!("window = \"{window}\"")),
            posts_to("blog")
        )
    };
    let app = spawn_app(&config("10ms")).await;
    assert_eq!(
        app.wordpress(&post_event("post.published", 1, "post"))
            .await
            .status(),
        202
    );
    eventually(WAIT, "the slow call in progress", || async {
        (!site.requests().await.is_empty()).then_some(())
    })
    .await;

    // The target's settings change while its call is in progress.
    let reloaded = app
        .reloader
        .reload(loaded(&app, &config("20ms")))
        .await
        .expect("valid");
    assert_eq!(reloaded.workers.replaced, vec![tid("blog")], "{reloaded:?}");
    assert_eq!(
        app.wordpress(&post_event("post.published", 2, "post"))
            .await
            .status(),
        202
    );
    eventually(WAIT, "the next post purged by the new worker", || async {
        purged_ids(&site.requests().await)
            .contains(&2)
            .then_some(())
    })
    .await;
    // Post 1's batch was finished and settled by the old worker: never
    // given back, so never called again.
    let calls = purged_ids(&site.requests().await);
    assert_eq!(calls.iter().filter(|id| **id == 1).count(), 1, "{calls:?}");
    eventually(WAIT, "nothing left queued", || async {
        (app.queue.pending_jobs("blog") == Some(0)).then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn settings_only_a_restart_applies_are_said_and_left_as_they_run() {
    let site = BigScoots::start(APP_PASSWORD).await;
    let target = site.target("blog", APP_PASSWORD, "");
    let app = spawn_app(&format!("{}{target}", sources())).await;
    let reloaded = app
        .reloader
        .reload(loaded(
            &app,
            &format!(
                "{}{target}[server]\nmax_body_bytes = 4096\napi_tokens = [\"a-new-operator-token-2026\"]\n[worker]\nmax_batch = 10\n[dedupe]\nwindow = \"1h\"\n",
                sources()
            ),
        ))
        .await
        .expect("valid");
    assert_eq!(
        reloaded.need_restart,
        vec!["[server]", "[dedupe]", "[worker] max_batch"],
        "api_tokens alone are applied"
    );
    // The new token works at once.
    let answer = app
        .client
        .get(format!("{}/api/v1/dead-letters", app.address))
        .bearer_auth("a-new-operator-token-2026")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    app.stop().await;
}

#[test]
fn sighup_reloads_the_binary_and_a_bad_file_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("purgehook.toml");
    let log_target = "[targets.notes]\nprovider = \"log\"\n";
    std::fs::write(&config, format!("{GITHUB_ONLY}{log_target}")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_purgehook"))
        .arg("serve")
        .env("PURGEHOOK_CONFIG", &config)
        .env("PURGEHOOK__SERVER__LISTEN", "127.0.0.1:0")
        .env("PURGEHOOK__QUEUE__PATH", dir.path().join("queue"))
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let lines = lines.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
    }
    let said = |what: &str| {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(line) = lines.lock().unwrap().iter().find(|l| l.contains(what)) {
                return line.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no line saying {what:?}: {:?}",
                lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let serving = said("purgehook is serving");
    let port: u16 = serving
        .split("port=")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|port| port.parse().ok())
        .expect("a port");
    let post = |source: &str| {
        let body = post_event("post.published", 3, "post");
        send(port, source, &standard_headers(&body), &body)
    };
    assert_eq!(post("wp"), 404, "no wp source yet");

    std::fs::write(
        &config,
        format!("{}{log_target}{}", sources(), posts_to("notes")),
    )
    .unwrap();
    hangup(&child);
    said("configuration reloaded");
    assert_eq!(post("wp"), 202, "the new source is served");

    std::fs::write(
        &config,
        format!("{}{log_target}{}", sources(), posts_to("nowhere")),
    )
    .unwrap();
    hangup(&child);
    let refused = said("configuration not reloaded");
    assert!(refused.contains("nowhere"), "names the problem: {refused}");
    assert_eq!(post("wp"), 202, "the running configuration stays");

    let _ = child.kill();
    let _ = child.wait();
}

fn hangup(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Sends a POST with a blocking client and returns its status.
fn send(port: u16, source: &str, headers: &[(String, String)], body: &[u8]) -> u16 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder().build().unwrap();
        let mut request = client
            .post(format!("http://127.0.0.1:{port}/hooks/{source}"))
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    })
}

#[tokio::test]
async fn on_rabbitmq_a_target_added_by_a_reload_has_its_queue_before_its_first_job() {
    if crate::services::rabbitmq_missing() {
        return;
    }
    let site = BigScoots::start(APP_PASSWORD).await;
    let other = BigScoots::start(APP_PASSWORD).await;
    let deployment = Deployment::new(&site, "10ms");
    let receiver = deployment.spawn(Role::Receiver).await;
    let worker = deployment.spawn(Role::Worker).await;

    // The same configuration plus a target `extra` that gets every post.
    let mut extended = deployment.config.clone();
    extended.push_str(&other.target("extra", APP_PASSWORD, "window = \"10ms\""));
    extended.push_str(&posts_to("extra"));
    for app in [&receiver, &worker] {
        let overrides = deployment.overrides(&crate::services::amqp_url());
        let overrides: Vec<(String, String)> = overrides
            .into_iter()
            .chain([(
                "PURGEHOOK__QUEUE__PATH".to_string(),
                format!("\"{}\"", app.dir.path().join("queue").display()),
            )])
            .collect();
        let loaded = config::from_toml(&extended, std::path::Path::new("test.toml"), overrides)
            .expect("TOML");
        app.reloader.reload(loaded).await.expect("valid");
    }
    assert_eq!(
        receiver
            .wordpress(&post_event("post.published", 77, "post"))
            .await
            .status(),
        202
    );
    eventually(WAIT, "the post purged at the new target", || async {
        purged_ids(&other.requests().await)
            .contains(&77)
            .then_some(())
    })
    .await;
    receiver.stop().await;
    worker.stop().await;
    deployment.clean_up_with(&["blog", "extra"]).await;
}
