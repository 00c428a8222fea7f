//! The RabbitMQ backend. Publishing pipelines publisher confirms: every job
//! of a request is sent on a pooled channel, the channel goes back to the
//! pool at once, and the request waits only for its own confirms — so many
//! requests keep hundreds of confirms in flight per channel and the broker
//! batches its fsyncs. Each target is consumed through its own channel and
//! consumer (single active consumer on the queue: one worker process at a
//! time owns a target). Messages that are not valid v1 jobs, or that were
//! routed to no target, are dead-lettered with the reason in a header (and
//! a message id, when they had none, so every dead letter can be named). A
//! replay publishes the jobs of dead letters again with confirms, and only
//! then acknowledges those dead letters.

mod broker;
pub mod topology;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt as _;
use lapin::PublisherConfirm;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, ExchangeDeleteOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{DeadLetter, Delivery, DeliveryTag, QueueError, ReplayFilter, Replayed, Settlement};
use crate::config::QueueSettings;
use crate::job::Job;
use broker::Broker;
pub use broker::display_host;
use topology::{ATTEMPTS_HEADER, DEAD_AT_HEADER, Names, REASON_HEADER, RETRY_TIERS, TARGET_HEADER};

/// Longest pause between two reconnection attempts of a consumer.
const MAX_RECONNECT_PAUSE: Duration = Duration::from_secs(5);

/// How often an idle consumer checks that its channel is still connected.
const HEALTH_CHECK: Duration = Duration::from_secs(1);

struct TargetConsumer {
    channel: Channel,
    stream: lapin::Consumer,
}

type ConsumerSlot = Arc<tokio::sync::Mutex<Option<TargetConsumer>>>;

struct Inner {
    broker: Broker,
    names: Names,
    prefetch: u16,
    consumers: Mutex<HashMap<String, ConsumerSlot>>,
}

/// The AMQP queue; cheap to clone.
#[derive(Clone)]
pub struct AmqpQueue {
    inner: Arc<Inner>,
}

fn unavailable(message: impl Into<String>) -> QueueError {
    QueueError::Unavailable(message.into())
}

fn properties(job_id: &str) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_message_id(job_id.into())
}

impl AmqpQueue {
    /// Connects to the broker of `settings` (as connection `name`), declares
    /// the topology and the queues of `targets`. Errors name the host.
    pub async fn connect(
        settings: &QueueSettings,
        name: &str,
        targets: &[String],
        prefetch: u16,
    ) -> Result<AmqpQueue, QueueError> {
        let broker = Broker::new(&settings.url, name).map_err(unavailable)?;
        let names = Names::new(&settings.prefix, settings.queue_type);
        let channel = broker.channel().await.map_err(unavailable)?;
        names.declare(&channel, targets).await.map_err(|e| {
            unavailable(format!(
                "cannot declare the topology on RabbitMQ at {}: {e}",
                broker.host()
            ))
        })?;
        drop(channel);
        Ok(AmqpQueue {
            inner: Arc::new(Inner {
                broker,
                names,
                prefetch: prefetch.max(1),
                consumers: Mutex::new(HashMap::new()),
            }),
        })
    }

    fn host(&self) -> &str {
        self.inner.broker.host()
    }

    /// Sends one message on a pooled channel and gives the channel back;
    /// the returned confirm is awaited by the caller.
    async fn send(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<PublisherConfirm, QueueError> {
        let channel = self.inner.broker.channel().await.map_err(unavailable)?;
        channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                body,
                properties,
            )
            .await
            .map_err(|e| {
                unavailable(format!(
                    "cannot publish to RabbitMQ at {}: {e}",
                    self.host()
                ))
            })
    }

    async fn confirmed(&self, confirms: Vec<PublisherConfirm>) -> Result<(), QueueError> {
        for confirm in confirms {
            let confirmation = confirm.await.map_err(|e| {
                unavailable(format!("no confirm from RabbitMQ at {}: {e}", self.host()))
            })?;
            if confirmation.is_nack() {
                return Err(unavailable(format!(
                    "RabbitMQ at {} refused a message (nack)",
                    self.host()
                )));
            }
            if confirmation.take_message().is_some() {
                return Err(unavailable("a message could not be routed to any queue"));
            }
        }
        Ok(())
    }

