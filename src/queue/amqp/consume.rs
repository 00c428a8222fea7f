//! Consuming on RabbitMQ: one channel and consumer per target (single
//! active consumer on the queue: one worker process at a time owns a
//! target), reconnecting with backoff while the broker is unusable. A
//! message carrying several jobs ([`message`]) is handed out one job at a
//! time, each with its own handle on the delivery. A message that is not a
//! valid job message, or that was routed to no target, is
//! dead-lettered with the reason in a header (under its producer's
//! `message_id`, or a new one when it has none, so every letter can be named).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::acks::{self, AmqpTag, Unsettled};
use super::{AmqpQueue, letters, message, trace_headers};
use crate::job::TargetId;
use crate::queue::{Delivery, DeliveryTag, QueueError};

/// Longest pause between two reconnection attempts of a consumer.
const MAX_RECONNECT_PAUSE: Duration = Duration::from_secs(5);

/// How often an idle consumer checks that its channel is still connected.
const HEALTH_CHECK: Duration = Duration::from_secs(1);

/// How long opening a consumer (channel, declaration, prefetch, consume)
/// may take before it is tried again.
const OPEN_WAIT: Duration = Duration::from_secs(10);

pub(super) struct TargetConsumer {
    pub channel: Channel,
    stream: lapin::Consumer,
    /// What this channel handed out and is not settled yet.
    unsettled: Arc<Unsettled>,
    /// The jobs of a several-job message not handed out yet.
    ready: VecDeque<Delivery>,
}

pub(super) type ConsumerSlot = Arc<tokio::sync::Mutex<Option<TargetConsumer>>>;

impl AmqpQueue {
    fn slot(&self, target: &str) -> ConsumerSlot {
        let mut consumers = self
            .inner
            .consumers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        consumers.entry(target.to_string()).or_default().clone()
    }

    /// Every consumer's slot, removed from the queue (at close).
    pub(super) fn drain_consumers(&self) -> Vec<ConsumerSlot> {
        let mut consumers = self
            .inner
            .consumers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        consumers.drain().map(|(_, slot)| slot).collect()
    }

    async fn open_consumer(
        &self,
        queue: &str,
        declare_target: Option<&str>,
    ) -> Result<TargetConsumer, QueueError> {
        let channel = self.inner.broker.dedicated_channel().await?;
        let failed = |reason: String| self.unreachable(reason);
        if let Some(target) = declare_target {
            self.inner
                .names
                .declare_target(&channel, target)
                .await
                .map_err(|e| failed(format!("cannot declare {queue}: {e}")))?;
        }
        channel
            .basic_qos(
                self.inner.prefetch,
                lapin::options::BasicQosOptions::default(),
            )
            .await
            .map_err(|e| failed(format!("cannot set the prefetch of {queue}: {e}")))?;
        let tag = format!("purgehook-{}", uuid::Uuid::now_v7().simple());
        let stream = channel
            .basic_consume(
                queue.into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| failed(format!("cannot consume {queue}: {e}")))?;
        Ok(TargetConsumer {
            channel,
            stream,
            unsettled: Arc::default(),
            ready: VecDeque::new(),
        })
    }

    /// Opens the consumer of `queue` into `slot` if it has none, retrying
    /// with backoff; false when `deadline` came first.
    async fn ensure_consumer(
        &self,
        queue: &str,
        declare_target: Option<&str>,
        slot: &mut Option<TargetConsumer>,
        deadline: Option<Instant>,
    ) -> bool {
        let mut pause = Duration::from_millis(100);
        while slot.is_none() {
            // A connection that died without saying so may never answer.
            let opening = self.open_consumer(queue, declare_target);
            let opened = tokio::time::timeout(OPEN_WAIT, opening)
                .await
                .unwrap_or_else(|_| {
                    Err(self.unreachable(format!("no answer within {}s", OPEN_WAIT.as_secs())))
                });
            match opened {
                Ok(consumer) => *slot = Some(consumer),
                Err(error) => {
                    tracing::warn!(%queue, %error, ?pause, "cannot consume; retrying");
                    let wake = Instant::now() + pause;
                    if let Some(deadline) = deadline.filter(|d| *d <= wake) {
                        tokio::time::sleep_until(deadline).await;
                        return false;
                    }
                    tokio::time::sleep_until(wake).await;
                    pause = (pause * 2).min(MAX_RECONNECT_PAUSE);
                }
            }
        }
        true
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
        loop {
            if !self
                .ensure_consumer(queue, declare_target, slot, deadline)
                .await
            {
                return None;
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
    pub async fn next(&self, target: &TargetId, deadline: Option<Instant>) -> Option<Delivery> {
        let queue = self.inner.names.target_queue(target.as_str());
        let slot = self.slot(target.as_str());
        let mut slot = slot.lock().await;
        if let Some(ready) = slot.as_mut().and_then(|c| c.ready.pop_front()) {
            return Some(ready);
        }
        loop {
            let delivery = self
                .next_raw(&queue, Some(target.as_str()), &mut slot, deadline)
                .await?;
            let consumer = slot.as_mut()?;
            let reason = match message::jobs_of(&delivery.data, target) {
                Ok(jobs) => {
                    let trace = trace_headers::parent(&delivery.properties);
                    let tags =
                        AmqpTag::handed_out_parts(&delivery, &consumer.unsettled, jobs.len());
                    consumer
                        .ready
                        .extend(jobs.into_iter().zip(tags).map(|(job, tag)| Delivery {
                            job,
                            tag: DeliveryTag::Amqp(tag),
                            trace: trace.clone(),
                        }));
                    return consumer.ready.pop_front();
                }
                Err(reason) => reason,
            };
            let unsettled = consumer.unsettled.clone();
            if !self
                .reject_invalid(&delivery, target.as_str(), &reason, true)
                .await
            {
                acks::left_unsettled(&delivery, &unsettled);
            }
        }
    }

    /// Dead-letters a message that is not a job of its queue's target, or
    /// (`routed` false) that reached no target: `target` is then the
    /// producer's routing key, kept in the letter but never a metric label.
    /// False when the message could not be settled.
    async fn reject_invalid(
        &self,
        delivery: &lapin::message::Delivery,
        target: &str,
        reason: &str,
        routed: bool,
    ) -> bool {
        tracing::warn!(%target, %reason, "invalid message dead-lettered");
        crate::telemetry::invalid_message();
        crate::telemetry::dead_letter(if routed { target } else { "unroutable" });
        let dead = self.inner.names.dead();
        let props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_message_id(letters::message_id_of(delivery).into())
            .with_headers(letters::dead_headers(target, reason, 0));
        let result = async {
            let sent = self.send(&dead, target, &delivery.data, props).await?;
            self.confirmed(vec![sent]).await
        }
        .await;
        let outcome = match result {
            Ok(()) => delivery.acker.ack(BasicAckOptions::default()).await,
            Err(error) => {
                tracing::error!(%target, %error, "cannot dead-letter an invalid message; it will be redelivered");
                let requeue = BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                };
                delivery.acker.nack(requeue).await
            }
        };
        match outcome {
            Ok(settled) => settled,
            Err(error) => {
                tracing::warn!(%target, %error, "cannot settle an invalid message; it will be redelivered");
                false
            }
        }
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
            self.reject_invalid(&delivery, &key, &reason, false).await;
        }
    }
}
