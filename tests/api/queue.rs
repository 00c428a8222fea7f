//! The queue contract, against the embedded backend: durable publish,
//! consume, settle (ack / delayed retry / dead letter), redelivery of what
//! was never settled, and persistence across a reopen.

use std::time::Duration;

use purgehook::job::{Action, Job};
use purgehook::queue::{Queue, Settlement};
use tokio::time::Instant;

fn job(target: &str, url: &str) -> Job {
    Job::new(
        target,
        Action::Urls {
            urls: vec![url.into()],
        },
        None,
    )
}

fn soon() -> Option<Instant> {
    Some(Instant::now() + Duration::from_millis(100))
}

#[tokio::test]
async fn published_jobs_are_delivered_per_target_and_acked_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open_embedded(dir.path()).unwrap();
    let (a, b) = (
        job("a", "https://a.example/1"),
        job("b", "https://b.example/1"),
    );
    queue.publish(&[a.clone(), b.clone()]).await.unwrap();

    let delivery = queue.next("a", soon()).await.expect("a's job");
    assert_eq!(delivery.job, a);
    assert!(
        queue.next("a", soon()).await.is_none(),
        "in flight, not delivered twice"
    );
    queue
        .settle(Settlement {
            ack: vec![delivery.tag],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(queue.pending_jobs("a"), 0);
    assert_eq!(queue.pending_jobs("b"), 1);
    drop(queue);

    let reopened = Queue::open_embedded(dir.path()).unwrap();
    assert!(
        reopened.next("a", soon()).await.is_none(),
        "acked jobs stay gone"
    );
    assert_eq!(reopened.next("b", soon()).await.expect("b survives").job, b);
}

#[tokio::test]
async fn unsettled_deliveries_come_back_after_a_restart_or_a_release() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open_embedded(dir.path()).unwrap();
    let original = job("a", "https://a.example/1");
    queue
        .publish(std::slice::from_ref(&original))
        .await
        .unwrap();
    let delivery = queue.next("a", soon()).await.unwrap();
    queue.release(&[delivery.tag]);
    let again = queue
        .next("a", soon())
        .await
        .expect("released job is redelivered");
    assert_eq!(again.job, original);
    drop(queue);

    let reopened = Queue::open_embedded(dir.path()).unwrap();
    assert_eq!(
        reopened.next("a", soon()).await.expect("never settled").job,
        original
    );
}

#[tokio::test]
async fn retries_wait_their_delay_and_dead_letters_keep_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open_embedded(dir.path()).unwrap();
    queue
        .publish(&[
            job("a", "https://a.example/1"),
            job("a", "https://a.example/2"),
        ])
        .await
        .unwrap();
    let first = queue.next("a", soon()).await.unwrap();
    let second = queue.next("a", soon()).await.unwrap();

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
        .next("a", Some(Instant::now() + Duration::from_secs(5)))
        .await
        .expect("the retry comes back");
    assert!(
        settled_at.elapsed() >= Duration::from_millis(290),
        "not before its delay"
    );
    assert_eq!(redelivered.job, retried);

    let letters = queue.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].job, dead);
    assert_eq!(letters[0].attempts, 3);
    assert_eq!(letters[0].reason, "BigScoots answered 401: no");
    drop(queue);
    let reopened = Queue::open_embedded(dir.path()).unwrap();
    assert_eq!(
        reopened.dead_letters().await.unwrap().len(),
        1,
        "dead letters are durable"
    );
    assert_eq!(reopened.pending_jobs("a"), 1, "the retry is durable");
}

#[tokio::test]
async fn concurrent_publishes_are_all_stored() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open_embedded(dir.path()).unwrap();
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
    drop(queue);
    let reopened = Queue::open_embedded(dir.path()).unwrap();
    assert_eq!(reopened.pending_jobs("a"), 64);
}
