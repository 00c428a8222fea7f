//! The status page in a real headless Chromium (Debian's `chromium`): it
//! renders the targets, shows the one whose breaker is open and the dead
//! letters, and its replay button — clicked by the page itself when asked
//! by URL (`#replay=<id>`) — replays a letter whose purge then reaches the
//! provider; each target's rate-limit slot (an hour away after a `1/1h`
//! target's call, a `Retry-After` hold, an open breaker's probe). Served
//! without a token on `[server] status_listen`; on the main listener behind
//! the API's bearer token. Skipped without Chromium, except under CI=1.

use std::io::Write as _;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use purgehook::action::Action;
use purgehook::job::Job;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, ResponseTemplate};

use crate::fakes::bigscoots::BigScoots;
use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "status-token-0123456789";

/// Whether Chromium is missing and the calling test should return at once
/// (under CI=1 it fails instead).
fn chromium_missing() -> bool {
    static FOUND: OnceLock<bool> = OnceLock::new();
    let found = *FOUND.get_or_init(|| {
        let found = Command::new("chromium").arg("--version").output().is_ok_and(|o| o.status.success());
        if !found && std::env::var_os("CI").is_none() {
            let _ = writeln!(
                std::io::stderr(),
                "\nskipped: the status page tests — no `chromium` on PATH (apt-get install chromium, or run `bash .ci/run`); with CI set, they fail instead."
            );
        }
        found
    });
    assert!(
        found || std::env::var_os("CI").is_none(),
        "chromium is not installed: CI is set, so the status page tests fail (apt-get install chromium)"
    );
    !found
}

/// Chromium, headless, loading `url` and running its script for a few
/// seconds of virtual time; `extra` says what to produce (the DOM, a
/// screenshot).
async fn chromium(url: String, extra: Vec<String>) -> String {
    tokio::task::spawn_blocking(move || {
        let profile = tempfile::tempdir().unwrap();
        let output = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--virtual-time-budget=4000",
                &format!("--user-data-dir={}", profile.path().display()),
            ])
            .args(&extra)
            .arg(&url)
            .output()
            .expect("chromium runs");
        assert!(
            output.status.success(),
            "chromium failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    })
    .await
    .unwrap()
}

async fn dump_dom(url: String) -> String {
    chromium(url, vec!["--dump-dom".into()]).await
}

/// A free local port, for `status_listen`.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn post_ids_job(target: &str, id: u64) -> Job {
    let action = Action::from_json(json!({"kind": "post_ids", "post_ids": [id]})).unwrap();
    Job::new(tid(target), action, None)
}

/// A blog and a site that always fails; two failures in a row open a
/// breaker for an hour; one attempt per job.
fn config(blog: &BigScoots, broken: &BigScoots, status_port: u16) -> String {
    format!(
        r#"{}{}{}
[server]
api_tokens = ["{TOKEN}"]
status_listen = "127.0.0.1:{status_port}"

[worker]
window = "10ms"
backoff = "10ms"
max_backoff = "20ms"
max_attempts = 1
breaker_failures = 2
breaker_cooldown = "1h"
"#,
        sources(),
        blog.target("status-blog", APP_PASSWORD, ""),
        broken.target("status-broken", APP_PASSWORD, ""),
    )
}

async fn letters(app: &TestApp, target: &str) -> Vec<Value> {
    let letters: Vec<Value> = app
        .client
        .get(format!("{}/api/v1/dead-letters", app.address))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    letters
        .into_iter()
        .filter(|l| l["target"] == target)
        .collect()
}

/// The app with a broken target whose breaker is open, and a dead letter
/// of the blog's (its id returned).
async fn with_open_breaker_and_a_dead_letter(
    blog: &BigScoots,
    broken: &BigScoots,
    port: u16,
) -> (TestApp, String) {
    blog.fail_next(1, 503).await;
    broken.fail_next(100, 503).await;
    let app = spawn_app(&config(blog, broken, port)).await;
    for count in 1..=2 {
        app.queue
            .publish(&[post_ids_job("status-broken", count)])
            .await
            .unwrap();
        eventually(WAIT, "the broken site's dead letter", || async {
            (letters(&app, "status-broken").await.len() == count as usize).then_some(())
        })
        .await;
    }
    let job = post_ids_job("status-blog", 7);
    app.queue.publish(std::slice::from_ref(&job)).await.unwrap();
    eventually(WAIT, "the blog's dead letter", || async {
        (letters(&app, "status-blog").await.len() == 1).then_some(())
    })
    .await;
    (app, job.id.to_string())
}

