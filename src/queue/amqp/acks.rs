//! Acknowledging deliveries in as few frames as is safe. Each consumer's
//! channel keeps the set of tags it handed out and that are not settled yet
//! ([`Unsettled`]); a batch is acknowledged with one `basic.ack` with
//! `multiple` set, on the highest of its tags below every delivery still
//! unsettled on that channel (one held elsewhere, or an invalid message that
//! could not be dead-lettered), and singly above it. A tag settled already
//! (a settlement applied twice) is not acknowledged again: the broker would
//! close the channel over an unknown tag. A message that carried several
//! jobs (an array: a receiver's group commit) hands out one tag per job,
//! and is acknowledged only once every one of its jobs is settled; giving
//! back any of them gives back the message.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use lapin::Acker;
use lapin::options::{BasicAckOptions, BasicNackOptions};

use crate::queue::DeliveryTag;

/// The broker's handles among `tags`.
pub(super) fn amqp_tags<'a>(tags: impl Iterator<Item = &'a DeliveryTag>) -> Vec<AmqpTag> {
    tags.filter_map(|tag| match tag {
        DeliveryTag::Amqp(tag) => Some(tag.clone()),
        DeliveryTag::Embedded(_) => None,
    })
    .collect()
}

/// The deliveries of one consumer's channel not settled yet. A new channel
/// (after a reconnection) has its own: delivery tags are per channel.
#[derive(Debug, Default)]
pub(super) struct Unsettled {
    tags: Mutex<BTreeSet<u64>>,
}

impl Unsettled {
    fn tags(&self) -> std::sync::MutexGuard<'_, BTreeSet<u64>> {
        self.tags.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The jobs of one several-job message that are not settled yet.
#[derive(Debug)]
struct Parts {
    left: Mutex<BTreeSet<u32>>,
}

/// One job of a several-job message.
#[derive(Debug, Clone)]
struct Part {
    index: u32,
    of: Arc<Parts>,
}

/// A delivery's handle on RabbitMQ: its acker, its tag on its channel, and
/// that channel's unsettled set; for a job of a several-job message, which
/// job it is.
#[derive(Debug, Clone)]
pub struct AmqpTag {
    acker: Acker,
    tag: u64,
    unsettled: Arc<Unsettled>,
    part: Option<Part>,
}

impl AmqpTag {
    /// The handle of a delivery just handed out, counted as unsettled.
    pub(super) fn handed_out(
        delivery: &lapin::message::Delivery,
        unsettled: &Arc<Unsettled>,
    ) -> AmqpTag {
        unsettled.tags().insert(delivery.delivery_tag);
        AmqpTag {
            acker: delivery.acker.clone(),
            tag: delivery.delivery_tag,
            unsettled: unsettled.clone(),
            part: None,
        }
    }

    /// The handles of the `jobs` jobs of a delivery just handed out, one
    /// per job: the delivery is acknowledged once all are settled.
    pub(super) fn handed_out_parts(
        delivery: &lapin::message::Delivery,
        unsettled: &Arc<Unsettled>,
        jobs: usize,
    ) -> Vec<AmqpTag> {
        let whole = AmqpTag::handed_out(delivery, unsettled);
        if jobs <= 1 {
            return vec![whole];
        }
        let indexes = 0..u32::try_from(jobs).unwrap_or(u32::MAX);
        let of = Arc::new(Parts {
            left: Mutex::new(indexes.clone().collect()),
        });
        indexes
            .map(|index| AmqpTag {
                part: Some(Part {
                    index,
                    of: of.clone(),
                }),
                ..whole.clone()
            })
            .collect()
    }

