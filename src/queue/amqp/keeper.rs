//! Keeping the broker usable: a background task that makes the connection
//! again whenever it is lost (to the next node), declares the topology on
//! it, and says whether the queue is ready. A process started while
//! RabbitMQ is down stays up, answers `/readyz` 503, and becomes ready by
//! itself.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::AmqpQueue;
use super::connect::BrokerError;
use crate::queue::QueueError;

/// How often the keeper looks at the connection.
const TICK: Duration = Duration::from_millis(250);

/// Longest pause between two connection attempts.
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// How long a missed publisher confirm keeps the queue "not ready".
pub(super) const SUSPECT_FOR: Duration = Duration::from_secs(10);

impl AmqpQueue {
    /// Connects and declares, once. A refusal (credentials, virtual host)
    /// is an error; a node that cannot be reached is not: the keeper goes
    /// on trying.
    pub(super) async fn first_contact(&self) -> Result<(), QueueError> {
        match self.inner.broker.connect().await {
            Ok(()) => {
                self.declare().await?;
                self.warm().await;
                Ok(())
            }
            Err(refused @ BrokerError::Refused { .. }) => Err(refused.into()),
            Err(error) => {
                tracing::warn!(%error, "RabbitMQ is not reachable; retrying in the background (/readyz says 503 until then)");
                Ok(())
            }
        }
    }

    /// Declares the topology and the targets' queues on the current
    /// connection.
    pub(super) async fn declare(&self) -> Result<(), QueueError> {
        let channel = self.inner.broker.channel().await?;
        let declared = self
            .inner
            .names
            .declare(&channel.channel, &self.targets())
            .await;
        drop(channel);
        declared.map_err(|e| QueueError::Topology {
            host: self.host(),
            what: "the exchanges and queues".into(),
            reason: e.to_string(),
        })?;
        self.inner.declared.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// In a receiver, opens every publishing connection now. One that
    /// cannot be opened is tried again by the channels made on it.
    async fn warm(&self) {
        if self.inner.warm
            && let Err(error) = self.inner.broker.warm().await
        {
            tracing::warn!(%error, "cannot open every publishing connection yet");
        }
    }

    /// Until `stop`: makes the connection again when it is lost and
    /// declares the topology on the new one.
    pub(super) async fn keep(self, stop: tokio_util::sync::CancellationToken) {
        let mut pause = Duration::from_millis(100);
        let mut next_try = Instant::now();
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(TICK) => {}
            }
            if self.inner.broker.is_connected() && self.inner.declared.load(Ordering::SeqCst) {
                pause = Duration::from_millis(100);
                continue;
            }
            if Instant::now() < next_try {
                continue;
            }
            let attempt = async {
                if !self.inner.broker.is_connected() {
                    self.inner.declared.store(false, Ordering::SeqCst);
                    self.inner.broker.connect().await?;
                }
                self.declare().await
            };
            match attempt.await {
                Ok(()) => {
                    tracing::info!(host = %self.host(), "RabbitMQ is ready");
                    self.warm().await;
                }
                Err(error) => {
                    tracing::warn!(%error, ?pause, "RabbitMQ is not ready; trying again");
                    next_try = Instant::now() + pause;
                    pause = (pause * 2).min(MAX_PAUSE);
                }
            }
        }
    }

    /// Whether jobs can be published now: connected, declared, and no
    /// confirm missed its deadline lately.
    pub fn is_ready(&self) -> bool {
        let suspect = self
            .inner
            .suspect_until
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        self.inner.broker.is_connected()
            && self.inner.declared.load(Ordering::SeqCst)
            && suspect.is_none_or(|until| Instant::now() >= until)
    }

    /// A confirm missed its deadline on connection `generation`: drop it,
    /// and say "not ready" for a while.
    pub(super) fn suspect(&self, generation: u64) {
        *self
            .inner
            .suspect_until
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + SUSPECT_FOR);
        self.inner.declared.store(false, Ordering::SeqCst);
        self.inner.broker.discard(generation);
    }
}
