//! How the worker paces a provider: jobs merge while a target waits for its
//! rate-limit slot, `Retry-After` (seconds or HTTP date) is waited out,
//! retries back off exponentially with jitter, and a circuit breaker stops
//! calling a provider that keeps failing while the other targets carry on.
//! Waits are checked on paused time where only lower bounds matter (the
//! embedded store's delays follow tokio's clock); the rest in real time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use purgehook::job::{Action, Job};
use purgehook::provider::{Provider, ProviderError, ProviderSettings};
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

/// A provider that records its calls (in the test's clock) and answers
/// each with the next of its scripted errors, then succeeds.
struct Scripted {
    errors: Mutex<Vec<ProviderError>>,
    calls: Mutex<Vec<Instant>>,
}

#[async_trait::async_trait]
impl Provider for Scripted {
    async fn purge(&self, _: &Action) -> Result<(), ProviderError> {
        self.calls.lock().unwrap().push(Instant::now());
        let mut errors = self.errors.lock().unwrap();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.remove(0))
        }
    }
}

impl Scripted {
    fn new(errors: Vec<ProviderError>) -> Arc<Scripted> {
        Arc::new(Scripted {
            errors: Mutex::new(errors),
            calls: Mutex::default(),
        })
    }

    fn unavailable(times: usize) -> Arc<Scripted> {
        Scripted::new(vec![unavailable(); times])
    }

    fn calls(&self) -> Vec<Instant> {
        self.calls.lock().unwrap().clone()
    }

    fn gaps(&self) -> Vec<Duration> {
        self.calls().windows(2).map(|w| w[1] - w[0]).collect()
    }
}

fn unavailable() -> ProviderError {
    ProviderError::Retryable {
        message: "503 Service Unavailable".into(),
    }
}

const WINDOW: Duration = Duration::from_millis(10);

fn worker(target: &str, provider: Arc<Scripted>, breaker_failures: u32) -> TargetWorker {
    let table: toml::Table = toml::from_str("").unwrap();
    let log = ProviderSettings::parse("log", table, "targets.x", &mut Vec::new()).unwrap();
    TargetWorker {
        target: target.into(),
        provider,
        capabilities: log.capabilities(),
        window: WINDOW,
        rate: None,
        retry: RetryPolicy {
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(4),
            max_attempts: 5,
        },
        max_batch: 100,
        stop_grace: Duration::from_secs(1),
        breaker: BreakerPolicy {
            failures: breaker_failures,
            cooldown: Duration::from_secs(30),
            max_cooldown: Duration::from_secs(60),
        },
    }
}

/// An embedded queue and workers on it, stopped on drop.
struct Workers {
    queue: Queue,
    stop: tokio_util::sync::CancellationToken,
    _dir: tempfile::TempDir,
}

impl Workers {
    fn start(workers: Vec<TargetWorker>) -> Workers {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open_embedded(dir.path()).unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        for worker in workers {
            tokio::spawn(worker.run(queue.clone(), stop.clone()));
        }
        Workers {
            queue,
            stop,
            _dir: dir,
        }
    }

    async fn purge(&self, target: &str) {
        let job = Job::new(target, Action::EVERYTHING, None);
        self.queue.publish(&[job]).await.unwrap();
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

const WAIT: Duration = Duration::from_secs(3_600);

#[tokio::test(start_paused = true)]
async fn failed_calls_wait_their_backoff_on_the_tokio_clock_then_dead_letter() {
    let provider = Scripted::unavailable(100);
    let workers = Workers::start(vec![worker("edge", provider.clone(), 0)]);
    workers.purge("edge").await;

    let dead = eventually(WAIT, "the dead letter", || async {
        let dead = workers.queue.dead_letters().await.unwrap();
        (!dead.is_empty()).then_some(dead)
    })
    .await;
    assert_eq!(dead[0].attempts, 5);
    assert!(
        dead[0].reason.contains("after 5 attempts"),
        "{}",
        dead[0].reason
    );
    let gaps = provider.gaps();
    assert_eq!(gaps.len(), 4, "five calls");
    // Each retry waits its delay (full jitter below 1 s, 2 s, 4 s, 4 s: the
    // ceilings are checked in `worker::retry`) and collects for a window.
    assert!(gaps.iter().all(|gap| *gap >= WINDOW), "{gaps:?}");
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_waited_out_on_the_tokio_clock() {
    let provider = Scripted::new(vec![ProviderError::RateLimited {
        retry_after: Some(Duration::from_secs(90)),
        message: "429 Too Many Requests".into(),
    }]);
    let workers = Workers::start(vec![worker("edge", provider.clone(), 5)]);
    workers.purge("edge").await;
    eventually(WAIT, "the purge done", || async {
        (workers.queue.pending_jobs("edge") == Some(0)).then_some(())
    })
    .await;
    let gaps = provider.gaps();
    assert_eq!(gaps.len(), 1);
    assert!(gaps[0] >= Duration::from_secs(90), "{gaps:?}");
}

/// In real time: while a store write is in flight the runtime is idle, and
/// paused time would jump ahead to the next probe.
#[tokio::test]
async fn a_failing_provider_trips_its_breaker_and_only_its_own_target_waits() {
    // Three failures open the breaker (cooldown 1 s, doubling, up to 2 s);
    // the fifth call, the second probe, succeeds.
    let down = Scripted::unavailable(4);
    let up = Scripted::unavailable(0);
    let mut failing = worker("down", down.clone(), 3);
    failing.retry.backoff = Duration::from_millis(1);
    failing.retry.max_backoff = Duration::from_millis(1);
    failing.breaker.cooldown = Duration::from_secs(1);
    failing.breaker.max_cooldown = Duration::from_secs(2);
    let workers = Workers::start(vec![failing, worker("up", up.clone(), 3)]);
    let wait = Duration::from_secs(20);

    workers.purge("down").await;
    eventually(wait, "the breaker to open", || async {
        (down.calls().len() >= 3).then_some(())
    })
    .await;
    let opened = down.calls()[2];
    workers.purge("up").await;
    eventually(wait, "the other target served", || async {
        (up.calls().len() == 1).then_some(())
    })
    .await;
    assert!(
        up.calls()[0] - opened < Duration::from_millis(900),
        "the healthy target did not wait for the broken one"
    );
    assert_eq!(down.calls().len(), 3, "nothing called while open");

    eventually(wait, "the job done", || async {
        (workers.queue.pending_jobs("down") == Some(0)).then_some(())
    })
    .await;
    let gaps = down.gaps();
    assert_eq!(gaps.len(), 4, "{gaps:?}");
    // The first probe, after 1 s, fails; the next waits twice as long.
    assert!(gaps[2] >= Duration::from_secs(1), "{gaps:?}");
    assert!(gaps[3] >= Duration::from_secs(2), "{gaps:?}");
}