    /// Settles this handle's job; true when its whole delivery is settled
    /// now (a single-job delivery always is).
    fn whole_settled(&self) -> bool {
        let Some(part) = &self.part else { return true };
        let mut left = part.of.left.lock().unwrap_or_else(|p| p.into_inner());
        left.remove(&part.index);
        left.is_empty()
    }
}

/// Counts a delivery that could not be settled as unsettled: no
/// acknowledgement with `multiple` may cover it (it comes back when its
/// channel closes).
pub(super) fn left_unsettled(delivery: &lapin::message::Delivery, unsettled: &Unsettled) {
    unsettled.tags().insert(delivery.delivery_tag);
}

/// Takes `tags` out of their channels' unsettled sets; returns, per
/// channel, the tags that were still unsettled (ascending) and the lowest
/// tag that stays unsettled on that channel, if any.
fn take(tags: Vec<AmqpTag>) -> Vec<(Vec<AmqpTag>, Option<u64>)> {
    let mut channels: Vec<(Arc<Unsettled>, Vec<AmqpTag>)> = Vec::new();
    for tag in tags {
        match channels
            .iter_mut()
            .find(|(u, _)| Arc::ptr_eq(u, &tag.unsettled))
        {
            Some((_, group)) => group.push(tag),
            None => channels.push((tag.unsettled.clone(), vec![tag])),
        }
    }
    channels
        .into_iter()
        .map(|(unsettled, group)| {
            let mut set = unsettled.tags();
            let mut group: Vec<AmqpTag> =
                group.into_iter().filter(|t| set.remove(&t.tag)).collect();
            group.sort_by_key(|t| t.tag);
            group.dedup_by_key(|t| t.tag);
            (group, set.first().copied())
        })
        .collect()
}

/// How long an acknowledgement may take to be sent: a connection that died
/// without saying so must not hold the worker (the broker gives the
/// deliveries back when it notices).
const ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Acknowledges `tags`: per channel, one `multiple` acknowledgement up to
/// the lowest delivery that stays unsettled, then one per tag above it. A
/// failure is logged (the deliveries come back when their channel closes:
/// a duplicate, not a loss).
pub(super) async fn ack(tags: Vec<AmqpTag>) {
    let whole: Vec<AmqpTag> = tags.into_iter().filter(AmqpTag::whole_settled).collect();
    for (group, lowest_left) in take(whole) {
        let covered = group
            .iter()
            .take_while(|t| lowest_left.is_none_or(|low| t.tag < low))
            .count();
        let mut frames: Vec<(&AmqpTag, bool)> = Vec::with_capacity(group.len() - covered + 1);
        if covered > 0 {
            frames.push((&group[covered - 1], covered > 1));
        }
        frames.extend(group[covered..].iter().map(|t| (t, false)));
        for (tag, multiple) in frames {
            let acked = tag.acker.ack(BasicAckOptions { multiple });
            match tokio::time::timeout(ANSWER_WAIT, acked).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    tracing::warn!(%error, "cannot acknowledge a settled delivery; it may run again");
                }
                Err(_) => {
                    tracing::warn!(
                        "an acknowledgement was not sent in time (a dead connection?); the delivery may run again"
                    );
                }
            }
        }
    }
}

/// Gives deliveries back to the broker for redelivery, one by one (rare:
/// a stop, a retired target).
pub(super) async fn release(tags: Vec<AmqpTag>) {
    for (group, _) in take(tags) {
        for tag in group {
            let requeue = BasicNackOptions {
                requeue: true,
                ..BasicNackOptions::default()
            };
            match tokio::time::timeout(ANSWER_WAIT, tag.acker.nack(requeue)).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    tracing::warn!(%error, "cannot give a delivery back; the broker will when its channel closes");
                }
                Err(_) => {
                    tracing::warn!(
                        "a delivery was not given back in time (a dead connection?); the broker will when its channel closes"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(n: u64, unsettled: &Arc<Unsettled>) -> AmqpTag {
        unsettled.tags().insert(n);
        AmqpTag {
            acker: lapin::message::Delivery::mock(n, "".into(), "".into(), false, vec![]).acker,
            tag: n,
            unsettled: unsettled.clone(),
            part: None,
        }
    }

    fn tags_of(group: &[AmqpTag]) -> Vec<u64> {
        group.iter().map(|t| t.tag).collect()
    }

    #[test]
    fn a_batch_is_taken_once_and_stops_below_what_stays_unsettled() {
        let channel = Arc::new(Unsettled::default());
        let held = tag(2, &channel);
        let batch = vec![tag(3, &channel), tag(1, &channel), tag(4, &channel)];
        let taken = take(batch.clone());
        assert_eq!(taken.len(), 1);
        assert_eq!(tags_of(&taken[0].0), [1, 3, 4]);
        assert_eq!(taken[0].1, Some(2), "delivery 2 stays unsettled");
        assert!(
            take(batch)[0].0.is_empty(),
            "settled already: not acknowledged again"
        );
        let last = take(vec![held]);
        assert_eq!((tags_of(&last[0].0), last[0].1), (vec![2], None));
    }

    #[test]
    fn a_several_job_delivery_is_whole_once_every_job_is_settled_even_twice() {
        let channel = Arc::new(Unsettled::default());
        let delivery = lapin::message::Delivery::mock(5, "".into(), "".into(), false, vec![]);
        let parts = AmqpTag::handed_out_parts(&delivery, &channel, 3);
        assert_eq!(parts.len(), 3);
        assert!(!parts[1].whole_settled());
        assert!(
            !parts[1].whole_settled(),
            "a part settled twice counts once"
        );
        assert!(!parts[0].whole_settled());
        assert!(
            parts[2].whole_settled(),
            "the last job settles the delivery"
        );
        assert!(parts[0].whole_settled(), "and it stays settled");
        let taken = take(parts);
        assert_eq!(tags_of(&taken[0].0), [5], "one delivery, taken once");
        let single = AmqpTag::handed_out_parts(&delivery, &channel, 1);
        assert!(single[0].whole_settled());
    }

    #[test]
    fn channels_are_kept_apart() {
        let (old, new) = (
            Arc::new(Unsettled::default()),
            Arc::new(Unsettled::default()),
        );
        let taken = take(vec![tag(7, &old), tag(1, &new), tag(8, &old)]);
        assert_eq!(taken.len(), 2);
        assert_eq!(tags_of(&taken[0].0), [7, 8]);
        assert_eq!(tags_of(&taken[1].0), [1]);
    }
}
