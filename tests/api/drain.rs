//! Draining a backlog: a full batch goes out at once instead of waiting its
//! window, so a backlog of several batches is called batch after batch; the
//! window waits only once the queue has nothing more. On the embedded store
//! with tokio's paused clock (times exact), and on the real RabbitMQ, where
//! the batch's deliveries are acknowledged together.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use purgehook::action::Action;
use purgehook::config::{AmqpQueueType, QueueBackendKind, QueueSettings};
use purgehook::job::Job;
use purgehook::queue::Queue;
use purgehook::worker::TargetWorker;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::helpers::{eventually, tid};

/// The window of these tests: long, so that waiting it shows.
const WINDOW: Duration = Duration::from_secs(600);

/// A provider that records each call's URL count and when it came.
struct Counter {
    start: Instant,
    calls: Mutex<Vec<(Duration, usize)>>,
}

impl Counter {
    fn new() -> Arc<Counter> {
        Arc::new(Counter {
            start: Instant::now(),
            calls: Mutex::default(),
        })
    }

    fn calls(&self) -> Vec<(Duration, usize)> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl purgehook::provider::Provider for Counter {
    async fn purge(&self, action: &Action) -> Result<(), purgehook::provider::ProviderError> {
        let at = self.start.elapsed();
        self.calls.lock().unwrap().push((at, action.item_count()));
        Ok(())
    }

    fn describe(&self) -> String {
        "counter".into()
    }
}

fn worker(provider: Arc<Counter>, max_batch: usize) -> TargetWorker {
    TargetWorker {
        target: tid("site"),
        provider,
        capabilities: purgehook::capability::Capabilities::any("counter"),
        window: WINDOW,
        rate: None,
        retry: purgehook::worker::retry::RetryPolicy {
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            max_attempts: 3,
        },
        max_batch,
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
    }
}

/// `count` jobs of one URL each, every URL its own.
fn url_jobs(count: usize) -> Vec<Job> {
    (0..count)
        .map(|n| {
            let urls = vec![format!("https://site.example/p/{n}")];
            Job::new(tid("site"), Action::Urls { urls }, None)
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_backlog_of_three_full_batches_is_called_at_once_not_once_per_window() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open_embedded(dir.path()).await.unwrap();
    queue.publish(&url_jobs(300)).await.unwrap();
    let counter = Counter::new();
    let stop = CancellationToken::new();
    let running = tokio::spawn(worker(counter.clone(), 100).run(queue.clone(), stop.clone()));

    // Before: each full batch waited its window, the third call came after 3.
    eventually(WINDOW / 2, "three calls within half a window", || async {
        (counter.calls().len() == 3).then_some(())
    })
    .await;
    let calls = counter.calls();
    assert!(calls.iter().all(|(_, urls)| *urls == 100), "{calls:?}");
    assert!(calls.iter().all(|(at, _)| *at < WINDOW / 2), "{calls:?}");
    eventually(WINDOW / 2, "the backlog settled", || async {
        (queue.pending_jobs("site") == Some(0)).then_some(())
    })
    .await;
    stop.cancel();
    running.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_full_batch_goes_at_once_and_the_rest_waits_its_window() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open_embedded(dir.path()).await.unwrap();
    queue.publish(&url_jobs(150)).await.unwrap();
    let counter = Counter::new();
    let stop = CancellationToken::new();
    let running = tokio::spawn(worker(counter.clone(), 100).run(queue.clone(), stop.clone()));

    eventually(WINDOW * 2, "two calls", || async {
        (counter.calls().len() == 2).then_some(())
    })
    .await;
    let calls = counter.calls();
    assert_eq!(calls[0].1, 100, "the full batch: {calls:?}");
    assert!(
        calls[0].0 < WINDOW / 2,
        "did not wait the window: {calls:?}"
    );
    assert_eq!(calls[1].1, 50, "the rest: {calls:?}");
    assert!(
        calls[1].0 >= WINDOW,
        "the queue ran dry: the rest merges for a whole window: {calls:?}"
    );
    stop.cancel();
    running.await.unwrap();
}

/// A queue on the real broker under its own prefix, prefetching two batches.
async fn broker_queue(prefix: &str, max_batch: u16) -> Queue {
    let settings = QueueSettings {
        backend: QueueBackendKind::Amqp,
        path: "unused".into(),
        urls: vec![crate::services::amqp_url()],
        prefix: prefix.into(),
        queue_type: AmqpQueueType::Quorum,
        ..QueueSettings::default()
    };
    let how = purgehook::queue::Connect {
        name: "purgehook drain test",
        targets: &[tid("site")],
        prefetch: max_batch * 2,
        spool: false,
    };
    Queue::open(&settings, &Default::default(), how)
        .await
        .expect("broker reachable")
}

#[tokio::test]
async fn a_rabbitmq_backlog_drains_without_waiting_windows_and_every_delivery_is_acknowledged() {
    if crate::services::rabbitmq_missing() {
        return;
    }
    let prefix = format!("test-{}", uuid::Uuid::now_v7().simple());
    let queue = broker_queue(&prefix, 100).await;
    queue.publish(&url_jobs(300)).await.unwrap();
    let counter = Counter::new();
    let stop = CancellationToken::new();
    let running = tokio::spawn(worker(counter.clone(), 100).run(queue.clone(), stop.clone()));

    eventually(Duration::from_secs(30), "three calls", || async {
        (counter.calls().len() == 3).then_some(())
    })
    .await;
    let calls = counter.calls();
    assert!(calls.iter().all(|(_, urls)| *urls == 100), "{calls:?}");
    stop.cancel();
    running.await.unwrap();
    queue.close().await;

    // Every delivery was acknowledged: a new consumer finds nothing.
    let again = broker_queue(&prefix, 100).await;
    let left = again
        .next(&tid("site"), Some(Instant::now() + Duration::from_secs(2)))
        .await;
    assert!(left.is_none(), "a delivery was not acknowledged: {left:?}");
    if let Queue::Amqp(amqp) = &again {
        amqp.delete_topology(&[tid("site")])
            .await
            .expect("clean up");
    }
    again.close().await;
}