    /// Sends `job` to the jobs exchange, routed to its target; the returned
    /// confirm is awaited by the caller.
    async fn send_job(&self, job: &Job) -> Result<PublisherConfirm, QueueError> {
        let exchange = self.inner.names.jobs_exchange();
        let id = job.id.to_string();
        self.send(&exchange, &job.target, &job.to_bytes(), properties(&id))
            .await
    }

    /// Publishes with confirms; returns once every job is confirmed.
    pub async fn publish(&self, jobs: &[Job]) -> Result<(), QueueError> {
        let mut confirms = Vec::with_capacity(jobs.len());
        for job in jobs {
            confirms.push(self.send_job(job).await?);
        }
        self.confirmed(confirms).await
    }

    fn slot(&self, target: &str) -> ConsumerSlot {
        let mut consumers = self
            .inner
            .consumers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        consumers.entry(target.to_string()).or_default().clone()
    }

    async fn open_consumer(
        &self,
        queue: &str,
        declare_target: Option<&str>,
    ) -> Result<TargetConsumer, String> {
        let channel = self.inner.broker.dedicated_channel().await?;
        if let Some(target) = declare_target {
            self.inner
                .names
                .declare_target(&channel, target)
                .await
                .map_err(|e| format!("cannot declare {queue}: {e}"))?;
        }
        channel
            .basic_qos(self.inner.prefetch, BasicQosOptions::default())
            .await
            .map_err(|e| format!("cannot set the prefetch of {queue}: {e}"))?;
        let tag = format!("purgehook-{}", uuid::Uuid::now_v7().simple());
        let stream = channel
            .basic_consume(
                queue.into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| format!("cannot consume {queue}: {e}"))?;
        Ok(TargetConsumer { channel, stream })
    }

    /// Waits for the next delivery of `queue` until `deadline`, reconnecting
    /// with backoff while the broker is unusable.
    async fn next_raw(
        &self,
        queue: &str,
        declare_target: Option<&str>,
        slot: &mut Option<TargetConsumer>,
        deadline: Option<Instant>,
    ) -> Option<lapin::message::Delivery> {
        let mut pause = Duration::from_millis(100);
        loop {
            if slot.is_none() {
                match self.open_consumer(queue, declare_target).await {
                    Ok(consumer) => *slot = Some(consumer),
                    Err(error) => {
                        tracing::warn!(%queue, %error, ?pause, "cannot consume; retrying");
                        let wake = Instant::now() + pause;
                        if deadline.is_some_and(|d| d <= wake) {
                            tokio::time::sleep_until(deadline.unwrap_or(wake)).await;
                            return None;
                        }
                        tokio::time::sleep_until(wake).await;
                        pause = (pause * 2).min(MAX_RECONNECT_PAUSE);
                        continue;
                    }
                }
            }
            let consumer = slot.as_mut()?;
            // The stream does not always end when the connection dies: watch
            // the channel too, and reconnect when it is no longer usable.
            let item = loop {
                let check_at = Instant::now() + HEALTH_CHECK;
                let wake = deadline.map_or(check_at, |d| d.min(check_at));
                match tokio::time::timeout_at(wake, consumer.stream.next()).await {
                    Ok(item) => break item,
                    Err(_) if deadline.is_some_and(|d| Instant::now() >= d) => return None,
                    Err(_) if !consumer.channel.status().connected() => break None,
                    Err(_) => {}
                }
            };
            match item {
                Some(Ok(delivery)) => return Some(delivery),
                Some(Err(error)) => {
                    tracing::warn!(%queue, %error, "consumer failed; reconnecting");
                    *slot = None;
                }
                None => {
                    tracing::warn!(%queue, "consumer ended; reconnecting");
                    *slot = None;
                }
            }
        }
    }

    /// The next valid job of `target`. Invalid messages met on the way are
    /// dead-lettered with their reason and acknowledged.
    pub async fn next(&self, target: &str, deadline: Option<Instant>) -> Option<Delivery> {
        let queue = self.inner.names.target_queue(target);
        let slot = self.slot(target);
        let mut slot = slot.lock().await;
        loop {
            let delivery = self
                .next_raw(&queue, Some(target), &mut slot, deadline)
                .await?;
            let reason = match Job::from_bytes(&delivery.data) {
                Ok(job) if job.target == target => {
                    return Some(Delivery {
                        job,
                        tag: DeliveryTag::Amqp(delivery.acker),
                    });
                }
                Ok(job) => format!(
                    "the job names target {:?} but was routed to {target:?}",
                    job.target
                ),
                Err(invalid) => invalid.to_string(),
            };
            self.reject_invalid(delivery, target, &reason).await;
        }
    }

