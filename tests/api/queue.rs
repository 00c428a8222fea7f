//! The queue contract, run against both backends — the embedded store in a
//! temporary directory and the real RabbitMQ (`AMQP_URL`, default
//! `amqp://guest:guest@127.0.0.1:5672/%2f`) under a prefix of its own:
//! durable publish, per-target consume, settle (ack / delayed retry / dead
//! letter), redelivery of what was never settled, persistence across a
//! reopen, and dead letters named by their job's id and replayed by id or by
//! target.

use std::collections::BTreeSet;
use std::time::Duration;

use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use purgehook::action::Action;
use purgehook::config::{AmqpQueueType, QueueBackendKind, QueueSettings};
use purgehook::job::{Job, TargetId};
use purgehook::queue::{Queue, ReplayFilter, Replayed, Settlement};
use tokio::time::Instant;

use crate::helpers::eventually;
use crate::helpers::tid;
use crate::services::amqp_url;

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
            urls: vec![amqp_url()],
            prefix: format!("test-{}", uuid::Uuid::now_v7().simple()),
            queue_type: AmqpQueueType::Quorum,
            ..QueueSettings::default()
        };
        Harness {
            settings,
            _dir: dir,
        }
    }

    pub async fn open(&self) -> Queue {
        let targets: Vec<TargetId> = TARGETS.iter().map(|t| tid(t)).collect();
        Queue::open(
            &self.settings,
            &Default::default(),
            purgehook::queue::Connect {
                name: "purgehook contract test",
                targets: &targets,
                prefetch: 100,
                spool: false,
            },
        )
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
            let targets: Vec<TargetId> = TARGETS.iter().map(|t| tid(t)).collect();
            match Queue::open(
                &self.settings,
                &Default::default(),
                purgehook::queue::Connect {
                    name: "purgehook contract test",
                    targets: &targets,
                    prefetch: 100,
                    spool: false,
                },
            )
            .await
            {
                Ok(queue) => return queue,
                Err(e) if Instant::now() > deadline => panic!("cannot reopen: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    pub async fn clean_up(self, queue: Queue) {
        if let Queue::Amqp(amqp) = &queue {
            let targets: Vec<TargetId> = TARGETS.iter().map(|t| tid(t)).collect();
            amqp.delete_topology(&targets).await.expect("clean up");
        }
        queue.close().await;
    }
}

fn job(target: &str, url: &str) -> Job {
    Job::new(
        tid(target),
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

/// Asserts that no job of `target` is ready, without sitting out a silence:
/// publishes a sentinel job after the action under test and takes the next
/// job. Ready jobs come in the order they were queued (the store orders them
/// by not-before time then sequence; a broker queue is FIFO), so anything
/// ready before the sentinel would come first. The sentinel is acked.
async fn nothing_else_is_ready(queue: &Queue, target: &str, why: &str) {
    let sentinel = job(target, "https://sentinel.example/");
    queue
        .publish(std::slice::from_ref(&sentinel))
        .await
        .unwrap();
    let delivery = queue
        .next(&tid(target), within())
        .await
        .expect("the sentinel");
    assert_eq!(delivery.job, sentinel, "{why}");
    queue
        .settle(Settlement {
            ack: vec![delivery.tag],
            ..Default::default()
        })
        .await
        .unwrap();
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
                if crate::services::rabbitmq_missing() {
                    return;
                }
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
    dead_letters_are_named_by_their_jobs_ids,
    a_replay_by_id_queues_exactly_that_job_again,
    a_replay_by_target_queues_its_jobs_again_durably,
    a_replay_leaves_unknown_ids_and_unconfigured_targets_alone,
);

async fn published_jobs_are_delivered_per_target_and_acked_for_good(backend: QueueBackendKind) {
    let harness = Harness::new(backend);
    let queue = harness.open().await;
    let (a, b) = (
        job("a", "https://a.example/1"),
        job("b", "https://b.example/1"),
    );
    queue.publish(&[a.clone(), b.clone()]).await.unwrap();

    let delivery = queue.next(&tid("a"), within()).await.expect("a's job");
    assert_eq!(delivery.job, a);
    nothing_else_is_ready(&queue, "a", "in flight, not delivered twice").await;
    queue
        .settle(Settlement {
            ack: vec![delivery.tag],
            ..Default::default()
        })
        .await
        .unwrap();

    let queue = harness.reopen(queue).await;
    nothing_else_is_ready(&queue, "a", "acked jobs stay gone").await;
    assert_eq!(
        queue
            .next(&tid("b"), within())
            .await
            .expect("b survives")
            .job,
        b
    );
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
    let delivery = queue.next(&tid("a"), within()).await.unwrap();
    queue.release(&[delivery.tag]).await;
    let again = queue
        .next(&tid("a"), within())
        .await
        .expect("released job is redelivered");
    assert_eq!(again.job, original);

    let queue = harness.reopen(queue).await;
    assert_eq!(
        queue
            .next(&tid("a"), within())
            .await
            .expect("never settled")
            .job,
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
    let first = queue.next(&tid("a"), within()).await.unwrap();
    let second = queue.next(&tid("a"), within()).await.unwrap();

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
        .next(&tid("a"), within())
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
            .next(&tid("a"), within())
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
    let mut seen = BTreeSet::new();
    for _ in 0..64 {
        let delivery = queue.next(&tid("a"), within()).await.expect("stored");
        seen.insert(delivery.job.id);
        queue
            .settle(Settlement {
                ack: vec![delivery.tag],
                ..Default::default()
            })
            .await
            .unwrap();
    }
    assert_eq!(seen.len(), 64, "64 different jobs");
    nothing_else_is_ready(&queue, "a", "64 jobs, no more").await;
    harness.clean_up(queue).await;
}

/// Publishes `jobs`, then takes each from its target and dead-letters it
/// after two attempts, as a worker that gave up would.
async fn dead_lettered(queue: &Queue, jobs: &[Job]) {
    queue.publish(jobs).await.unwrap();
    for job in jobs {
        let delivery = queue.next(&job.target, within()).await.expect("a job");
        let mut dead = delivery.job.clone();
        dead.attempt = 2;
        queue
            .settle(Settlement {
                ack: vec![delivery.tag],
                dead: vec![(dead, "gave up".into())],
                ..Default::default()
            })
            .await
            .unwrap();
    }
}

fn ids<'a>(jobs: impl IntoIterator<Item = &'a Job>) -> BTreeSet<String> {
    jobs.into_iter().map(|job| job.id.to_string()).collect()
}

fn letter_ids(letters: &[purgehook::queue::DeadLetter]) -> BTreeSet<String> {
    letters.iter().map(|letter| letter.id.clone()).collect()
}

/// Waits until the dead letters are exactly `expected` (on RabbitMQ, letters
/// a reader fetched return to the queue shortly after its channel closes).
async fn dead_letters_become(queue: &Queue, expected: &BTreeSet<String>) {
    eventually(
        Duration::from_secs(5),
        "the expected dead letters",
        || async {
            let letters = queue.dead_letters().await.unwrap();
            (letters.len() == expected.len() && letter_ids(&letters) == *expected).then_some(())
        },
    )
    .await;
}

/// Replays with `filter` once every letter of `expected` can be read, so
/// that a letter still on its way back from a reader is not missed.
async fn replay_when_all_present(
    queue: &Queue,
    expected: &BTreeSet<String>,
    filter: ReplayFilter,
) -> Replayed {
    dead_letters_become(queue, expected).await;
    queue.replay(&filter).await.unwrap()
}

/// Two jobs of target `a` and one of `b`, dead-lettered.
async fn three_dead_letters(queue: &Queue) -> [Job; 3] {
    let jobs = [
        job("a", "https://a.example/1"),
        job("a", "https://a.example/2"),
        job("b", "https://b.example/1"),
    ];
    dead_lettered(queue, &jobs).await;
    jobs
}

async fn dead_letters_are_named_by_their_jobs_ids(backend: QueueBackendKind) {
    let harness = Harness::new(backend);
    let queue = harness.open().await;
    let jobs = three_dead_letters(&queue).await;

    let letters = queue.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 3);
    assert_eq!(letter_ids(&letters), ids(&jobs));
    for letter in &letters {
        let job = letter.job.as_ref().expect("a valid job");
        assert_eq!(letter.id, job.id.to_string());
    }
    let queue = harness.reopen(queue).await;
    dead_letters_become(&queue, &ids(&jobs)).await;
    harness.clean_up(queue).await;
}

async fn a_replay_by_id_queues_exactly_that_job_again(backend: QueueBackendKind) {
    let harness = Harness::new(backend);
    let queue = harness.open().await;
    let jobs = three_dead_letters(&queue).await;
    let worker = {
        let queue = queue.clone();
        let deadline = Instant::now() + Duration::from_secs(10);
        tokio::spawn(async move { queue.next(&tid("a"), Some(deadline)).await })
    };

    let chosen = &jobs[1];
    let filter = ReplayFilter {
        id: Some(chosen.id.to_string()),
        ..Default::default()
    };
    let replayed = replay_when_all_present(&queue, &ids(&jobs), filter).await;
    assert_eq!(replayed.replayed.len(), 1, "{replayed:#?}");
    assert_eq!(replayed.replayed[0].id, chosen.id.to_string());
    assert!(replayed.skipped.is_empty());

    let delivery = worker.await.unwrap().expect("the waiting worker gets it");
    assert_eq!(
        delivery.job, *chosen,
        "same job, same id, attempt back to 0"
    );
    assert_eq!(delivery.job.attempt, 0);
    nothing_else_is_ready(&queue, "a", "only that one").await;
    nothing_else_is_ready(&queue, "b", "only that one").await;
    dead_letters_become(&queue, &ids([&jobs[0], &jobs[2]])).await;
    harness.clean_up(queue).await;
}

async fn a_replay_by_target_queues_its_jobs_again_durably(backend: QueueBackendKind) {
    let harness = Harness::new(backend);
    let queue = harness.open().await;
    let jobs = three_dead_letters(&queue).await;

    let filter = ReplayFilter {
        target: Some("a".into()),
        ..Default::default()
    };
    let replayed = replay_when_all_present(&queue, &ids(&jobs), filter).await;
    assert_eq!(letter_ids(&replayed.replayed), ids(&jobs[..2]));
    assert!(replayed.skipped.is_empty());

    let queue = harness.reopen(queue).await;
    let mut received = Vec::new();
    for _ in 0..2 {
        received.push(queue.next(&tid("a"), within()).await.expect("replayed").job);
    }
    assert_eq!(ids(&received), ids(&jobs[..2]));
    assert!(received.iter().all(|job| job.attempt == 0));
    nothing_else_is_ready(&queue, "a", "only a's two jobs").await;
    nothing_else_is_ready(&queue, "b", "only a's jobs").await;
    dead_letters_become(&queue, &ids([&jobs[2]])).await;
    harness.clean_up(queue).await;
}

async fn a_replay_leaves_unknown_ids_and_unconfigured_targets_alone(backend: QueueBackendKind) {
    let harness = Harness::new(backend);
    let queue = harness.open().await;
    let jobs = [
        job("a", "https://a.example/1"),
        job("b", "https://b.example/1"),
    ];
    dead_lettered(&queue, &jobs).await;

    let unknown = ReplayFilter {
        id: Some(uuid::Uuid::now_v7().to_string()),
        ..Default::default()
    };
    let replayed = replay_when_all_present(&queue, &ids(&jobs), unknown).await;
    assert_eq!(replayed, Replayed::default());
    let mismatched = ReplayFilter {
        target: Some("a".into()),
        id: Some(jobs[1].id.to_string()),
        ..Default::default()
    };
    let replayed = replay_when_all_present(&queue, &ids(&jobs), mismatched).await;
    assert_eq!(replayed, Replayed::default(), "both must match");
    // A job whose target is no longer configured stays a dead letter.
    let unconfigured = ReplayFilter {
        configured: Some([tid("a")].into()),
        ..Default::default()
    };
    let replayed = replay_when_all_present(&queue, &ids(&jobs), unconfigured).await;
    assert_eq!(letter_ids(&replayed.replayed), ids(&jobs[..1]));
    assert_eq!(letter_ids(&replayed.skipped), ids(&jobs[1..]));
    let delivery = queue
        .next(&tid("a"), within())
        .await
        .expect("a's job again");
    queue
        .settle(Settlement {
            ack: vec![delivery.tag],
            ..Settlement::default()
        })
        .await
        .unwrap();

    nothing_else_is_ready(&queue, "a", "replayed once").await;
    nothing_else_is_ready(&queue, "b", "an unconfigured target's job stays a letter").await;
    dead_letters_become(&queue, &ids(&jobs[1..])).await;
    harness.clean_up(queue).await;
}

/// Publishes `body` to the jobs exchange as a producer would, bypassing the
/// queue's checks.
pub async fn publish_raw(
    prefix: &str,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) {
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel
        .basic_publish(
            format!("{prefix}.jobs").as_str().into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            properties.with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let _ = connection.close(200, "published".into()).await;
}

#[tokio::test]
async fn amqp_bad_messages_get_an_id_and_a_replay_skips_them_without_losing_them() {
    if crate::services::rabbitmq_missing() {
        return;
    }
    let harness = Harness::new(QueueBackendKind::Amqp);
    let queue = harness.open().await;
    let prefix = &harness.settings.prefix;
    publish_raw(prefix, "a", b"not JSON", BasicProperties::default()).await;
    let named = BasicProperties::default().with_message_id("producer-42".into());
    publish_raw(prefix, "a", b"not JSON either", named).await;
    let valid = job("a", "https://a.example/1");
    dead_lettered(&queue, std::slice::from_ref(&valid)).await;

    let letters = queue.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 3, "{letters:#?}");
    let bad: Vec<_> = letters.iter().filter(|l| l.job.is_none()).collect();
    assert_eq!(bad.len(), 2, "{letters:#?}");
    let fresh = bad
        .iter()
        .find(|l| l.body.as_deref() == Some("not JSON"))
        .expect("the unnamed bad message");
    let fresh_id = uuid::Uuid::parse_str(&fresh.id).expect("a uuid");
    assert_eq!(fresh_id.get_version_num(), 7);
    assert!(bad.iter().any(|l| l.id == "producer-42"), "{bad:#?}");

    let all = letter_ids(&letters);
    let replayed = replay_when_all_present(&queue, &all, ReplayFilter::default()).await;
    assert_eq!(letter_ids(&replayed.replayed), ids([&valid]));
    assert_eq!(
        letter_ids(&replayed.skipped),
        BTreeSet::from([fresh.id.clone(), "producer-42".to_string()])
    );
    assert_eq!(
        queue.next(&tid("a"), within()).await.expect("replayed").job,
        valid
    );
    dead_letters_become(&queue, &letter_ids(&replayed.skipped)).await;
    harness.clean_up(queue).await;
}
