//! The RabbitMQ backend. Publishing is a group commit ([`commit`]): the
//! jobs of requests that arrive while earlier messages wait for their
//! confirms go out together, one message per target, each sent on a pooled
//! channel that goes back to the pool at once; a request waits only for the
//! confirms of the messages carrying its jobs. Each target is consumed
//! through its own channel and consumer ([`consume`]); the dead letters are
//! read and replayed by [`letters`].

mod acks;
mod broker;
mod commit;
mod connect;
mod connections;
mod consume;
mod keeper;
mod letters;
mod message;
mod spool;
pub mod topology;
mod trace_headers;

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{BasicProperties, Channel, PublisherConfirm};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Deduper, DeliveryKey, DeliveryTag, Published, QueueError, Settlement};
use crate::config::QueueSettings;
use crate::job::{Job, TargetId};
pub use acks::AmqpTag;
use broker::Broker;
pub use connect::{BrokerError, display_host};
use consume::ConsumerSlot;
use spool::Spool;
use topology::{Names, RETRY_TIERS};

struct Inner {
    broker: Broker,
    names: Names,
    /// The targets whose queues are declared (a reload adds to them).
    targets: Mutex<Vec<TargetId>>,
    prefetch: u16,
    consumers: Mutex<HashMap<String, ConsumerSlot>>,
    deduper: Deduper,
    /// The topology is declared on the current connection.
    declared: AtomicBool,
    /// Not ready until then: a confirm missed its deadline.
    suspect_until: Mutex<Option<Instant>>,
    /// Where jobs wait while the broker cannot take them (receivers).
    spool: Option<Spool>,
    /// Every publishing connection is opened once connected, not on the
    /// first requests (receivers: they publish most).
    warm: bool,
    /// Where publishers hand their jobs to the group commit.
    committer: commit::Committer,
    /// Stops the background tasks (keeper, forwarders, group commit).
    stop: CancellationToken,
}

/// How a process uses the broker.
pub struct Connect<'a> {
    /// The connection's name, seen in the broker's tools.
    pub name: &'a str,
    /// The targets whose queues are declared.
    pub targets: &'a [TargetId],
    /// How many unacknowledged deliveries a consumer may hold.
    pub prefetch: u16,
    /// Whether publishing may fall back to a local spool.
    pub spool: bool,
}

/// How long a publisher confirm may take before the broker counts as lost.
pub const CONFIRM_DEADLINE: Duration = Duration::from_secs(5);

/// The AMQP queue; cheap to clone.
#[derive(Clone)]
pub struct AmqpQueue {
    inner: Arc<Inner>,
}

fn properties(message_id: &str) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_message_id(message_id.into())
}

/// A message sent, whose confirm is awaited by [`AmqpQueue::confirmed`].
struct Sent {
    confirm: PublisherConfirm,
    exchange: String,
    routing_key: String,
    generation: u64,
    /// Retired if its confirm fails.
    channel: Channel,
}

fn encode(job: &Job) -> Result<Vec<u8>, QueueError> {
    job.to_bytes()
        .map_err(|e| QueueError::Encode(e.to_string()))
}

impl AmqpQueue {
    /// Connects to the broker of `settings`, declares the topology and the
    /// targets' queues, and keeps the connection up in the background. A
    /// broker that cannot be reached is not an error (the queue is not
    /// ready until it is); one that refuses the connection is.
    pub async fn connect(
        settings: &QueueSettings,
        how: Connect<'_>,
        deduper: Deduper,
    ) -> Result<AmqpQueue, QueueError> {
        let broker = Broker::new(&settings.urls, how.name, settings.publish_connections)?;
        let spool = match how.spool && settings.spool {
            true => Some(Spool::open(&settings.path, settings.spool_max).await?),
            false => None,
        };
        let (committer, commits) = commit::Committer::new();
        let queue = AmqpQueue {
            inner: Arc::new(Inner {
                broker,
                names: Names::new(&settings.prefix, settings.queue_type),
                targets: Mutex::new(how.targets.to_vec()),
                prefetch: how.prefetch.max(1),
                consumers: Mutex::new(HashMap::new()),
                deduper,
                declared: AtomicBool::new(false),
                suspect_until: Mutex::new(None),
                spool,
                warm: how.spool,
                committer,
                stop: CancellationToken::new(),
            }),
        };
        queue.first_contact().await?;
        let stop = queue.inner.stop.clone();
        tokio::spawn(queue.clone().run_commits(commits, stop.clone()));
        tokio::spawn(queue.clone().keep(stop));
        queue.start_forwarding();
        Ok(queue)
    }

