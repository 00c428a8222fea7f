//! How the worker paces a provider: jobs merge while a target waits for its
//! rate-limit slot, `Retry-After` (seconds or HTTP date) is waited out,
//! retries back off exponentially with jitter, and a circuit breaker stops
//! calling a provider that keeps failing while the other targets carry on.
//! Waits are checked on paused time where only lower bounds matter (the
//! embedded store's delays follow tokio's clock); the rest in real time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use purgehook::action::Action;
use purgehook::capability::Capabilities;
use purgehook::job::Job;
use purgehook::provider::{Provider, ProviderError};
use purgehook::queue::Queue;
use purgehook::worker::TargetWorker;
use purgehook::worker::breaker::BreakerPolicy;
use purgehook::worker::retry::RetryPolicy;
use tokio::time::Instant;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::fakes::wpengine::{self, WpEngine};
use crate::helpers::tid;
use crate::helpers::*;

/// WP Engine's limit (one object purge a minute) scaled down: rate
/// `1/500ms`, twenty purges 60 ms apart.
#[tokio::test]
async fn twenty_object_purges_in_1_2_s_at_one_per_500_ms_make_at_most_four_calls_and_no_429() {
    // The install answers 429 to object purges that arrive closer than
    // 500 ms on its clock — exactly the rate, measured between arrivals
    // (issue 10: a call spaced from the start of the previous one was
    // seen arriving 499.9 ms after it).
    let wpe = WpEngine::with_object_interval(Duration::from_millis(500)).await;
    let config = format!(
        "{}{}rate = \"1/500ms\"\n",
        sources(),
        wpe.target("shop", "inst", wpengine::PASSWORD)
    );
    let app = spawn_app(&config).await;
    let start = Instant::now();
    for index in 0..20u32 {
        tokio::time::sleep_until(start + Duration::from_millis(60) * index).await;
        app.queue.publish(&[object_purge("shop")]).await.unwrap();
    }
    eventually(Duration::from_secs(10), "every purge done", || async {
        (app.queue.pending_jobs("shop") == Some(0)).then_some(())
    })
    .await;

    let calls = wpe.requests().await.len();
    assert!((2..=4).contains(&calls), "{calls} calls");
    assert_eq!(wpe.rate_limited(), 0, "no call was refused");
    assert!(app.queue.dead_letters().await.unwrap().is_empty());
    app.stop().await;
}

/// Answers 429 asking for 1 s, then 429 with an HTTP date (whole seconds)
/// at least 500 ms ahead, then 200; records when it was called and how long
/// it asked to wait.
struct AsksToWait {
    calls: Arc<Mutex<Vec<(Instant, Duration)>>>,
}

impl Respond for AsksToWait {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut calls = self.calls.lock().unwrap();
        let now = SystemTime::now();
        let (asked, retry_after) = match calls.len() {
            0 => (Duration::from_secs(1), "1".to_string()),
            1 => {
                let at = whole_second_after(now + Duration::from_millis(500));
                (at.duration_since(now).unwrap(), httpdate::fmt_http_date(at))
            }
            _ => (Duration::ZERO, String::new()),
        };
        calls.push((Instant::now(), asked));
        if asked.is_zero() {
            return ResponseTemplate::new(200);
        }
        ResponseTemplate::new(429)
            .insert_header("Retry-After", retry_after.as_str())
            .set_body_json(serde_json::json!({"message": "slow down"}))
    }
}

/// `at`, rounded up to a whole second.
fn whole_second_after(at: SystemTime) -> SystemTime {
    let since_epoch = at.duration_since(UNIX_EPOCH).unwrap();
    let seconds = since_epoch.as_secs() + u64::from(since_epoch.subsec_nanos() > 0);
    UNIX_EPOCH + Duration::from_secs(seconds)
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
        .publish(&[Job::new(tid("edge"), urls, None)])
        .await
        .unwrap();
    eventually(Duration::from_secs(20), "the purge done", || async {
        (app.queue.pending_jobs("edge") == Some(0)).then_some(())
    })
    .await;

    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 3);
    for pair in calls.windows(2) {
        let ((at, asked), (next, _)) = (pair[0], pair[1]);
        assert!(next - at >= asked, "{calls:?}");
    }
    app.stop().await;
}

