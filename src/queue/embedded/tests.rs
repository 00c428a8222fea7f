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