    fn host(&self) -> String {
        self.inner.broker.host()
    }

    /// The broker's node (or nodes, while none is connected) and prefix.
    pub fn describe(&self) -> String {
        let state = if self.is_ready() {
            "connected"
        } else {
            "not connected yet"
        };
        let spool = match &self.inner.spool {
            Some(_) => ", spooling when it cannot take jobs",
            None => "",
        };
        format!(
            "RabbitMQ at {} ({state}), prefix {}{spool}",
            self.host(),
            self.inner.names.prefix()
        )
    }

    fn unreachable(&self, reason: String) -> QueueError {
        QueueError::Unreachable {
            host: self.host(),
            reason,
        }
    }

    /// Sends one message on a pooled channel and gives the channel back;
    /// its confirm is awaited by the caller, with [`AmqpQueue::confirmed`].
    async fn send(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<Sent, QueueError> {
        let pooled = self.inner.broker.channel().await?;
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let confirm = pooled
            .channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                options,
                body,
                properties,
            )
            .await
            .map_err(|e| {
                broker::retire(&pooled.channel);
                self.unreachable(format!("cannot publish to {exchange}: {e}"))
            })?;
        Ok(Sent {
            confirm,
            exchange: exchange.to_string(),
            routing_key: routing_key.to_string(),
            generation: pooled.generation,
            channel: pooled.channel.clone(),
        })
    }

    /// Waits for the confirm of every message sent, within
    /// [`CONFIRM_DEADLINE`]: a nack or an unroutable return is an error; a
    /// confirm that does not come drops the connection (it is not to be
    /// trusted: a silent partition) and is an error.
    async fn confirmed(&self, sent: Vec<Sent>) -> Result<(), QueueError> {
        let deadline = Instant::now() + CONFIRM_DEADLINE;
        for Sent {
            confirm,
            exchange,
            routing_key,
            generation,
            channel,
        } in sent
        {
            let confirmation = match tokio::time::timeout_at(deadline, confirm).await {
                Ok(confirmation) => confirmation.map_err(|e| {
                    broker::retire(&channel);
                    self.unreachable(format!("no confirm: {e}"))
                })?,
                Err(_) => {
                    self.suspect(generation);
                    return Err(QueueError::NoConfirm {
                        host: self.host(),
                        within: CONFIRM_DEADLINE,
                    });
                }
            };
            if confirmation.is_nack() {
                // A channel the broker nacks on may go on nacking (its view
                // of a queue whose leader moved): the pool makes another.
                broker::retire(&channel);
                return Err(QueueError::Refused { host: self.host() });
            }
            if confirmation.take_message().is_some() {
                return Err(QueueError::Unroutable {
                    exchange,
                    routing_key,
                });
            }
        }
        Ok(())
    }

    /// Publishes with confirms; returns once every job is confirmed — or,
    /// in a receiver whose broker cannot take them, once they are stored
    /// in the spool (forwarded when it can).
    pub async fn publish(&self, jobs: &[Job]) -> Result<(), QueueError> {
        match &self.inner.spool {
            Some(spool) => spool.publish(self, jobs).await,
            None => self.publish_direct(jobs).await,
        }
    }

    /// Publishes the jobs of one delivery unless the deduper remembers it.
    pub async fn publish_once(
        &self,
        jobs: &[Job],
        key: DeliveryKey,
        window: std::time::Duration,
    ) -> Result<Published, QueueError> {
        if let Some(seen) = self.inner.deduper.claim(key).await {
            return Ok(seen);
        }
        let published = self.publish(jobs).await;
        self.inner
            .deduper
            .settle(key, published.is_ok(), window)
            .await;
        published.map(|()| Published::Stored)
    }

