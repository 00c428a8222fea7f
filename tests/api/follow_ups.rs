//! What follows a purge, against a CDN that behaves as Cloudflare's does
//! (`fakes/cdn.rs`): verification finding a purge that did not take and
//! purging again through the queue (on both backends), giving up after
//! `verify_retries`, GET when HEAD is refused, warming spaced by
//! `warm_rate`; and purge storms escalated to one broader call.

use std::time::Duration;

use purgehook::action::Action;
use purgehook::app::Role;
use purgehook::config::QueueBackendKind;
use purgehook::job::Job;
use serde_json::{Value, json};

use crate::fakes::cdn::Cdn;
use crate::helpers::*;
use crate::services::amqp_url;

const WAIT: Duration = Duration::from_secs(20);
const HOUR: Duration = Duration::from_secs(3600);
const VERIFY_AGENT: &str = "(purge verification)";
const WARM_AGENT: &str = "(cache warming)";

/// The app on `backend` with `toml`; on RabbitMQ under a prefix of its own.
async fn spawn_on(backend: QueueBackendKind, toml: &str) -> (TestApp, Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut overrides = Vec::new();
    let prefix = (backend == QueueBackendKind::Amqp)
        .then(|| format!("test-{}", uuid::Uuid::now_v7().simple()));
    if let Some(prefix) = &prefix {
        overrides.push(("PURGEHOOK__QUEUE__BACKEND".into(), "amqp".into()));
        overrides.push(("PURGEHOOK__QUEUE__URL".into(), amqp_url()));
        overrides.push(("PURGEHOOK__QUEUE__PREFIX".into(), prefix.clone()));
    }
    (spawn_role(toml, Role::Serve, overrides, dir).await, prefix)
}

/// Removes what a test declared on RabbitMQ.
async fn clean_up(prefix: Option<String>, target: &str) {
    let Some(prefix) = prefix else { return };
    delete_amqp_topology(amqp_url(), &prefix, &[target]).await;
}

/// A counter of the app's `/metrics` for `target` (and `outcome`), 0 when
/// it is not there yet.
async fn metric(app: &TestApp, name: &str, target: &str, outcome: Option<&str>) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    let target = format!("target=\"{target}\"");
    let outcome = outcome.map(|o| format!("outcome=\"{o}\""));
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) && line.contains(&target))
        .filter(|line| outcome.as_ref().is_none_or(|o| line.contains(o.as_str())))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn verified(app: &TestApp, target: &str, outcome: &str) -> f64 {
    metric(
        app,
        "purgehook_purges_verified_total",
        target,
        Some(outcome),
    )
    .await
}

async fn purge_urls(app: &TestApp, target: &str, urls: Vec<String>) {
    let job = Job::new(tid(target), Action::Urls { urls }, None);
    app.queue.publish(&[job]).await.unwrap();
}

fn files(cdn: &Cdn, paths: &[&str]) -> Value {
    json!({ "files": paths.iter().map(|p| cdn.url(p)).collect::<Vec<_>>() })
}

async fn a_purge_that_did_not_take_is_found_stale_and_purged_again(backend: QueueBackendKind) {
    let cdn = Cdn::start().await;
    let target = format!("verify-{backend:?}").to_ascii_lowercase();
    cdn.cached_since("/blog/a", HOUR);
    cdn.cached_since("/blog/b", HOUR);
    cdn.hold_through("/blog/b", 1);
    let keys = "window = \"20ms\"\nverify = { rate = \"20/s\", delay = \"200ms\" }\nwarm = true\nwarm_rate = \"20/s\"";
    let config = format!("{}{}", sources(), cdn.target(&target, keys));
    let (app, prefix) = spawn_on(backend, &config).await;

    purge_urls(&app, &target, vec![cdn.url("/blog/a"), cdn.url("/blog/b")]).await;
    eventually(
        WAIT,
        "both URLs verified fresh, one after a re-purge",
        || async {
            let fresh = verified(&app, &target, "fresh").await;
            let stale = verified(&app, &target, "stale").await;
            (fresh == 2.0 && stale == 1.0).then_some(())
        },
    )
    .await;
    assert_eq!(
        cdn.purges(),
        [
            files(&cdn, &["/blog/a", "/blog/b"]),
            files(&cdn, &["/blog/b"])
        ],
        "the stale URL alone was purged again"
    );
    let checks: Vec<String> = cdn
        .edge_requests()
        .into_iter()
        .filter(|seen| seen.method == "HEAD")
        .inspect(|seen| assert!(seen.user_agent.contains(VERIFY_AGENT), "{seen:?}"))
        .map(|seen| seen.path)
        .collect();
    assert_eq!(checks.len(), 3, "one HEAD per URL and purge: {checks:?}");
    // Each page is warmed once, once it is found fresh.
    let warmed = eventually(WAIT, "both pages warmed", || async {
        let warmed: Vec<String> = cdn
            .origin_requests()
            .into_iter()
            .filter(|seen| seen.method == "GET" && seen.user_agent.contains(WARM_AGENT))
            .map(|seen| seen.path)
            .collect();
        (warmed.len() >= 2).then_some(warmed)
    })
    .await;
    assert_eq!(warmed, ["/blog/a", "/blog/b"]);
    app.stop().await;
    clean_up(prefix, &target).await;
}

