use std::time::Duration;

use super::*;
use crate::action::Action;

fn target(id: &str) -> TargetId {
    TargetId::new(id).unwrap()
}

#[tokio::test]
async fn a_letter_stored_without_an_id_is_named_and_replayed_by_its_jobs_id() {
    let dir = tempfile::tempdir().unwrap();
    let queue = EmbeddedQueue::open(dir.path()).await.unwrap();
    let job = Job::new(target("a"), Action::EVERYTHING, None);
    let legacy = serde_json::json!({"target": "a", "job": job, "reason": "gave up",
        "attempts": 3, "dead_at": "2026-11-23T20:31:00Z"});
    let writes = Writes {
        put_dead: vec![(queue.seq(), serde_json::to_vec(&legacy).unwrap())],
        ..Writes::default()
    };
    queue.write(writes).await.unwrap();

    let letters = queue.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].id, job.id.to_string());
    let filter = ReplayFilter {
        id: Some(job.id.to_string()),
        ..ReplayFilter::default()
    };
    assert_eq!(queue.replay(&filter).await.unwrap().replayed.len(), 1);
    assert!(queue.dead_letters().await.unwrap().is_empty());
    assert_eq!(queue.next(&target("a"), None).await.unwrap().job, job);
}

#[tokio::test]
async fn a_closed_store_can_be_opened_again_at_once_and_refuses_further_work() {
    let dir = tempfile::tempdir().unwrap();
    let queue = EmbeddedQueue::open(dir.path()).await.unwrap();
    let job = Job::new(target("a"), Action::EVERYTHING, None);
    queue.publish(std::slice::from_ref(&job)).await.unwrap();
    queue.close().await;
    assert!(matches!(
        queue.publish(std::slice::from_ref(&job)).await,
        Err(QueueError::Closed)
    ));
    assert!(!queue.is_ready());

    let reopened = EmbeddedQueue::open(dir.path()).await.unwrap();
    assert_eq!(reopened.pending("a"), 1);
    reopened.close().await;
}

#[tokio::test]
async fn a_second_opener_is_told_the_store_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let queue = EmbeddedQueue::open(dir.path()).await.unwrap();
    match EmbeddedQueue::open(dir.path()).await {
        Err(QueueError::InUse(file)) => assert!(file.ends_with(FILE_NAME)),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("opened twice"),
    }
    queue.close().await;
}

/// Polls `check` every 10 ms for up to 5 s.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_full_disk_refuses_writes_until_a_probe_write_succeeds_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let switch = FaultSwitch::default();
    let queue = EmbeddedQueue::open_faulty(dir.path(), &switch)
        .await
        .unwrap();
    let stored = Job::new(target("a"), Action::EVERYTHING, None);
    queue.publish(std::slice::from_ref(&stored)).await.unwrap();
    assert!(queue.is_ready());

    switch.set(Fault::Full);
    let refused = Job::new(target("a"), Action::EVERYTHING, None);
    match queue.publish(std::slice::from_ref(&refused)).await {
        Err(QueueError::Store { reason, .. }) => assert!(reason.contains("No space"), "{reason}"),
        other => panic!("expected the disk's error, got {other:?}"),
    }
    assert!(!queue.is_ready(), "not ready while it cannot write");
    assert!(matches!(
        queue.publish(std::slice::from_ref(&refused)).await,
        Err(QueueError::Unwritable { .. })
    ));
    assert!(
        queue.dead_letters().await.unwrap().is_empty(),
        "reads go on, from the reopened file"
    );
    assert_eq!(queue.pending("a"), 1);

    switch.set(Fault::None);
    eventually("writable again", || queue.is_ready()).await;
    let later = Job::new(target("a"), Action::EVERYTHING, None);
    queue.publish(std::slice::from_ref(&later)).await.unwrap();
    queue.close().await;

    let reopened = EmbeddedQueue::open(dir.path()).await.unwrap();
    let mut ids = Vec::new();
    while let Some(delivery) = reopened.next(&target("a"), Some(Instant::now())).await {
        ids.push(delivery.job.id);
    }
    assert_eq!(ids, vec![stored.id, later.id]);
    reopened.close().await;
}

#[tokio::test]
async fn a_store_that_cannot_write_at_start_starts_unwritable_with_its_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let switch = FaultSwitch::default();
    let queue = EmbeddedQueue::open_faulty(dir.path(), &switch)
        .await
        .unwrap();
    let job = Job::new(target("a"), Action::EVERYTHING, None);
    queue.publish(std::slice::from_ref(&job)).await.unwrap();
    queue.close().await;

    switch.set(Fault::Full);
    let queue = EmbeddedQueue::open_faulty(dir.path(), &switch)
        .await
        .unwrap();
    assert!(!queue.is_ready());
    assert_eq!(queue.pending("a"), 1);
    switch.set(Fault::None);
    eventually("writable", || queue.is_ready()).await;
    queue.close().await;
}

