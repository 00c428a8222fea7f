//! RabbitMQ going away under a receiver — cut (a broker that died), frozen
//! (a silent partition), or down before the receiver starts — and coming
//! back: deliveries meanwhile are kept in the receiver's spool and answered
//! 202, `/readyz` says 503, and every accepted delivery is purged once the
//! broker is back. A full spool answers 503.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use purgehook::app::Role;

use crate::amqp::{Deployment, purged_ids};
use crate::fakes::bigscoots::BigScoots;
use crate::helpers::*;
use crate::proxy::Proxy;
use crate::services::amqp_url;

const WAIT: Duration = Duration::from_secs(30);

/// A proxy in front of the shared broker, and its URL.
async fn proxied() -> (Proxy, String) {
    let broker = url::Url::parse(&amqp_url()).unwrap();
    let proxy = Proxy::start(format!(
        "{}:{}",
        broker.host_str().unwrap(),
        broker.port().unwrap_or(5672)
    ))
    .await;
    let mut via = broker.clone();
    via.set_port(Some(proxy.port)).unwrap();
    (proxy, via.to_string())
}

async fn readyz(app: &TestApp) -> u16 {
    app.client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn publish(app: &TestApp, id: u64) -> reqwest::Response {
    app.wordpress(&post_event("post.published", id, "post"))
        .await
}

/// Waits until every one of `ids` was purged at `site`.
async fn all_purged(site: &BigScoots, ids: impl IntoIterator<Item = u64>) {
    let wanted: BTreeSet<u64> = ids.into_iter().collect();
    eventually(WAIT, "every accepted delivery purged", || async {
        let purged: BTreeSet<u64> = purged_ids(&site.requests().await).into_iter().collect();
        wanted.is_subset(&purged).then_some(())
    })
    .await;
}

#[tokio::test]
async fn deliveries_while_the_broker_is_cut_are_spooled_then_purged() {
    if crate::services::rabbitmq_missing() {
        return;
    }
    let site = BigScoots::start(APP_PASSWORD).await;
    let deployment = Deployment::new(&site, "10ms");
    let (proxy, via) = proxied().await;
    let receiver = deployment.spawn_via(Role::Receiver, &via).await;
    let worker = deployment.spawn(Role::Worker).await;
    assert_eq!(publish(&receiver, 1).await.status(), 202);
    all_purged(&site, [1]).await;

    proxy.cut().await;
    for id in 2..=11 {
        assert_eq!(publish(&receiver, id).await.status(), 202, "spooled: {id}");
    }
    eventually(WAIT, "/readyz to say 503", || async {
        (readyz(&receiver).await == 503).then_some(())
    })
    .await;
    proxy.restore();
    eventually(WAIT, "/readyz to say 200 again", || async {
        (readyz(&receiver).await == 200).then_some(())
    })
    .await;
    all_purged(&site, 1..=11).await;
    receiver.stop().await;
    worker.stop().await;
    deployment.clean_up().await;
}

#[tokio::test]
async fn a_receiver_started_while_the_broker_is_down_spools_and_becomes_ready() {
    if crate::services::rabbitmq_missing() {
        return;
    }
    let site = BigScoots::start(APP_PASSWORD).await;
    let deployment = Deployment::new(&site, "10ms");
    let (proxy, via) = proxied().await;
    proxy.cut().await;
    let receiver = deployment.spawn_via(Role::Receiver, &via).await;
    assert_eq!(readyz(&receiver).await, 503);
    for id in 1..=5 {
        assert_eq!(publish(&receiver, id).await.status(), 202);
    }
    let worker = deployment.spawn(Role::Worker).await;
    proxy.restore();
    eventually(WAIT, "/readyz to say 200", || async {
        (readyz(&receiver).await == 200).then_some(())
    })
    .await;
    all_purged(&site, 1..=5).await;
    receiver.stop().await;
    worker.stop().await;
    deployment.clean_up().await;
}

#[tokio::test]
async fn a_silent_broker_is_noticed_and_nothing_accepted_is_lost() {
    if crate::services::rabbitmq_missing() {
        return;
    }
    let site = BigScoots::start(APP_PASSWORD).await;
    let deployment = Deployment::new(&site, "10ms");
    let (proxy, via) = proxied().await;
    let receiver = deployment.spawn_via(Role::Receiver, &via).await;
    let worker = deployment.spawn(Role::Worker).await;
    assert_eq!(publish(&receiver, 1).await.status(), 202);

    proxy.freeze();
    let frozen_at = Instant::now();
    let answer = publish(&receiver, 2).await;
    assert_eq!(answer.status(), 202, "kept in the spool");
    assert!(
        frozen_at.elapsed() < Duration::from_secs(8),
        "answered after the confirm deadline, not hung: {:?}",
        frozen_at.elapsed()
    );
    eventually(Duration::from_secs(15), "/readyz to say 503", || async {
        (readyz(&receiver).await == 503).then_some(())
    })
    .await;
    proxy.thaw();
    all_purged(&site, [1, 2]).await;
    receiver.stop().await;
    worker.stop().await;
    deployment.clean_up().await;
}

#[tokio::test]
async fn a_full_spool_answers_503() {
    if crate::services::rabbitmq_missing() {
        return;
    }
    let site = BigScoots::start(APP_PASSWORD).await;
    let deployment = Deployment::new(&site, "10ms");
    let (proxy, via) = proxied().await;
    proxy.cut().await;
    let mut overrides = deployment.overrides(&via);
    overrides.push(("PURGEHOOK__QUEUE__SPOOL_MAX".into(), "2".into()));
    let dir = tempfile::tempdir().unwrap();
    let receiver = spawn_role(&deployment.config, Role::Receiver, overrides, dir).await;
    for id in 1..=2 {
        assert_eq!(publish(&receiver, id).await.status(), 202);
    }
    let full = publish(&receiver, 3).await;
    assert_eq!(full.status(), 503);
    assert!(full.headers().contains_key("retry-after"));
    receiver.stop().await;
    proxy.restore();
    deployment.clean_up().await;
}