mod verification_on_both_backends {
    use purgehook::config::QueueBackendKind;

    #[tokio::test]
    async fn embedded() {
        super::a_purge_that_did_not_take_is_found_stale_and_purged_again(
            QueueBackendKind::Embedded,
        )
        .await;
    }

    #[tokio::test]
    async fn amqp() {
        if crate::services::rabbitmq_missing() {
            return;
        }
        super::a_purge_that_did_not_take_is_found_stale_and_purged_again(QueueBackendKind::Amqp)
            .await;
    }
}

#[tokio::test]
async fn urls_still_stale_after_verify_retries_are_given_up_and_counted() {
    let cdn = Cdn::start().await;
    let target = "verify-retries";
    cdn.cached_since("/stuck", HOUR);
    cdn.hold_through("/stuck", 100);
    let keys = "window = \"20ms\"\nverify = true\nverify_rate = \"50/s\"\nverify_delay = \"50ms\"\nverify_retries = 2";
    let config = format!("{}{}", sources(), cdn.target(target, keys));
    let app = spawn_app(&config).await;

    purge_urls(&app, target, vec![cdn.url("/stuck")]).await;
    let still = "purgehook_purges_still_stale_total";
    eventually(WAIT, "the URL given up on", || async {
        (metric(&app, still, target, None).await == 1.0).then_some(())
    })
    .await;
    assert_eq!(verified(&app, target, "stale").await, 3.0);
    assert_eq!(
        cdn.purges(),
        vec![files(&cdn, &["/stuck"]); 3],
        "the purge, then verify_retries = 2 re-purges"
    );
    eventually(WAIT, "every job settled", || async {
        (app.queue.pending_jobs(target) == Some(0)).then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_cache_refusing_head_is_asked_with_get() {
    let cdn = Cdn::start().await;
    let target = "verify-get";
    cdn.refuse_head();
    let keys = "window = \"20ms\"\nverify = { rate = \"50/s\", delay = \"50ms\" }";
    let config = format!("{}{}", sources(), cdn.target(target, keys));
    let app = spawn_app(&config).await;

    purge_urls(&app, target, vec![cdn.url("/page")]).await;
    eventually(WAIT, "the URL verified", || async {
        (verified(&app, target, "fresh").await == 1.0).then_some(())
    })
    .await;
    let methods: Vec<String> = cdn
        .edge_requests()
        .into_iter()
        .map(|seen| seen.method)
        .collect();
    assert_eq!(methods, ["HEAD", "GET"], "two requests for this purge");
    app.stop().await;
}

#[tokio::test]
async fn warming_requests_each_purged_url_once_spaced_by_warm_rate() {
    let cdn = Cdn::start().await;
    let target = "warm-only";
    let keys = "window = \"20ms\"\nwarm = true\nwarm_rate = \"5/s\"\nverify_delay = \"50ms\"";
    let config = format!("{}{}", sources(), cdn.target(target, keys));
    let app = spawn_app(&config).await;

    let paths: Vec<String> = (1..=6).map(|i| format!("/post-{i}")).collect();
    purge_urls(&app, target, paths.iter().map(|p| cdn.url(p)).collect()).await;
    let warmed = eventually(WAIT, "six pages warmed", || async {
        let seen = cdn.origin_requests();
        (seen.len() >= 6).then_some(seen)
    })
    .await;
    let mut warmed_paths: Vec<String> = warmed.iter().map(|seen| seen.path.clone()).collect();
    warmed_paths.sort();
    assert_eq!(warmed_paths, paths, "each once");
    for seen in &warmed {
        assert_eq!(seen.method, "GET");
        assert!(seen.user_agent.starts_with("purgehook/"), "{seen:?}");
        assert!(seen.user_agent.contains(WARM_AGENT), "{seen:?}");
    }
    // 5/s: one request every 200 ms, as the origin recorded them (a little
    // slack for the network between two requests; none would be ~0 ms).
    for pair in warmed.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(150),
            "{gap:?} between two warming requests"
        );
    }
    eventually(WAIT, "the warming counted", || async {
        let ok = metric(&app, "purgehook_warm_requests_total", target, Some("ok")).await;
        (ok == 6.0).then_some(())
    })
    .await;
    assert!(
        cdn.edge_requests().iter().all(|seen| seen.method == "GET"),
        "no verification without verify"
    );
    app.stop().await;
}

/// A storm: 2,000 one-URL jobs queued at once for a Cloudflare target,
/// merged in one batch. Returns the purge calls once every job is settled.
async fn storm(target: &str, follow_up_keys: &str, path: impl Fn(usize) -> String) -> Vec<Value> {
    let cdn = Cdn::start().await;
    let keys = format!("window = \"3s\"\n{follow_up_keys}");
    let config = format!(
        "{}[worker]\nmax_batch = 5000\n{}",
        sources(),
        cdn.target(target, &keys)
    );
    let app = spawn_app(&config).await;
    let jobs: Vec<Job> = (0..2000)
        .map(|i| {
            let urls = vec![cdn.url(&path(i))];
            Job::new(tid(target), Action::Urls { urls }, None)
        })
        .collect();
    app.queue.publish(&jobs).await.unwrap();
    eventually(WAIT, "every job settled", || async {
        (app.queue.pending_jobs(target) == Some(0)).then_some(())
    })
    .await;
    let escalations = metric(&app, "purgehook_escalations_total", target, None).await;
    let purges = cdn.purges();
    assert_eq!(
        escalations,
        if purges.len() == 1 { 1.0 } else { 0.0 },
        "{purges:?}"
    );
    app.stop().await;
    purges
}

#[tokio::test]
async fn a_storm_of_2000_urls_sharing_a_directory_costs_one_prefix_purge() {
    let purges = storm("storm-prefix", "escalate_after = 50", |i| {
        format!("/blog/post-{i}/")
    })
    .await;
    assert_eq!(purges.len(), 1, "{purges:?}");
    let prefix = purges[0]["prefixes"][0].as_str().unwrap_or_default();
    assert!(
        prefix.starts_with("127.0.0.1:") && prefix.ends_with("/blog/"),
        "{purges:?}"
    );
    assert_eq!(purges[0].as_object().map(|o| o.len()), Some(1));
}

#[tokio::test]
async fn a_storm_of_2000_scattered_urls_costs_one_purge_of_everything() {
    let purges = storm("storm-everything", "escalate_after = 50", |i| {
        format!("/post-{i}/")
    })
    .await;
    assert_eq!(purges, [json!({"purge_everything": true})]);
}

#[tokio::test]
async fn without_escalation_a_storm_of_2000_urls_costs_20_calls() {
    let purges = storm("storm-plain", "", |i| format!("/blog/post-{i}/")).await;
    assert_eq!(purges.len(), 20);
    let mut urls: Vec<&str> = purges
        .iter()
        .flat_map(|p| p["files"].as_array().unwrap())
        .filter_map(Value::as_str)
        .collect();
    assert!(
        purges
            .iter()
            .all(|p| p["files"].as_array().unwrap().len() == 100)
    );
    urls.sort();
    urls.dedup();
    assert_eq!(urls.len(), 2000, "every URL once");
}