#[tokio::test]
async fn a_commit_whose_fsync_failed_but_that_is_in_the_file_counts_as_stored() {
    let dir = tempfile::tempdir().unwrap();
    let switch = FaultSwitch::default();
    let queue = EmbeddedQueue::open_faulty(dir.path(), &switch)
        .await
        .unwrap();
    let job = Job::new(target("a"), Action::EVERYTHING, None);
    switch.set(Fault::SyncOnce);
    queue.publish(std::slice::from_ref(&job)).await.unwrap();
    assert!(
        !queue.is_ready(),
        "the fsync failed: not ready until a probe"
    );
    assert_eq!(queue.pending("a"), 1, "in the file, so delivered");
    assert_eq!(queue.next(&target("a"), None).await.unwrap().job, job);
    queue.close().await;
}

/// Publishes `count` jobs for `id`, a few hundred at a time; returns their ids.
async fn publish_many(queue: &EmbeddedQueue, id: &str, count: usize) -> Vec<uuid::Uuid> {
    let jobs: Vec<Job> = (0..count)
        .map(|_| Job::new(target(id), Action::EVERYTHING, None))
        .collect();
    for chunk in jobs.chunks(300) {
        queue.publish(chunk).await.unwrap();
    }
    jobs.iter().map(|job| job.id).collect()
}

/// Takes every ready job of `id`, then acknowledges them; returns their ids.
async fn drain(queue: &EmbeddedQueue, id: &str) -> Vec<uuid::Uuid> {
    let (mut ids, mut ack) = (Vec::new(), Vec::new());
    while let Some(delivery) = queue.next(&target(id), Some(Instant::now())).await {
        ids.push(delivery.job.id);
        ack.push(delivery.tag);
    }
    let settlement = Settlement {
        ack,
        ..Settlement::default()
    };
    queue.settle(settlement).await.unwrap();
    ids
}

fn resident(queue: &EmbeddedQueue) -> usize {
    queue.state().resident
}

#[tokio::test]
async fn a_backlog_larger_than_memory_holds_drains_completely_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let queue = EmbeddedQueue::open(dir.path()).await.unwrap();
    let published = publish_many(
        &queue,
        "a",
        resident::MAX_RESIDENT + 2 * resident::READ_BACK + 7,
    )
    .await;
    assert_eq!(
        resident(&queue),
        resident::MAX_RESIDENT,
        "the rest is on disk only"
    );
    assert_eq!(queue.pending("a"), published.len());

    assert_eq!(drain(&queue, "a").await, published);
    assert_eq!(queue.pending("a"), 0);
    assert_eq!(resident(&queue), 0);
    queue.close().await;
}

#[tokio::test]
async fn a_large_backlog_survives_a_restart_with_nothing_in_memory_but_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let queue = EmbeddedQueue::open(dir.path()).await.unwrap();
    let a = publish_many(&queue, "a", resident::MAX_RESIDENT + 100).await;
    let b = publish_many(&queue, "b", resident::READ_BACK + 1).await;
    queue.close().await;

    let reopened = EmbeddedQueue::open(dir.path()).await.unwrap();
    assert_eq!(resident(&reopened), 0);
    assert_eq!(reopened.pending("a"), a.len());
    assert_eq!(reopened.pending_total(), a.len() + b.len());
    let later = publish_many(&reopened, "b", 3).await;
    assert_eq!(drain(&reopened, "b").await, [b, later].concat());
    assert_eq!(drain(&reopened, "a").await, a);
    reopened.close().await;
}

#[tokio::test]
async fn a_delivery_released_is_on_disk_only_and_delivered_again_from_there() {
    let dir = tempfile::tempdir().unwrap();
    let queue = EmbeddedQueue::open(dir.path()).await.unwrap();
    let ids = publish_many(&queue, "a", 2).await;
    let first = queue.next(&target("a"), None).await.unwrap();
    queue.release(std::slice::from_ref(&first.tag));
    assert_eq!(resident(&queue), 1, "the released job is not in memory");
    assert_eq!(queue.pending("a"), 2);

    let again = queue.next(&target("a"), None).await.unwrap();
    assert!(matches!(
        (&again.tag, &first.tag),
        (DeliveryTag::Embedded(a), DeliveryTag::Embedded(b)) if a == b
    ));
    assert_eq!(again.job.id, ids[0]);
    assert_eq!(again.job, first.job);
    assert_eq!(drain(&queue, "a").await, vec![ids[1]]);
    queue.close().await;
}