    async fn reject_invalid(&self, delivery: lapin::message::Delivery, target: &str, reason: &str) {
        tracing::warn!(%target, %reason, "invalid message dead-lettered");
        crate::telemetry::invalid_message();
        let headers = dead_headers(target, reason, 0);
        let result = async {
            let confirm = self
                .send(
                    &self.inner.names.dead(),
                    target,
                    &delivery.data,
                    BasicProperties::default()
                        .with_delivery_mode(2)
                        .with_message_id(message_id_of(&delivery).into())
                        .with_headers(headers),
                )
                .await?;
            self.confirmed(vec![confirm]).await
        }
        .await;
        let outcome = match result {
            Ok(()) => delivery.acker.ack(BasicAckOptions::default()).await,
            Err(error) => {
                tracing::error!(%target, %error, "cannot dead-letter an invalid message; it will be redelivered");
                delivery
                    .acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..BasicNackOptions::default()
                    })
                    .await
            }
        };
        if let Err(error) = outcome {
            tracing::warn!(%target, %error, "cannot settle an invalid message; it will be redelivered");
        }
    }

    /// Publishes the retries (to their delay tier) and dead letters with
    /// confirms, then acknowledges the deliveries.
    pub async fn settle(&self, settlement: Settlement) -> Result<(), QueueError> {
        let mut confirms = Vec::new();
        for (job, delay) in &settlement.retry {
            let tier = self.inner.names.retry(Names::tier_for(*delay));
            confirms.push(
                self.send(
                    &tier,
                    &job.target,
                    &job.to_bytes(),
                    properties(&job.id.to_string()),
                )
                .await?,
            );
        }
        for (job, reason) in &settlement.dead {
            let headers = dead_headers(&job.target, reason, job.attempt + 1);
            let props = properties(&job.id.to_string()).with_headers(headers);
            confirms.push(
                self.send(
                    &self.inner.names.dead(),
                    &job.target,
                    &job.to_bytes(),
                    props,
                )
                .await?,
            );
        }
        self.confirmed(confirms).await?;
        for tag in settlement.ack {
            if let DeliveryTag::Amqp(acker) = tag
                && let Err(error) = acker.ack(BasicAckOptions::default()).await
            {
                // The message comes back when its channel closes: a duplicate, not a loss.
                tracing::warn!(%error, "cannot acknowledge a settled delivery; it may run again");
            }
        }
        Ok(())
    }

    /// Gives deliveries back to the broker for redelivery.
    pub async fn release(&self, tags: &[DeliveryTag]) {
        for tag in tags {
            if let DeliveryTag::Amqp(acker) = tag {
                let requeue = BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                };
                if let Err(error) = acker.nack(requeue).await {
                    tracing::warn!(%error, "cannot give a delivery back; the broker will when its channel closes");
                }
            }
        }
    }

    /// Whether a channel can be had now.
    pub async fn is_ready(&self) -> bool {
        match self.inner.broker.channel().await {
            Ok(channel) => channel.status().connected(),
            Err(_) => false,
        }
    }

    /// Every dead letter, read without removing them: they are fetched
    /// unacknowledged and given back when the reading channel closes.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, QueueError> {
        let channel = self.reading_channel().await?;
        let fetched = self.fetch_dead(&channel).await;
        let _ = channel.close(200, "dead letters read".into()).await;
        Ok(fetched?.iter().map(dead_letter).collect())
    }

    /// A channel of its own, for reading the dead letters: what it fetched
    /// and did not acknowledge goes back to the queue when it closes.
    async fn reading_channel(&self) -> Result<Channel, QueueError> {
        self.inner
            .broker
            .dedicated_channel()
            .await
            .map_err(unavailable)
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
            .map_err(|e| unavailable(format!("cannot read {queue}: {e}")))?
        {
            messages.push(message.delivery);
        }
        Ok(messages)
    }

    /// Publishes the jobs of the matching dead letters again (attempt 0) with
    /// confirms, then acknowledges those letters; the others go back to the
    /// queue when the reading channel closes. A failure before the confirms
    /// removes no letter; one after them may leave a replayed letter in place
    /// (a duplicate, never a loss).
    pub async fn replay(&self, filter: &ReplayFilter) -> Result<Replayed, QueueError> {
        let channel = self.reading_channel().await?;
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
        let mut confirms = Vec::new();
        let mut replayed = Vec::new();
        for message in self.fetch_dead(channel).await? {
            let letter = dead_letter(&message);
            if !filter.matches(&letter) {
                continue;
            }
            match filter.replayable(&letter) {
                Some(job) => {
                    confirms.push(self.send_job(&job).await?);
                    replayed.push(message.acker);
                    outcome.replayed.push(letter);
                }
                None => outcome.skipped.push(letter),
            }
        }
        self.confirmed(confirms).await?;
        for acker in replayed {
            acker.ack(BasicAckOptions::default()).await.map_err(|e| {
                unavailable(format!(
                    "the jobs were queued again, but their dead letters could not be removed \
                     (they may run twice if replayed again): {e}"
                ))
            })?;
        }
        Ok(outcome)
    }

    /// Dead-letters every message that reached no target (an unknown
    /// routing key), until `stop`. Run by every worker process.
    pub async fn run_unroutable(self, stop: CancellationToken) {
        let queue = self.inner.names.unroutable();
        let mut slot = None;
        loop {
            let delivery = tokio::select! {
                () = stop.cancelled() => return,
                delivery = self.next_raw(&queue, None, &mut slot, None) => delivery,
            };
            let Some(delivery) = delivery else { continue };
            let key = delivery.routing_key.as_str().to_string();
            let reason = format!("no target {key:?} is configured (unroutable routing key)");
            self.reject_invalid(delivery, &key, &reason).await;
        }
    }

    /// Closes the consumers' channels (the broker redelivers what they had
    /// not settled) and the connection.
    pub async fn close(&self) {
        let slots: Vec<ConsumerSlot> = {
            let mut consumers = self
                .inner
                .consumers
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            consumers.drain().map(|(_, slot)| slot).collect()
        };
        for slot in slots {
            if let Some(consumer) = slot.lock().await.take() {
                let _ = consumer.channel.close(200, "closing".into()).await;
            }
        }
        self.inner.broker.close().await;
    }

    /// Deletes every exchange and queue under the prefix (tests clean up).
    pub async fn delete_topology(&self, targets: &[String]) -> Result<(), QueueError> {
        let channel = self
            .inner
            .broker
            .dedicated_channel()
            .await
            .map_err(unavailable)?;
        let names = &self.inner.names;
        let mut queues: Vec<String> = targets.iter().map(|t| names.target_queue(t)).collect();
        let mut exchanges = vec![names.jobs_exchange(), names.dead(), names.unroutable()];
        queues.extend([names.dead(), names.unroutable()]);
        for tier in RETRY_TIERS {
            queues.push(names.retry(tier));
            exchanges.push(names.retry(tier));
        }
        for queue in queues {
            channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await
                .map_err(|e| unavailable(e.to_string()))?;
        }
        for exchange in exchanges {
            channel
                .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                .await
                .map_err(|e| unavailable(e.to_string()))?;
        }
        Ok(())
    }
}

