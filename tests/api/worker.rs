//! The worker against a misbehaving provider: retries with backoff until it
//! succeeds, dead letters for permanent failures and exhausted attempts.

use std::time::Duration;

use serde_json::json;

use crate::fakes::bigscoots::BigScoots;
use crate::fakes::json as body_json;
use crate::helpers::tid;
use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(10);

fn config(site: &BigScoots, password: &str, max_attempts: u32) -> String {
    format!(
        r#"{}{}
[worker]
window = "10ms"
backoff = "10ms"
max_backoff = "40ms"
max_attempts = {max_attempts}

[[rules]]
name = "published post"
source = "wp"
[[rules.actions]]
target = "blog"
post_ids = ["{{{{ payload.data.post.ID }}}}"]
"#,
        sources(),
        site.target("blog", password, "")
    )
}

async fn dead_letters(app: &TestApp) -> Vec<purgehook::queue::DeadLetter> {
    eventually(WAIT, "a dead letter", || async {
        let dead = app.queue.dead_letters().await.unwrap();
        (!dead.is_empty()).then_some(dead)
    })
    .await
}

#[tokio::test]
async fn server_errors_are_retried_until_the_purge_succeeds() {
    let site = BigScoots::start(APP_PASSWORD).await;
    site.fail_next(2, 503).await;
    let app = spawn_app(&config(&site, APP_PASSWORD, 5)).await;
    assert_eq!(
        app.wordpress(&post_event("post.published", 9, "post"))
            .await
            .status(),
        202
    );

    eventually(WAIT, "the job to be done", || async {
        (app.queue.pending_jobs("blog") == Some(0) && site.requests().await.len() == 3)
            .then_some(())
    })
    .await;
    let calls = site.requests().await;
    assert!(
        calls
            .iter()
            .all(|c| body_json(c) == json!({"purge_type": "post_ids", "post_ids": [9]}))
    );
    assert!(app.queue.dead_letters().await.unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn bad_credentials_are_dead_lettered_at_once_with_the_providers_words() {
    let site = BigScoots::start(APP_PASSWORD).await;
    let app = spawn_app(&config(&site, "wrong password", 5)).await;
    assert_eq!(
        app.wordpress(&post_event("post.published", 9, "post"))
            .await
            .status(),
        202
    );

    let dead = dead_letters(&app).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 1);
    assert_eq!(dead[0].target, "blog");
    assert_eq!(
        dead[0].job.as_ref().map(|j| j.target.as_str()),
        Some("blog")
    );
    assert!(dead[0].reason.contains("401"), "{}", dead[0].reason);
    assert!(
        dead[0]
            .reason
            .contains("Sorry, you are not allowed to do that."),
        "{}",
        dead[0].reason
    );
    assert!(!dead[0].reason.contains("wrong password"));
    assert_eq!(
        site.requests().await.len(),
        1,
        "a permanent failure is not retried"
    );
    // The dead letter is on disk a moment before the delivery leaves memory.
    eventually(WAIT, "the delivery settled", || async {
        (app.queue.pending_jobs("blog") == Some(0)).then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn attempts_are_bounded_then_dead_lettered() {
    let site = BigScoots::start(APP_PASSWORD).await;
    site.fail_next(100, 500).await;
    let app = spawn_app(&config(&site, APP_PASSWORD, 3)).await;
    assert_eq!(
        app.wordpress(&post_event("post.published", 9, "post"))
            .await
            .status(),
        202
    );

    let dead = dead_letters(&app).await;
    assert_eq!(dead[0].attempts, 3);
    assert!(
        dead[0].reason.starts_with("gave up after 3 attempts"),
        "{}",
        dead[0].reason
    );
    assert!(
        dead[0].reason.contains("upstream error"),
        "the provider's body is quoted: {}",
        dead[0].reason
    );
    assert_eq!(site.requests().await.len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn a_stop_while_waiting_out_a_429_keeps_the_remaining_calls_queued() {
    use crate::fakes::wpengine::{self, WpEngine};
    use purgehook::queue::Queue;

    let wpe = WpEngine::start().await;
    let config = format!(
        r#"{}{}
[[rules]]
name = "deploy"
source = "github"
event = "push"
[[rules.actions]]
target = "shop"
scopes = ["object", "page"]
"#,
        sources(),
        // An explicit rate replaces the documented one, so the 429 happens.
        wpe.target("shop", "inst", wpengine::PASSWORD) + "rate = \"100/s\"\n"
    );
    let app = spawn_app(&config).await;
    // The first push purges object then page; the second push's object purge
    // is refused with the documented 429, which asks for 60 s.
    assert_eq!(app.github("push", PUSH_NEW_BRANCH).await.status(), 202);
    eventually(WAIT, "the first two calls", || async {
        (wpe.requests().await.len() == 2).then_some(())
    })
    .await;
    assert_eq!(app.github("push", PUSH_NEW_BRANCH).await.status(), 202);
    eventually(WAIT, "the 429", || async {
        (wpe.requests().await.len() == 3).then_some(())
    })
    .await;

    let dir = tokio::time::timeout(Duration::from_secs(10), app.stop())
        .await
        .expect("stopping does not wait out the provider's 60 s");
    // The HTTP workers release their handle on the store as they wind down.
    let queue = eventually(WAIT, "the store to be released", || async {
        Queue::open_embedded(&dir.path().join("queue")).await.ok()
    })
    .await;
    assert_eq!(
        queue.pending_jobs("shop"),
        Some(2),
        "the refused call and the one not yet made"
    );
    assert_eq!(
        wpe.requests().await.len(),
        3,
        "nothing was called during the wait"
    );
}

/// A provider that records when it was called (in the test's clock).
struct Recorder {
    start: tokio::time::Instant,
    calls: std::sync::Mutex<Vec<(Duration, purgehook::action::Action)>>,
}

#[async_trait::async_trait]
impl purgehook::provider::Provider for Recorder {
    async fn purge(
        &self,
        action: &purgehook::action::Action,
    ) -> Result<(), purgehook::provider::ProviderError> {
        self.calls
            .lock()
            .unwrap()
            .push((self.start.elapsed(), action.clone()));
        Ok(())
    }

    fn describe(&self) -> String {
        "recorder".into()
    }
}

#[tokio::test(start_paused = true)]
async fn wp_engine_object_purges_wait_the_documented_minute_and_merge_meanwhile() {
    use purgehook::action::Action;
    use purgehook::job::Job;
    use purgehook::provider::registry;
    use purgehook::queue::Queue;
    use purgehook::worker::TargetWorker;
    use purgehook::worker::retry::RetryPolicy;
    use std::sync::Arc;

    let table: toml::Table =
        toml::from_str("install_id = \"i\"\nusername = \"u\"\npassword = \"p\"").unwrap();
    let client = purgehook::provider::client().unwrap();
    let settings = registry::standalone("wpengine", table, &tid("shop"), &client).unwrap();
    let recorder = Arc::new(Recorder {
        start: tokio::time::Instant::now(),
        calls: Default::default(),
    });
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open_embedded(dir.path()).await.unwrap();
    let worker = TargetWorker {
        target: tid("shop"),
        provider: recorder.clone(),
        capabilities: settings.capabilities,
        window: Duration::from_millis(10),
        rate: None,
        retry: RetryPolicy {
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            max_attempts: 3,
        },
        max_batch: 100,
        stop_grace: Duration::from_secs(1),
        breaker: purgehook::worker::breaker::BreakerPolicy {
            failures: 5,
            cooldown: Duration::from_secs(30),
            max_cooldown: Duration::from_secs(300),
        },
        rate_limited_wait: Duration::from_secs(30),
        escalate_after: None,
        after_purge: None,
        history: purgehook::history::History::off(),
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(worker.run(queue.clone(), stop.clone()));
    let object = || object_purge("shop");
    let calls = || recorder.calls.lock().unwrap().clone();

    queue.publish(&[object()]).await.unwrap();
    eventually(Duration::from_secs(5), "the first object purge", || async {
        (calls().len() == 1).then_some(())
    })
    .await;
    // While the object cache may not be purged, new purges arrive together.
    let page = Job::new(
        tid("shop"),
        Action::Scopes {
            scopes: vec!["page".into()],
            full: false,
        },
        None,
    );
    queue
        .publish(&[object(), object(), object(), page])
        .await
        .unwrap();
    eventually(Duration::from_secs(120), "the next calls", || async {
        (calls().len() >= 3).then_some(())
    })
    .await;

    let calls = calls();
    let object_calls: Vec<Duration> = calls
        .iter()
        .filter(|(_, a)| matches!(a, Action::Scopes { scopes, .. } if scopes[0] == "object"))
        .map(|(at, _)| *at)
        .collect();
    assert_eq!(
        object_calls.len(),
        2,
        "three object purges merged into one call: {calls:?}"
    );
    assert!(
        object_calls[1] - object_calls[0] >= Duration::from_secs(60),
        "{calls:?}"
    );
    assert!(
        calls
            .iter()
            .any(|(_, a)| matches!(a, Action::Scopes { scopes, .. } if scopes[0] == "page"))
    );
    stop.cancel();
    running.await.unwrap();
}

#[tokio::test]
async fn a_stop_during_a_long_provider_job_queues_the_purge_again() {
    use purgehook::queue::Queue;

    // An OCM site whose refresh job never finishes.
    let ocm = crate::fakes::async_jobs::ocm(u32::MAX, "succeeded").await;
    let config = format!(
        r#"{}
[worker]
window = "10ms"
stop_grace = "100ms"

[targets.site]
provider = "oracle_ocm"
base_url = "{}"
site = "SITE1"
token = "{}"
poll_interval = "10ms"

[[rules]]
name = "refresh"
source = "github"
event = "push"
[[rules.actions]]
target = "site"
everything = true
"#,
        sources(),
        ocm.uri(),
        crate::fakes::async_jobs::TOKEN
    );
    let app = spawn_app(&config).await;
    assert_eq!(app.github("push", PUSH_NEW_BRANCH).await.status(), 202);
    eventually(WAIT, "the job to be polled", || async {
        (ocm.received_requests().await.unwrap_or_default().len() >= 3).then_some(())
    })
    .await;

    let dir = tokio::time::timeout(Duration::from_secs(10), app.stop())
        .await
        .expect("a stop does not wait for the provider's job");
    let queue = eventually(WAIT, "the store to be released", || async {
        Queue::open_embedded(&dir.path().join("queue")).await.ok()
    })
    .await;
    assert_eq!(
        queue.pending_jobs("site"),
        Some(1),
        "the refresh is queued to be redone"
    );
    assert!(queue.dead_letters().await.unwrap().is_empty());
}