#[tokio::test]
async fn a_job_on_disk_only_is_delivered_from_a_store_that_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let switch = FaultSwitch::default();
    let queue = EmbeddedQueue::open_faulty(dir.path(), &switch)
        .await
        .unwrap();
    let ids = publish_many(&queue, "a", 1).await;
    let delivery = queue.next(&target("a"), None).await.unwrap();
    queue.release(std::slice::from_ref(&delivery.tag));

    switch.set(Fault::Full);
    let refused = Job::new(target("a"), Action::EVERYTHING, None);
    assert!(queue.publish(std::slice::from_ref(&refused)).await.is_err());
    assert!(!queue.is_ready());
    let again = queue.next(&target("a"), None).await.unwrap();
    assert_eq!(again.job.id, ids[0], "read back from the reopened file");
    queue.close().await;
}

fn key(n: u8) -> DeliveryKey {
    DeliveryKey::new("github", Some(&n.to_string()), b"{}")
}

const WINDOW: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_delivery_key_whose_commit_failed_is_not_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let switch = FaultSwitch::default();
    let queue = EmbeddedQueue::open_faulty(dir.path(), &switch)
        .await
        .unwrap();
    let job = Job::new(target("a"), Action::EVERYTHING, None);
    let jobs = std::slice::from_ref(&job);
    switch.set(Fault::Full);
    assert!(queue.publish_once(jobs, key(1), WINDOW).await.is_err());
    switch.set(Fault::None);
    eventually("writable again", || queue.is_ready()).await;
    let stored = queue.publish_once(jobs, key(1), WINDOW).await.unwrap();
    assert_eq!(stored, Published::Stored);
    let again = queue.publish_once(jobs, key(1), WINDOW).await.unwrap();
    assert_eq!(again, Published::Duplicate);
    queue.close().await;
}

/// Writes a file as the versions that kept the delivery keys by key too
/// did: `key` remembered in both tables.
fn legacy_file(dir: &std::path::Path, key: &DeliveryKey, until_ms: u64) {
    const DEDUPE: redb::TableDefinition<&[u8], u64> = redb::TableDefinition::new("dedupe");
    let db = redb::Database::create(dir.join(FILE_NAME)).unwrap();
    let txn = db.begin_write().unwrap();
    tables::create(&txn).unwrap();
    let bytes = key.as_bytes().as_slice();
    txn.open_table(DEDUPE)
        .unwrap()
        .insert(bytes, until_ms)
        .unwrap();
    (txn.open_table(remembered::DEDUPE_EXPIRY).unwrap())
        .insert((until_ms, bytes), ())
        .unwrap();
    txn.commit().unwrap();
}

#[tokio::test]
async fn a_file_that_kept_delivery_keys_by_key_too_keeps_honouring_them() {
    let dir = tempfile::tempdir().unwrap();
    let until = StoreClock::start().now_ms() + 60_000;
    legacy_file(dir.path(), &key(1), until);

    let queue = EmbeddedQueue::open(dir.path()).await.unwrap();
    let job = Job::new(target("a"), Action::EVERYTHING, None);
    let jobs = std::slice::from_ref(&job);
    assert_eq!(
        queue.publish_once(jobs, key(1), WINDOW).await.unwrap(),
        Published::Duplicate
    );
    assert_eq!(
        queue.publish_once(jobs, key(2), WINDOW).await.unwrap(),
        Published::Stored
    );
    queue.close().await;

    let db = redb::Database::create(dir.path().join(FILE_NAME)).unwrap();
    let read = db.begin_read().unwrap();
    assert!(!remembered::has_legacy(&read).unwrap(), "dropped at open");
    let by_expiry = read.open_table(remembered::DEDUPE_EXPIRY).unwrap();
    assert_eq!(redb::ReadableTableMetadata::len(&by_expiry).unwrap(), 2);
}

#[tokio::test]
async fn gather_waits_for_a_whole_batch_or_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let queue = EmbeddedQueue::open(dir.path()).await.unwrap();
    let jobs = |n| (0..n).map(|_| Job::new(target("a"), Action::EVERYTHING, None));
    queue.publish(&jobs(2).collect::<Vec<_>>()).await.unwrap();

    let far = Instant::now() + Duration::from_secs(60);
    let gathering = tokio::spawn({
        let queue = queue.clone();
        async move { queue.gather(&target("a"), 3, far).await }
    });
    // Two of three ready: it still waits (checked once the task ran).
    tokio::task::yield_now().await;
    assert!(!gathering.is_finished());
    queue.publish(&jobs(1).collect::<Vec<_>>()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), gathering)
        .await
        .expect("woken by the third job, long before its deadline")
        .unwrap();

    let soon = Instant::now() + Duration::from_millis(50);
    queue.gather(&target("a"), 10, soon).await;
    assert!(
        Instant::now() >= soon,
        "three of ten: it waited its deadline"
    );
    for _ in 0..3 {
        assert!(queue.next(&target("a"), Some(soon)).await.is_some());
    }
    queue.close().await;
}
