//! Settling a batch until the queue takes the settlement. The provider was
//! called already: a batch whose settlement fails is not called again, it
//! holds its deliveries and tries the same settlement again, backing off
//! from [`FIRST_WAIT`] to [`MAX_WAIT`], or at once when the queue, seen not
//! ready, is ready again (the same settlement may be applied twice: the
//! embedded store deletes what is gone as a no-op, a broker gets a
//! duplicate retry or dead letter). Only a stop gives the deliveries back
//! unsettled; they run again after the restart.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::job::TargetId;
use crate::queue::{Queue, QueueError, Settlement};

/// The first wait after a settlement failed.
pub const FIRST_WAIT: Duration = Duration::from_millis(100);
/// The longest wait between two tries.
pub const MAX_WAIT: Duration = Duration::from_secs(5);
/// How often the queue's readiness is read while waiting.
const READY_POLL: Duration = Duration::from_millis(100);

/// Applies `settlement`, trying again until the queue takes it; returns
/// whether it was applied (false: `stop` came first, or the queue closed,
/// and the deliveries were given back). Logs once when the queue refuses,
/// and once when it takes the settlement after all.
pub async fn settle(
    queue: &Queue,
    target: &TargetId,
    settlement: Settlement,
    stop: &CancellationToken,
) -> bool {
    let mut wait = FIRST_WAIT;
    let mut failing: Option<(Instant, u32)> = None;
    loop {
        match queue.settle(copy(&settlement)).await {
            Ok(()) => {
                if let Some((since, tries)) = failing {
                    tracing::info!(target_id = %target, tries = tries + 1, held_for = ?since.elapsed(), "batch settled after all");
                }
                return true;
            }
            Err(error) => {
                let (_, tries) = failing.get_or_insert_with(|| {
                    tracing::error!(target_id = %target, %error, "cannot settle batch; holding it (not called again) until the queue takes it");
                    (Instant::now(), 0)
                });
                *tries += 1;
                if matches!(error, QueueError::Closed) || stop.is_cancelled() {
                    break;
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
            () = ready_again(queue) => {}
        }
        wait = (wait * 2).min(MAX_WAIT);
    }
    tracing::warn!(target_id = %target, "stopping with a batch not settled; it runs again after the restart");
    queue.release(&settlement.ack).await;
    false
}

/// Returns once the queue, seen not ready, is ready again; never while it
/// stays ready (a refusal its readiness does not show waits the backoff).
async fn ready_again(queue: &Queue) {
    let mut seen_down = false;
    loop {
        tokio::time::sleep(READY_POLL).await;
        let ready = queue.is_ready().await;
        if ready && seen_down {
            return;
        }
        seen_down |= !ready;
    }
}

/// The same settlement again (`Settlement` is not `Clone`).
fn copy(settlement: &Settlement) -> Settlement {
    Settlement {
        ack: settlement.ack.clone(),
        retry: settlement.retry.clone(),
        dead: settlement.dead.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::action::Action;
    use crate::job::Job;
    use crate::queue::{EmbeddedQueue, Fault, FaultSwitch};

    #[tokio::test]
    async fn a_settlement_the_store_refuses_is_tried_again_until_it_takes_it() {
        let dir = tempfile::tempdir().unwrap();
        let switch = FaultSwitch::default();
        let store = EmbeddedQueue::open_faulty(dir.path(), &switch)
            .await
            .unwrap();
        let queue = Queue::Embedded(store.clone());
        let target = TargetId::new("a").unwrap();
        queue
            .publish(&[Job::new(target.clone(), Action::EVERYTHING, None)])
            .await
            .unwrap();
        let delivery = queue.next(&target, None).await.unwrap();
        switch.set(Fault::Broken);
        let settlement = Settlement {
            ack: vec![delivery.tag],
            ..Settlement::default()
        };
        let stop = CancellationToken::new();
        let settling = tokio::spawn({
            let (queue, target, stop) = (queue.clone(), target.clone(), stop.clone());
            async move { settle(&queue, &target, settlement, &stop).await }
        });
        // The publish, then two tries of the settlement.
        while store.stats().requests.load(Ordering::Relaxed) < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!settling.is_finished(), "held while the store cannot write");
        assert_eq!(
            queue.pending_jobs("a"),
            Some(1),
            "in flight, not redelivered"
        );
        switch.set(Fault::None);
        assert!(
            settling.await.unwrap(),
            "settled once the store writes again"
        );
        assert_eq!(queue.pending_jobs("a"), Some(0));
        queue.close().await;
    }

    #[tokio::test]
    async fn a_stop_gives_a_batch_that_cannot_be_settled_back() {
        let dir = tempfile::tempdir().unwrap();
        let switch = FaultSwitch::default();
        let queue = Queue::Embedded(
            EmbeddedQueue::open_faulty(dir.path(), &switch)
                .await
                .unwrap(),
        );
        let target = TargetId::new("a").unwrap();
        let job = Job::new(target.clone(), Action::EVERYTHING, None);
        queue.publish(std::slice::from_ref(&job)).await.unwrap();
        let delivery = queue.next(&target, None).await.unwrap();
        switch.set(Fault::Broken);
        let stop = CancellationToken::new();
        stop.cancel();
        let settlement = Settlement {
            ack: vec![delivery.tag],
            ..Settlement::default()
        };
        assert!(!settle(&queue, &target, settlement, &stop).await);
        assert_eq!(queue.pending_jobs("a"), Some(1));
        // Given back on disk only: delivered again once the file reads.
        switch.set(Fault::None);
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        let again = queue.next(&target, Some(deadline)).await;
        assert_eq!(again.map(|d| d.job), Some(job), "given back");
        queue.close().await;
    }
}
