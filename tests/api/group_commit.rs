//! Group commit on the real RabbitMQ: a receiver's concurrent webhooks go
//! out together, several jobs to a message (fewer messages than webhooks
//! wait in the target's queue), and a worker purges each post exactly once
//! from them and acknowledges them all; a producer's array of jobs runs
//! too, each job once.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::StreamExt as _;
use purgehook::app::Role;
use serde_json::json;

use crate::amqp::{Deployment, purged_ids};
use crate::fakes::bigscoots::BigScoots;
use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn concurrent_webhooks_share_messages_and_each_post_is_purged_once() {
    if crate::services::rabbitmq_missing() {
        return;
    }
    let site = BigScoots::start(APP_PASSWORD).await;
    let deployment = Deployment::new(&site, "100ms");
    let receiver = deployment.spawn(Role::Receiver).await;

    // 32 at a time, as a busy sender would (64 is one client's limit).
    let posts = 1..=200u64;
    let answers: Vec<_> = futures_util::stream::iter(posts.clone().map(|id| {
        let receiver = &receiver;
        async move {
            let body = post_event("post.published", id, "post");
            receiver.wordpress(&body).await.status()
        }
    }))
    .buffer_unordered(32)
    .collect()
    .await;
    assert!(answers.iter().all(|s| *s == 202), "{answers:?}");
    let messages = deployment.messages_waiting("blog").await;
    assert!(
        (1..200).contains(&messages),
        "200 accepted webhooks' jobs in {messages} messages: they share messages"
    );

    let worker = deployment.spawn(Role::Worker).await;
    let ids = eventually(WAIT, "all 200 posts purged", || async {
        let ids = purged_ids(&site.requests().await);
        (ids.len() >= 200).then_some(ids)
    })
    .await;
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(unique, posts.collect());
    assert_eq!(ids.len(), 200, "no post purged twice");
    // What a stopped worker had not acknowledged would be back in the queue.
    worker.stop().await;
    assert_eq!(
        deployment.messages_waiting("blog").await,
        0,
        "all acknowledged"
    );
    receiver.stop().await;
    deployment.clean_up().await;
}

#[tokio::test]
async fn a_producers_array_of_jobs_runs_each_job_once_and_is_acknowledged() {
    if crate::services::rabbitmq_missing() {
        return;
    }
    let site = BigScoots::start(APP_PASSWORD).await;
    let deployment = Deployment::new(&site, "10ms");
    let worker = deployment.spawn(Role::Worker).await;

    let job = |post: u64| {
        json!({"v": 1, "id": uuid::Uuid::now_v7(), "target": "blog",
               "action": {"kind": "post_ids", "post_ids": [post]},
               "created_at": "2026-11-24T00:00:00Z"})
    };
    let body = json!([job(31), job(32), job(33)]).to_string();
    deployment.publish_raw("blog", body.as_bytes()).await;

    let ids = eventually(WAIT, "the array's three posts purged", || async {
        let ids = purged_ids(&site.requests().await);
        (ids.len() >= 3).then_some(ids)
    })
    .await;
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [31, 32, 33], "each once: {ids:?}");
    worker.stop().await;
    assert_eq!(deployment.messages_waiting("blog").await, 0, "acknowledged");
    deployment.clean_up().await;
}
