//! How the worker paces a provider: jobs merge while a target waits for its
//! rate-limit slot, `Retry-After` (seconds or HTTP date) is waited out, and
//! a circuit breaker stops calling a provider that keeps failing while the
//! other targets carry on.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use purgehook::job::{Action, Job};
use purgehook::provider::{Capabilities, Provider, ProviderError, ProviderSettings};
use purgehook::queue::Queue;
use purgehook::worker::TargetWorker;
use purgehook::worker::breaker::BreakerPolicy;
use purgehook::worker::retry::RetryPolicy;
use tokio::time::Instant;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::fakes::wpengine::{self, WpEngine};
use crate::helpers::*;

fn object_purge() -> Job {
    Job::new(
        "shop",
        Action::Scopes {
            scopes: vec!["object".into()],
            full: false,
        },
        None,
    )
}

#[tokio::test]
async fn twenty_object_purges_over_twelve_seconds_make_at_most_four_calls_and_no_429() {
    // The install answers 429 to object purges closer than 5 s (minus a
    // little for the network), like WP Engine does for its 60 s.
    let wpe = WpEngine::with_object_interval(Duration::from_millis(4_900)).await;
    let config = format!(
        "{}{}rate = \"1/5s\"\n",
        sources(),
        wpe.target("shop", "inst", wpengine::PASSWORD)
    );
    let app = spawn_app(&config).await;
    let start = Instant::now();
    for index in 0..20u32 {
        tokio::time::sleep_until(start + Duration::from_millis(600) * index).await;
        app.queue.publish(&[object_purge()]).await.unwrap();
    }
    eventually(Duration::from_secs(30), "every purge done", || async {
        (app.queue.pending_jobs("shop") == Some(0)).then_some(())
    })
    .await;

    let calls = wpe.requests().await.len();
    assert!((2..=4).contains(&calls), "{calls} calls");
    assert_eq!(wpe.rate_limited(), 0, "no call was refused");
    assert!(app.queue.dead_letters().await.unwrap().is_empty());
}

/// Answers 429 asking for 2 s, then 429 with an HTTP date 3 s ahead, then
/// 200; records when it was called.
struct AsksToWait {
    calls: Arc<Mutex<Vec<Instant>>>,
}

impl Respond for AsksToWait {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut calls = self.calls.lock().unwrap();
        calls.push(Instant::now());
        let retry_after = match calls.len() {
            1 => "2".to_string(),
            2 => httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3)),
            _ => return ResponseTemplate::new(200),
        };
        ResponseTemplate::new(429)
            .insert_header("Retry-After", retry_after.as_str())
            .set_body_json(serde_json::json!({"message": "slow down"}))
    }
}

#[tokio::test]
async fn retry_after_in_seconds_and_as_a_date_is_waited_out() {
    let server = MockServer::start().await;
    let calls = Arc::new(Mutex::new(Vec::new()));
    Mock::given(wiremock::matchers::method("POST"))
        .respond_with(AsksToWait {
            calls: calls.clone(),
        })
        .mount(&server)
        .await;
    let config = format!(
        r#"{}
[worker]
backoff = "10ms"
max_backoff = "20ms"
[targets.edge]
provider = "http"
url = "{}/purge"
window = "10ms"
"#,
        sources(),
        server.uri()
    );
    let app = spawn_app(&config).await;
    let urls = Action::Urls {
        urls: vec!["https://example.com/a".into()],
    };
    app.queue
        .publish(&[Job::new("edge", urls, None)])
        .await
        .unwrap();
    eventually(Duration::from_secs(20), "the purge done", || async {
        (app.queue.pending_jobs("edge") == Some(0)).then_some(())
    })
    .await;

    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 3);
    assert!(calls[1] - calls[0] >= Duration::from_secs(2), "{calls:?}");
    // The date has whole seconds: at least 2 of the 3 remain.
    assert!(calls[2] - calls[1] >= Duration::from_secs(2), "{calls:?}");
}

/// A provider that records its calls and fails them while `failing` is set.
struct Flaky {
    failing: Mutex<bool>,
    calls: Mutex<Vec<Instant>>,
}

#[async_trait::async_trait]
impl Provider for Flaky {
    async fn purge(&self, _: &Action) -> Result<(), ProviderError> {
        self.calls.lock().unwrap().push(Instant::now());
        if *self.failing.lock().unwrap() {
            Err(ProviderError::Retryable {
                message: "503 Service Unavailable".into(),
            })
        } else {
            Ok(())
        }
    }
}

impl Flaky {
    fn new(failing: bool) -> Arc<Flaky> {
        Arc::new(Flaky {
            failing: Mutex::new(failing),
            calls: Mutex::default(),
        })
    }

    fn calls(&self) -> Vec<Instant> {
        self.calls.lock().unwrap().clone()
    }
}

fn worker(target: &str, provider: Arc<Flaky>, capabilities: Capabilities) -> TargetWorker {
    TargetWorker {
        target: target.into(),
        provider,
        capabilities,
        window: Duration::from_millis(10),
        rate: None,
        retry: RetryPolicy {
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(1),
            max_attempts: 1_000,
        },
        max_batch: 100,
        stop_grace: Duration::from_secs(1),
        breaker: BreakerPolicy {
            failures: 3,
            cooldown: Duration::from_secs(1),
            max_cooldown: Duration::from_secs(2),
        },
    }
}

/// In real time: retries go through the queue, whose delays are wall-clock.
#[tokio::test]
async fn a_failing_provider_trips_its_breaker_and_only_its_own_target_waits() {
    let table: toml::Table = toml::from_str("").unwrap();
    let log = ProviderSettings::parse("log", table, "targets.x", &mut Vec::new()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open_embedded(dir.path()).unwrap();
    let failing = Flaky::new(true);
    let healthy = Flaky::new(false);
    let stop = tokio_util::sync::CancellationToken::new();
    for (target, provider) in [("down", failing.clone()), ("up", healthy.clone())] {
        let worker = worker(target, provider, log.capabilities());
        tokio::spawn(worker.run(queue.clone(), stop.clone()));
    }
    let purge = |target: &str| Job::new(target, Action::EVERYTHING, None);
    let wait = Duration::from_secs(20);

    queue.publish(&[purge("down")]).await.unwrap();
    eventually(wait, "the breaker to open", || async {
        (failing.calls().len() >= 3).then_some(())
    })
    .await;
    queue.publish(&[purge("up")]).await.unwrap();
    eventually(wait, "the other target served", || async {
        (healthy.calls().len() == 1).then_some(())
    })
    .await;
    let opened = failing.calls()[2];
    assert!(
        healthy.calls()[0] - opened < Duration::from_millis(900),
        "the healthy target did not wait for the broken one"
    );
    assert_eq!(failing.calls().len(), 3, "nothing called while open");

    // The probe after the cooldown fails: twice as long before the next.
    eventually(wait, "two probes", || async {
        (failing.calls().len() >= 5).then_some(())
    })
    .await;
    let calls = failing.calls();
    assert!(calls[3] - calls[2] >= Duration::from_secs(1), "{calls:?}");
    assert!(calls[4] - calls[3] >= Duration::from_secs(2), "{calls:?}");

    // The provider recovers: the next probe succeeds and the job is done.
    *failing.failing.lock().unwrap() = false;
    eventually(wait, "the job done", || async {
        (queue.pending_jobs("down") == Some(0)).then_some(())
    })
    .await;
    assert_eq!(failing.calls().len(), 6);
    stop.cancel();
}