fn dead_headers(target: &str, reason: &str, attempts: u32) -> FieldTable {
    let mut headers = FieldTable::default();
    let text = |s: &str| AMQPValue::LongString(LongString::from(s.to_string()));
    headers.insert(REASON_HEADER.into(), text(reason));
    headers.insert(TARGET_HEADER.into(), text(target));
    headers.insert(ATTEMPTS_HEADER.into(), AMQPValue::LongUInt(attempts));
    let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    headers.insert(DEAD_AT_HEADER.into(), text(&now));
    headers
}

fn dead_letter(delivery: &lapin::message::Delivery) -> DeadLetter {
    let empty = FieldTable::default();
    let headers = delivery.properties.headers().as_ref().unwrap_or(&empty);
    let job = Job::from_bytes(&delivery.data).ok();
    DeadLetter {
        id: job.as_ref().map_or_else(
            || message_id(delivery).unwrap_or_default(),
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
        dead_at: topology::header_string(headers, DEAD_AT_HEADER).unwrap_or_default(),
    }
}

/// A message's `message_id` property, when it has one.
fn message_id(delivery: &lapin::message::Delivery) -> Option<String> {
    let id = delivery.properties.message_id().as_ref()?;
    Some(id.as_str().to_string()).filter(|id| !id.is_empty())
}

/// The message id a dead-lettered copy of `delivery` carries: the original's,
/// or a fresh one, so that every dead letter can be named.
fn message_id_of(delivery: &lapin::message::Delivery) -> String {
    message_id(delivery).unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}
