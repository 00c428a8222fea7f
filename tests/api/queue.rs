//! The queue contract, run against both backends — the embedded store in a
//! temporary directory and the real RabbitMQ (`AMQP_URL`, default
//! `amqp://guest:guest@127.0.0.1:5672/%2f`) under a prefix of its own:
//! durable publish, per-target consume, settle (ack / delayed retry / dead
//! letter), redelivery of what was never settled, and persistence across a
//! reopen.

use std::time::Duration;

use purgehook::config::{AmqpQueueType, QueueBackendKind, QueueSettings};
use purgehook::job::{Action, Job};
use purgehook::queue::{Queue, Settlement};
use tokio::time::Instant;

pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// One backend under test, with its own storage (directory or prefix).
pub struct Harness {
    pub settings: QueueSettings,
    _dir: tempfile::TempDir,
}

pub const TARGETS: [&str; 2] = ["a", "b"];

impl Harness {
    pub fn new(backend: QueueBackendKind) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let settings = QueueSettings {
            backend,
            path: dir.path().to_path_buf(),
            url: amqp_url(),
            prefix: format!("test-{}", uuid::Uuid::now_v7().simple()),
            queue_type: AmqpQueueType::Quorum,
        };
        Harness {
            settings,
            _dir: dir,
        }
    }

    pub async fn open(&self) -> Queue {
        let targets: Vec<String> = TARGETS.iter().map(|t| t.to_string()).collect();
        Queue::open(&self.settings, "purgehook contract test", &targets, 100)
            .await
            .expect("queue opens")
    }

    /// Closes `queue` as a process exit would, and opens it again.
    pub async fn reopen(&self, queue: Queue) -> Queue {
        queue.close().await;
        drop(queue);
        // The embedded store is released when its last handle is dropped.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let targets: Vec<String> = TARGETS.iter().map(|t| t.to_string()).collect();
            match Queue::open(&self.settings, "purgehook contract test", &targets, 100).await {
                Ok(queue) => return queue,
                Err(e) if Instant::now() > deadline => panic!("cannot reopen: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    pub async fn clean_up(self, queue: Queue) {
        if let Queue::Amqp(amqp) = &queue {
            let targets: Vec<String> = TARGETS.iter().map(|t| t.to_string()).collect();
            amqp.delete_topology(&targets).await.expect("clean up");
        }
        queue.close().await;
    }
}

fn job(target: &str, url: &str) -> Job {
    Job::new(
        target,
        Action::Urls {
            urls: vec![url.into()],
        },
        None,
    )
}

/// Long enough for a broker round trip: a job that is there arrives by then.
fn within() -> Option<Instant> {
    Some(Instant::now() + Duration::from_secs(5))
}

/// Short: used where nothing must arrive.
fn briefly() -> Option<Instant> {
    Some(Instant::now() + Duration::from_millis(300))
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            use purgehook::config::QueueBackendKind;

            #[tokio::test]
            async fn embedded() {
                super::$case(QueueBackendKind::Embedded).await;
            }

            #[tokio::test]
            async fn amqp() {
                super::$case(QueueBackendKind::Amqp).await;
            }
        }
    )*};
}

on_both_backends!(
    published_jobs_are_delivered_per_target_and_acked_for_good,
    unsettled_deliveries_come_back_after_a_restart_or_a_release,
    retries_wait_their_delay_and_dead_letters_keep_the_reason,
    concurrent_publishes_are_all_stored,
);

async fn published_jobs_are_delivered_per_target_and_acked_for_good(backend: QueueBackendKind) {
    let harness = Harness::new(backend);
    let queue = harness.open().await;
    let (a, b) = (
        job("a", "https://a.example/1"),
        job("b", "https://b.example/1"),
    );
    queue.publish(&[a.clone(), b.clone()]).await.unwrap();

    let delivery = queue.next("a", within()).await.expect("a's job");
    assert_eq!(delivery.job, a);
    assert!(
        queue.next("a", briefly()).await.is_none(),
        "in flight, not delivered twice"
    );
    queue
        .settle(Settlement {
            ack: vec![delivery.tag],
            ..Default::default()
        })
        .await
        .unwrap();

    let queue = harness.reopen(queue).await;
    assert!(
        queue.next("a", briefly()).await.is_none(),
        "acked jobs stay gone"
    );
    assert_eq!(queue.next("b", within()).await.expect("b survives").job, b);
    harness.clean_up(queue).await;
}

async fn unsettled_deliveries_come_back_after_a_restart_or_a_release(backend: QueueBackendKind) {
    let harness = Harness::new(backend);
    let queue = harness.open().await;
    let original = job("a", "https://a.example/1");
    queue
        .publish(std::slice::from_ref(&original))
        .await
        .unwrap();
    let delivery = queue.next("a", within()).await.unwrap();
    queue.release(&[delivery.tag]).await;
    let again = queue
        .next("a", within())
        .await
        .expect("released job is redelivered");
    assert_eq!(again.job, original);

    let queue = harness.reopen(queue).await;
    assert_eq!(
        queue.next("a", within()).await.expect("never settled").job,
        original
    );
    harness.clean_up(queue).await;
}

async fn retries_wait_their_delay_and_dead_letters_keep_the_reason(backend: QueueBackendKind) {
    let harness = Harness::new(backend);
    let queue = harness.open().await;
    queue
        .publish(&[
            job("a", "https://a.example/1"),
            job("a", "https://a.example/2"),
        ])
        .await
        .unwrap();
    let first = queue.next("a", within()).await.unwrap();
    let second = queue.next("a", within()).await.unwrap();

    let mut retried = first.job.clone();
    retried.attempt = 1;
    let mut dead = second.job.clone();
    dead.attempt = 2;
    let settled_at = Instant::now();
    queue
        .settle(Settlement {
            ack: vec![first.tag, second.tag],
            retry: vec![(retried.clone(), Duration::from_millis(300))],
            dead: vec![(dead.clone(), "BigScoots answered 401: no".into())],
        })
        .await
        .unwrap();

    let redelivered = queue
        .next("a", within())
        .await
        .expect("the retry comes back");
    assert!(
        settled_at.elapsed() >= Duration::from_millis(290),
        "not before its delay"
    );
    assert_eq!(redelivered.job, retried);

    let letters = queue.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].job.as_ref(), Some(&dead));
    assert_eq!(letters[0].target, "a");
    assert_eq!(letters[0].attempts, 3);
    assert_eq!(letters[0].reason, "BigScoots answered 401: no");

    let queue = harness.reopen(queue).await;
    assert_eq!(
        queue.dead_letters().await.unwrap().len(),
        1,
        "dead letters are durable, and reading keeps them"
    );
    assert_eq!(
        queue
            .next("a", within())
            .await
            .expect("the retry is durable")
            .job,
        retried
    );
    harness.clean_up(queue).await;
}

async fn concurrent_publishes_are_all_stored(backend: QueueBackendKind) {
    let harness = Harness::new(backend);
    let queue = harness.open().await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let queue = queue.clone();
        tasks.push(tokio::spawn(async move {
            queue
                .publish(&[job("a", &format!("https://a.example/{i}"))])
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let queue = harness.reopen(queue).await;
    let mut seen = 0;
    while let Some(delivery) = queue
        .next("a", if seen == 0 { within() } else { briefly() })
        .await
    {
        seen += 1;
        queue
            .settle(Settlement {
                ack: vec![delivery.tag],
                ..Default::default()
            })
            .await
            .unwrap();
    }
    assert_eq!(seen, 64);
    harness.clean_up(queue).await;
}
