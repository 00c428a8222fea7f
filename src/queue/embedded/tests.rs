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
