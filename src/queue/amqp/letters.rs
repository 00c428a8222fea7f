//! The dead letters on RabbitMQ: the `purgehook.dead` queue read without
//! removing anything (messages fetched unacknowledged are given back when
//! the reading channel closes), replays that publish the jobs again with
//! confirms before acknowledging their letters, and the headers that carry
//! a letter's reason, target, attempts and time.

use lapin::Channel;
use lapin::options::{BasicAckOptions, BasicGetOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};

use super::AmqpQueue;
use super::topology::{self, ATTEMPTS_HEADER, DEAD_AT_HEADER, REASON_HEADER, TARGET_HEADER};
use crate::job::Job;
use crate::queue::{DeadLetter, QueueError, ReplayFilter, Replayed};

impl AmqpQueue {
    /// Every dead letter, read without removing them.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, QueueError> {
        let channel = self.inner.broker.dedicated_channel().await?;
        let fetched = self.fetch_dead(&channel).await;
        let _ = channel.close(200, "dead letters read".into()).await;
        Ok(fetched?.iter().map(dead_letter).collect())
    }

    /// Fetches every message of the dead-letter queue on `channel`, unacknowledged.
    async fn fetch_dead(
        &self,
        channel: &Channel,
    ) -> Result<Vec<lapin::message::Delivery>, QueueError> {
        let queue = self.inner.names.dead();
        let mut messages = Vec::new();
        while let Some(message) = channel
            .basic_get(queue.as_str().into(), BasicGetOptions::default())
            .await
            .map_err(|e| self.unreachable(format!("cannot read {queue}: {e}")))?
        {
            messages.push(message.delivery);
        }
        Ok(messages)
    }

    /// Deletes the matching dead letters (acknowledges them); the others go
    /// back to the queue when the reading channel closes.
    pub async fn delete_dead(&self, filter: &ReplayFilter) -> Result<Vec<DeadLetter>, QueueError> {
        let channel = self.inner.broker.dedicated_channel().await?;
        let outcome = async {
            let mut deleted = Vec::new();
            for message in self.fetch_dead(&channel).await? {
                let letter = dead_letter(&message);
                if filter.matches(&letter) {
                    message
                        .acker
                        .ack(BasicAckOptions::default())
                        .await
                        .map_err(|e| {
                            self.unreachable(format!("cannot delete a dead letter: {e}"))
                        })?;
                    deleted.push(letter);
                }
            }
            Ok(deleted)
        }
        .await;
        let _ = channel.close(200, "dead letters deleted".into()).await;
        outcome
    }

    /// Publishes the jobs of the matching dead letters again (attempt 0) with
    /// confirms, then acknowledges those letters; the others go back to the
    /// queue when the reading channel closes. A failure before the confirms
    /// removes no letter; one after them may leave a replayed letter in place
    /// (a duplicate, never a loss).
    pub async fn replay(&self, filter: &ReplayFilter) -> Result<Replayed, QueueError> {
        let channel = self.inner.broker.dedicated_channel().await?;
        let outcome = self.replay_on(&channel, filter).await;
        let _ = channel.close(200, "dead letters replayed".into()).await;
        outcome
    }

    async fn replay_on(
        &self,
        channel: &Channel,
        filter: &ReplayFilter,
    ) -> Result<Replayed, QueueError> {
        let mut outcome = Replayed::default();
        let mut jobs = Vec::new();
        let mut acks = Vec::new();
        for message in self.fetch_dead(channel).await? {
            let letter = dead_letter(&message);
            if !filter.matches(&letter) {
                continue;
            }
            match filter.replayable(&letter) {
                Some(job) => {
                    jobs.push(job);
                    acks.push(message.acker);
                    outcome.replayed.push(letter);
                }
                None => outcome.skipped.push(letter),
            }
        }
        self.publish_direct(&jobs).await?;
        for acker in acks {
            acker.ack(BasicAckOptions::default()).await.map_err(|e| {
                self.unreachable(format!(
                    "the jobs were queued again, but their dead letters could not be removed \
                     (they may run twice if replayed again): {e}"
                ))
            })?;
        }
        Ok(outcome)
    }
}

/// The headers of a dead letter.
pub(super) fn dead_headers(target: &str, reason: &str, attempts: u32) -> FieldTable {
    let mut headers = FieldTable::default();
    let text = |s: &str| AMQPValue::LongString(LongString::from(s.to_string()));
    headers.insert(REASON_HEADER.into(), text(reason));
    headers.insert(TARGET_HEADER.into(), text(target));
    headers.insert(ATTEMPTS_HEADER.into(), AMQPValue::LongUInt(attempts));
    headers.insert(DEAD_AT_HEADER.into(), text(&crate::job::now().to_string()));
    headers
}

/// A dead-lettered message, read back.
pub(super) fn dead_letter(delivery: &lapin::message::Delivery) -> DeadLetter {
    let empty = FieldTable::default();
    let headers = delivery.properties.headers().as_ref().unwrap_or(&empty);
    let job = Job::from_bytes(&delivery.data).ok();
    DeadLetter {
        id: job.as_ref().map_or_else(
            || {
                message_id(delivery)
                    .or_else(|| body_id(&delivery.data))
                    .unwrap_or_default()
            },
            |job| job.id.to_string(),
        ),
        target: topology::header_string(headers, TARGET_HEADER)
            .unwrap_or_else(|| delivery.routing_key.as_str().to_string()),
        body: job
            .is_none()
            .then(|| String::from_utf8_lossy(&delivery.data).into_owned()),
        job,
        reason: topology::header_string(headers, REASON_HEADER)
            .unwrap_or_else(|| "no reason recorded".into()),
        attempts: topology::header_u32(headers, ATTEMPTS_HEADER).unwrap_or(0),
        dead_at: topology::header_string(headers, DEAD_AT_HEADER).and_then(|at| at.parse().ok()),
    }
}

/// A message's `message_id` property, when it has one.
fn message_id(delivery: &lapin::message::Delivery) -> Option<String> {
    let id = delivery.properties.message_id().as_ref()?;
    Some(id.as_str().to_string()).filter(|id| !id.is_empty())
}

/// The message id a dead-lettered copy of `delivery` carries: the
/// producer's `message_id`, else the `id` its body gives (a job that is
/// invalid otherwise), else a fresh one — so that every dead letter can be
/// named, by the producer's own id where it gave one.
pub(super) fn message_id_of(delivery: &lapin::message::Delivery) -> String {
    message_id(delivery)
        .or_else(|| body_id(&delivery.data))
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// The `id` field of a JSON body, if it has one (at most 200 characters).
fn body_id(data: &[u8]) -> Option<String> {
    let body: serde_json::Value = serde_json::from_slice(data).ok()?;
    let id = body.get("id")?.as_str()?;
    (!id.is_empty() && id.len() <= 200).then(|| id.to_string())
}