/// A provider that records its calls (in the test's clock), takes `delay`
/// over each, and answers each with the next of its scripted errors, then
/// succeeds.
struct Scripted {
    errors: Mutex<Vec<ProviderError>>,
    calls: Mutex<Vec<(Instant, Action)>>,
    delay: Duration,
}

#[async_trait::async_trait]
impl Provider for Scripted {
    async fn purge(&self, action: &Action) -> Result<(), ProviderError> {
        self.calls
            .lock()
            .unwrap()
            .push((Instant::now(), action.clone()));
        tokio::time::sleep(self.delay).await;
        let mut errors = self.errors.lock().unwrap();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.remove(0))
        }
    }

    fn describe(&self) -> String {
        "scripted".into()
    }
}

impl Scripted {
    fn new(errors: Vec<ProviderError>) -> Arc<Scripted> {
        Arc::new(Scripted {
            errors: Mutex::new(errors),
            calls: Mutex::default(),
            delay: Duration::ZERO,
        })
    }

    fn unavailable(times: usize) -> Arc<Scripted> {
        Scripted::new(vec![unavailable(); times])
    }

    fn calls(&self) -> Vec<Instant> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|(at, _)| *at)
            .collect()
    }

    fn actions(&self) -> Vec<Action> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|(_, a)| a.clone())
            .collect()
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
    TargetWorker {
        target: tid(target),
        provider,
        capabilities: Capabilities::any("scripted"),
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
        rate_limited_wait: Duration::from_secs(30),
        escalate_after: None,
        after_purge: None,
        history: purgehook::history::History::off(),
    }
}

/// An embedded queue and workers on it, stopped on drop.
struct Workers {
    queue: Queue,
    stop: tokio_util::sync::CancellationToken,
    _dir: tempfile::TempDir,
}

impl Workers {
    async fn start(workers: Vec<TargetWorker>) -> Workers {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open_embedded(dir.path()).await.unwrap();
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
        let job = Job::new(tid(target), Action::EVERYTHING, None);
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
    let workers = Workers::start(vec![worker("edge", provider.clone(), 0)]).await;
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
    let workers = Workers::start(vec![worker("edge", provider.clone(), 5)]).await;
    workers.purge("edge").await;
    eventually(WAIT, "the purge done", || async {
        (workers.queue.pending_jobs("edge") == Some(0)).then_some(())
    })
    .await;
    let gaps = provider.gaps();
    assert_eq!(gaps.len(), 1);
    assert!(gaps[0] >= Duration::from_secs(90), "{gaps:?}");
}

/// The breaker's first cooldown in the real-time tests below.
const COOLDOWN: Duration = Duration::from_millis(500);

/// In real time: while a store write is in flight the runtime is idle, and
/// paused time would jump ahead to the next probe.
#[tokio::test]
async fn a_failing_provider_trips_its_breaker_and_only_its_own_target_waits() {
    // Three failures open the breaker (cooldown 500 ms, doubling, up to
    // 1 s); the fifth call, the second probe, succeeds.
    let down = Scripted::unavailable(4);
    let up = Scripted::unavailable(0);
    let mut failing = worker("down", down.clone(), 3);
    failing.retry.backoff = Duration::from_millis(1);
    failing.retry.max_backoff = Duration::from_millis(1);
    failing.breaker.cooldown = COOLDOWN;
    failing.breaker.max_cooldown = 2 * COOLDOWN;
    let workers = Workers::start(vec![failing, worker("up", up.clone(), 3)]).await;
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
        up.calls()[0] - opened < COOLDOWN * 9 / 10,
        "the healthy target did not wait for the broken one"
    );
    assert_eq!(down.calls().len(), 3, "nothing called while open");

