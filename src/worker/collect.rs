//! Collecting one batch of a target's jobs. The coalescing window waits only
//! while the queue has nothing more for the target: a batch that reaches
//! `max_batch` (a backlog fills it at once) goes out without waiting the
//! rest of its window, so a backlog drains at the speed of the calls, not
//! one batch per window. While the batch's first call waits for its slot
//! (the rate limit, a `Retry-After`, an open breaker), the batch keeps
//! collecting, so that waiting merges jobs instead of piling up calls.

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::pace::Pace;
use super::{Plan, TargetWorker};
use crate::queue::{Delivery, Queue};

impl TargetWorker {
    /// Collects the target's jobs after `first` until the window closes or
    /// the batch is full, then on while the first call of the merged batch
    /// has to wait for its slot. Returns the batch and its calls, the first
    /// call's slot taken; `None` (the batch given back) when `stop` came
    /// first.
    pub(super) async fn collect(
        &self,
        queue: &Queue,
        first: Delivery,
        pace: &Pace,
        stop: &CancellationToken,
    ) -> Option<(Vec<Delivery>, Plan)> {
        let mut batch = vec![first];
        let mut close_at = Instant::now() + self.window;
        let mut waiting_for_slot = false;
        let mut gathered = false;
        loop {
            let full = batch.len() >= self.max_batch;
            if full && !waiting_for_slot {
                // Nothing left for the window to wait for.
                close_at = close_at.min(Instant::now());
            }
            if !full || Instant::now() < close_at {
                // Wait for the rest of the batch once, not for each job.
                let gather = (!gathered).then(|| self.max_batch - batch.len());
                gathered = true;
                let next = async {
                    if full {
                        // Only a call waiting for its slot gets here full.
                        tokio::time::sleep_until(close_at).await;
                        None
                    } else {
                        if let Some(missing) = gather {
                            queue.gather(&self.target, missing, close_at).await;
                        }
                        queue.next(&self.target, Some(close_at)).await
                    }
                };
                tokio::select! {
                    () = stop.cancelled() => {
                        queue.release(&batch.iter().map(|d| d.tag.clone()).collect::<Vec<_>>()).await;
                        return None;
                    }
                    delivery = next => match delivery {
                        Some(delivery) => {
                            batch.push(delivery);
                            continue;
                        }
                        None if Instant::now() < close_at => {
                            gathered = false;
                            continue;
                        }
                        None => {}
                    },
                }
            }
            let plan = self.plan(&batch);
            let Some(call) = plan.calls.first() else {
                return Some((batch, plan));
            };
            match pace.try_acquire(call) {
                Ok(()) => return Some((batch, plan)),
                Err(ready_at) => {
                    close_at = ready_at;
                    waiting_for_slot = true;
                    gathered = false;
                }
            }
        }
    }
}