    /// Publishes the retries (to their delay tier) and dead letters with
    /// confirms, then acknowledges the deliveries.
    pub async fn settle(&self, settlement: Settlement) -> Result<(), QueueError> {
        let names = &self.inner.names;
        let mut sent = Vec::new();
        for (job, delay) in &settlement.retry {
            let tier = names.retry(Names::tier_for(*delay));
            let props = properties(&job.id.to_string());
            sent.push(
                self.send(&tier, job.target.as_str(), &encode(job)?, props)
                    .await?,
            );
        }
        for (job, reason) in &settlement.dead {
            let headers = letters::dead_headers(job.target.as_str(), reason, job.attempt + 1);
            let props = properties(&job.id.to_string()).with_headers(headers);
            let body = encode(job)?;
            sent.push(
                self.send(&names.dead(), job.target.as_str(), &body, props)
                    .await?,
            );
        }
        self.confirmed(sent).await?;
        acks::ack(acks::amqp_tags(settlement.ack.iter())).await;
        Ok(())
    }

    /// Gives deliveries back to the broker for redelivery.
    pub async fn release(&self, tags: &[DeliveryTag]) {
        acks::release(acks::amqp_tags(tags.iter())).await;
    }

    /// The targets whose queues are declared.
    fn targets(&self) -> Vec<TargetId> {
        self.inner
            .targets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Declares the queues of the `targets` not known yet (now if the
    /// broker is connected, else on the next connection) and forwards
    /// their spooled jobs.
    pub async fn add_targets(&self, targets: &[TargetId]) {
        let added: Vec<TargetId> = {
            let mut known = self
                .inner
                .targets
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let added: Vec<TargetId> = targets
                .iter()
                .filter(|target| !known.contains(target))
                .cloned()
                .collect();
            known.extend(added.iter().cloned());
            added
        };
        if added.is_empty() {
            return;
        }
        if let Err(error) = self.declare().await {
            // The keeper declares them with the rest on the next connection.
            tracing::warn!(%error, "cannot declare the new targets' queues yet");
            self.inner
                .declared
                .store(false, std::sync::atomic::Ordering::SeqCst);
        }
        for target in added {
            self.forward_target(target);
        }
    }

    /// Closes `target`'s consumer, if it has one: what it had not settled
    /// stays in the target's queue.
    pub async fn stop_consuming(&self, target: &TargetId) {
        let slot = self
            .inner
            .consumers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(target.as_str());
        if let Some(slot) = slot
            && let Some(consumer) = slot.lock().await.take()
        {
            let _ = consumer.channel.close(200, "target retired".into()).await;
        }
    }

    /// Closes the consumers' channels (the broker redelivers what they had
    /// not settled) and the connection.
    pub async fn close(&self) {
        self.inner.stop.cancel();
        if let Some(spool) = &self.inner.spool {
            spool.close().await;
        }
        for slot in self.drain_consumers() {
            if let Some(consumer) = slot.lock().await.take() {
                let _ = consumer.channel.close(200, "closing".into()).await;
            }
        }
        self.inner.broker.close().await;
    }

    /// Deletes every exchange and queue under the prefix (tests clean up).
    pub async fn delete_topology(&self, targets: &[TargetId]) -> Result<(), QueueError> {
        let channel = self.inner.broker.dedicated_channel().await?;
        let names = &self.inner.names;
        let mut queues: Vec<String> = targets
            .iter()
            .map(|t| names.target_queue(t.as_str()))
            .collect();
        let mut exchanges = vec![names.jobs_exchange(), names.dead(), names.unroutable()];
        queues.extend([names.dead(), names.unroutable()]);
        for tier in RETRY_TIERS {
            queues.push(names.retry(tier));
            exchanges.push(names.retry(tier));
        }
        let failed = |what: &str, e: lapin::Error| QueueError::Topology {
            host: self.host().to_string(),
            what: what.to_string(),
            reason: e.to_string(),
        };
        for queue in &queues {
            channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await
                .map_err(|e| failed(queue, e))?;
        }
        for exchange in &exchanges {
            channel
                .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                .await
                .map_err(|e| failed(exchange, e))?;
        }
        Ok(())
    }
}