#[tokio::test]
async fn the_page_shows_the_open_breaker_and_its_replay_button_purges() {
    if chromium_missing() {
        return;
    }
    let (blog, broken) = (
        BigScoots::start(APP_PASSWORD).await,
        BigScoots::start(APP_PASSWORD).await,
    );
    let port = free_port();
    let (app, letter) = with_open_breaker_and_a_dead_letter(&blog, &broken, port).await;
    let page = format!("http://127.0.0.1:{port}/status");

    let dom = eventually(WAIT, "the page showing the open breaker", || async {
        let dom = dump_dom(page.clone()).await;
        dom.contains(r#"data-target="status-broken" data-breaker="open""#)
            .then_some(dom)
    })
    .await;
    assert!(
        dom.contains(r#"data-target="status-blog" data-breaker="closed""#),
        "{dom}"
    );
    assert!(dom.contains("bigscoots"), "the provider is shown: {dom}");
    let data: Value = (app
        .client
        .get(format!("http://127.0.0.1:{port}/status/data")))
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let broken = &data["targets"][1];
    assert_eq!(broken["id"], "status-broken");
    let probe = broken["next_slot_in_seconds"].as_f64().unwrap();
    // The hour's cooldown, capped at 15 min like every pause.
    assert!(
        (800.0..=900.0).contains(&probe),
        "no call before the breaker's probe: {broken}"
    );
    assert!(
        dom.contains(&format!(r#"data-replay="{letter}""#)),
        "the letter's replay button: {dom}"
    );
    assert!(
        dom.contains(r#"data-kind="call""#),
        "the last calls are shown: {dom}"
    );
    if let Some(path) = std::env::var_os("PURGEHOOK_STATUS_SCREENSHOT") {
        let path = std::path::PathBuf::from(path);
        let shot = format!("--screenshot={}", path.display());
        chromium(
            page.clone(),
            vec![
                shot,
                "--window-size=1280,900".into(),
                "--hide-scrollbars".into(),
            ],
        )
        .await;
        assert!(path.exists());
    }

    assert_eq!(blog.requests().await.len(), 1, "the blog's one failed call");
    let dom = dump_dom(format!("{page}#replay={letter}")).await;
    eventually(WAIT, "the replayed purge at the blog", || async {
        (blog.requests().await.len() == 2).then_some(())
    })
    .await;
    assert!(
        dom.contains(&format!("replayed {letter}")),
        "the page says so: {dom}"
    );
    eventually(WAIT, "the blog's letter gone", || async {
        letters(&app, "status-blog").await.is_empty().then_some(())
    })
    .await;
    assert_eq!(
        letters(&app, "status-broken").await.len(),
        2,
        "the other letters stay"
    );
    app.stop().await;
}

#[tokio::test]
async fn on_the_main_listener_the_page_and_its_data_want_the_token() {
    let (blog, broken) = (
        BigScoots::start(APP_PASSWORD).await,
        BigScoots::start(APP_PASSWORD).await,
    );
    let status_port = free_port();
    // Targets of their own: each target's slot is process-wide, like the
    // metrics, and the other test's are asserted.
    let toml = config(&blog, &broken, status_port).replace("[targets.status-", "[targets.token-");
    let app = spawn_app(&toml).await;
    for path in ["/status", "/status/data"] {
        assert_eq!(app.get(path).await.status().as_u16(), 401, "{path}");
    }
    let get = |path: &'static str| {
        app.client
            .get(format!("{}{path}", app.address))
            .bearer_auth(TOKEN)
            .send()
    };
    let page = get("/status").await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<script>") && !html.contains("src=\"http"),
        "inline, no external assets"
    );
    let data: Value = get("/status/data").await.unwrap().json().await.unwrap();
    let targets: Vec<&str> = data["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["token-blog", "token-broken"]);
    assert_eq!(data["targets"][0]["breaker"], "closed");
    assert_eq!(data["targets"][0]["queue_depth"], 0);
    assert_eq!(data["backend"], "embedded");
    // On the status address the page needs no token, the rest of the API does.
    let status = format!("http://127.0.0.1:{status_port}");
    let answer =
        async |request: reqwest::RequestBuilder| request.send().await.unwrap().status().as_u16();
    let client = &app.client;
    assert_eq!(
        answer(client.get(format!("{status}/status/data"))).await,
        200
    );
    let history = client.get(format!("{status}/api/v1/history?target=token-blog"));
    assert_eq!(answer(history).await, 401);
    let purge = client
        .post(format!("{status}/api/v1/purge"))
        .json(&json!({"target": "token-blog", "kind": "everything"}));
    assert_eq!(
        answer(purge).await,
        401,
        "a purge wants the token there too"
    );
    app.stop().await;
}

/// A target with `rate = "1/1h"`, after its one call, shows its next slot
/// an hour away (the rate's period and its 1 s margin), from the target's
/// own `rate`; one without a rate is free now; one whose provider answered
/// 429 with `Retry-After: 600` is held ten minutes. The page says so too.
#[tokio::test]
async fn a_target_that_spent_its_rate_shows_its_next_slot_an_hour_away() {
    let (hourly, free, held) = (
        BigScoots::start(APP_PASSWORD).await,
        BigScoots::start(APP_PASSWORD).await,
        BigScoots::start(APP_PASSWORD).await,
    );
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "600"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&held.server)
        .await;
    let port = free_port();
    let toml = format!(
        "{}{}{}{}[server]\napi_tokens = [\"{TOKEN}\"]\nstatus_listen = \"127.0.0.1:{port}\"\n\n[worker]\nwindow = \"10ms\"\n",
        sources(),
        hourly.target("status-hourly", APP_PASSWORD, "rate = \"1/1h\""),
        free.target("status-free", APP_PASSWORD, ""),
        held.target("status-held", APP_PASSWORD, ""),
    );
    let app = spawn_app(&toml).await;
    let data_url = format!("http://127.0.0.1:{port}/status/data");
    let target = |data: &Value, id: &str| {
        let targets = data["targets"].as_array().unwrap();
        targets.iter().find(|t| t["id"] == id).unwrap().clone()
    };
    // Free before its first call, once its worker has started.
    eventually(WAIT, "the hourly target's slot free", || async {
        let data: Value = app
            .client
            .get(&data_url)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let next = target(&data, "status-hourly")["next_slot_in_seconds"].clone();
        (!next.is_null()).then(|| assert_eq!(next, 0.0))
    })
    .await;

    app.queue
        .publish(&[
            post_ids_job("status-hourly", 1),
            post_ids_job("status-free", 2),
            post_ids_job("status-held", 3),
        ])
        .await
        .unwrap();
    let data = eventually(WAIT, "both calls made, the hourly slot taken", || async {
        let data: Value = app
            .client
            .get(&data_url)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let calls = hourly.requests().await.len() + free.requests().await.len();
        let next = target(&data, "status-hourly")["next_slot_in_seconds"].as_f64()?;
        let held = target(&data, "status-held")["retry_after_hold"] == true;
        (calls == 2 && next > 0.0 && held).then_some(data)
    })
    .await;
    let hourly_status = target(&data, "status-hourly");
    assert_eq!(hourly_status["rate_limit"], "1/1h", "{hourly_status}");
    assert_eq!(hourly_status["rate_limit_from"], "target");
    let next = hourly_status["next_slot_in_seconds"].as_f64().unwrap();
    assert!(
        (3540.0..=3601.0).contains(&next),
        "about an hour away: {next}"
    );
    assert_eq!(hourly_status["retry_after_hold"], false);
    let free_status = target(&data, "status-free");
    assert_eq!(free_status["next_slot_in_seconds"], 0.0, "{free_status}");
    assert_eq!(free_status["rate_limit"], Value::Null);
    let held_status = target(&data, "status-held");
    let next = held_status["next_slot_in_seconds"].as_f64().unwrap();
    assert!((540.0..=600.0).contains(&next), "held ten minutes: {next}");

    if !chromium_missing() {
        let dom = dump_dom(format!("http://127.0.0.1:{port}/status")).await;
        assert!(dom.contains("1/1h (target)"), "{dom}");
        assert!(dom.contains("(Retry-After)"), "{dom}");
        assert!(
            dom.contains("next call in 1 h") || dom.contains("next call in 59 min"),
            "{dom}"
        );
    }
    app.stop().await;
}