    eventually(wait, "the job done", || async {
        (workers.queue.pending_jobs("down") == Some(0)).then_some(())
    })
    .await;
    let gaps = down.gaps();
    assert_eq!(gaps.len(), 4, "{gaps:?}");
    // The first probe, after the cooldown, fails; the next waits twice as
    // long.
    assert!(gaps[2] >= COOLDOWN, "{gaps:?}");
    assert!(gaps[3] >= 2 * COOLDOWN, "{gaps:?}");
}

/// A batch that merges into two calls: URLs, then tags.
async fn two_calls(queue: &Queue, target: &str) {
    let urls = Action::Urls {
        urls: vec!["https://a.example/".into()],
    };
    let tags = Action::Tags {
        tags: vec!["news".into()],
    };
    let jobs = [
        Job::new(tid(target), urls, None),
        Job::new(tid(target), tags, None),
    ];
    queue.publish(&jobs).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn after_a_stop_the_call_in_progress_finishes_and_no_new_call_starts() {
    let provider = Arc::new(Scripted {
        errors: Mutex::default(),
        calls: Mutex::default(),
        delay: Duration::from_secs(5),
    });
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open_embedded(dir.path()).await.unwrap();
    two_calls(&queue, "edge").await;
    let stop = tokio_util::sync::CancellationToken::new();
    let mut worker = worker("edge", provider.clone(), 3);
    worker.stop_grace = Duration::from_secs(10);
    let running = tokio::spawn(worker.run(queue.clone(), stop.clone()));
    eventually(WAIT, "the first call", || async {
        (!provider.calls().is_empty()).then_some(())
    })
    .await;
    stop.cancel();
    running.await.unwrap();

    assert_eq!(provider.calls().len(), 1, "{:?}", provider.actions());
    assert_eq!(
        queue.pending_jobs("edge"),
        Some(1),
        "the first call was done within the grace; the second waits in the queue"
    );
}

/// In real time: in paused time the store's writes let the clock jump past
/// the cooldown while the test publishes.
#[tokio::test]
async fn when_the_breaker_opens_mid_batch_the_rest_waits_in_the_queue_and_merges() {
    let provider = Scripted::unavailable(1);
    let mut edge = worker("edge", provider.clone(), 1);
    edge.retry.backoff = Duration::from_millis(1);
    edge.retry.max_backoff = Duration::from_millis(1);
    edge.breaker.cooldown = COOLDOWN;
    let workers = Workers::start(vec![edge]).await;
    two_calls(&workers.queue, "edge").await;
    let wait = Duration::from_secs(20);
    eventually(wait, "the failed first call", || async {
        (!provider.calls().is_empty()).then_some(())
    })
    .await;
    // While the breaker is open, another tag is to be purged.
    let sports = Action::Tags {
        tags: vec!["sports".into()],
    };
    let job = Job::new(tid("edge"), sports, None);
    workers.queue.publish(&[job]).await.unwrap();
    eventually(wait, "every purge done", || async {
        (workers.queue.pending_jobs("edge") == Some(0) && provider.calls().len() >= 3).then_some(())
    })
    .await;

    let calls = provider.calls();
    let actions = provider.actions();
    assert!(matches!(actions[0], Action::Urls { .. }), "{actions:?}");
    assert!(calls[1] - calls[0] >= COOLDOWN, "{calls:?}");
    // The first tags call was not made while the breaker was open: it went
    // back to the queue and merged with the tag that came meanwhile.
    assert_eq!(actions.len(), 3, "{actions:?}");
    let tags: Vec<&Vec<String>> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Tags { tags } => Some(tags),
            _ => None,
        })
        .collect();
    assert_eq!(tags.len(), 1, "{actions:?}");
    assert_eq!(tags[0].len(), 2, "{actions:?}");
}
