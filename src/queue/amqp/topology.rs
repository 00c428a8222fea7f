//! The RabbitMQ topology of DESIGN.md, under a prefix, and its idempotent
//! declaration:
//!
//! | name | what |
//! |---|---|
//! | `<prefix>.jobs` | direct exchange; routing key = target; unroutable messages go to `<prefix>.unroutable` |
//! | `<prefix>.jobs.<target>` | one queue per target (quorum by default), `x-single-active-consumer` |
//! | `<prefix>.retry.<delay>` | fanout exchange + queue per delay tier, `x-message-ttl`, dead-lettering back to `<prefix>.jobs` with the target as routing key |
//! | `<prefix>.dead` | fanout exchange + queue: failed jobs, reason and attempts in headers |
//! | `<prefix>.unroutable` | fanout exchange + queue: messages whose routing key names no target, dead-lettered by the workers |

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

use crate::config::AmqpQueueType;
use crate::job::TargetId;

/// The delays retries wait, as queue TTLs. A retry waits the smallest tier at
/// least as long as its backoff asked (the largest when none is).
pub const RETRY_TIERS: [Duration; 7] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
    Duration::from_secs(1800),
    Duration::from_secs(3600),
];

/// Returns a quorum queue message survives (RabbitMQ ≥ 4 defaults to 20;
/// -1, "unlimited" there, drops at the first return on 3.x).
pub const DELIVERY_LIMIT: i64 = 1_000_000;

/// Header carrying why a message was dead-lettered.
pub const REASON_HEADER: &str = "x-purgehook-reason";
/// Header carrying how many attempts were made.
pub const ATTEMPTS_HEADER: &str = "x-purgehook-attempts";
/// Header carrying the target (or routing key) of a dead letter.
pub const TARGET_HEADER: &str = "x-purgehook-target";
/// Header carrying when it was dead-lettered (RFC 3339).
pub const DEAD_AT_HEADER: &str = "x-purgehook-dead-at";

/// The names of everything under one prefix.
#[derive(Debug, Clone)]
pub struct Names {
    prefix: String,
    queue_type: AmqpQueueType,
}

impl Names {
    /// Names under `prefix`.
    pub fn new(prefix: &str, queue_type: AmqpQueueType) -> Self {
        Self {
            prefix: prefix.to_string(),
            queue_type,
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The jobs exchange.
    pub fn jobs_exchange(&self) -> String {
        format!("{}.jobs", self.prefix)
    }

    /// A target's queue.
    pub fn target_queue(&self, target: &str) -> String {
        format!("{}.jobs.{target}", self.prefix)
    }

    /// A retry tier's exchange and queue.
    pub fn retry(&self, tier: Duration) -> String {
        format!("{}.retry.{}", self.prefix, humantime::format_duration(tier))
    }

    /// The dead-letter exchange and queue.
    pub fn dead(&self) -> String {
        format!("{}.dead", self.prefix)
    }

    /// The exchange and queue of unroutable messages.
    pub fn unroutable(&self) -> String {
        format!("{}.unroutable", self.prefix)
    }

    /// The tier a retry after `delay` waits in.
    pub fn tier_for(delay: Duration) -> Duration {
        RETRY_TIERS
            .iter()
            .copied()
            .find(|tier| *tier >= delay)
            .unwrap_or(RETRY_TIERS[RETRY_TIERS.len() - 1])
    }

    fn queue_arguments(&self) -> FieldTable {
        let mut args = FieldTable::default();
        if self.queue_type == AmqpQueueType::Quorum {
            args.insert("x-queue-type".into(), long_string("quorum"));
            // RabbitMQ 4 drops a quorum queue's message after 20 returns by
            // default; ours are returned by design (a stopping worker hands
            // its batch back, `dlq list` reads and gives back), never lost.
            args.insert(
                "x-delivery-limit".into(),
                AMQPValue::LongLongInt(DELIVERY_LIMIT),
            );
        }
        args
    }

    /// Declares everything shared and the queues of `targets`. Idempotent.
    pub async fn declare(&self, channel: &Channel, targets: &[TargetId]) -> lapin::Result<()> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        for fanout in [self.unroutable(), self.dead()] {
            channel
                .exchange_declare(
                    fanout.as_str().into(),
                    ExchangeKind::Fanout,
                    durable,
                    FieldTable::default(),
                )
                .await?;
            self.declare_bound_queue(channel, &fanout, &fanout, "", self.queue_arguments())
                .await?;
        }
        let mut jobs_args = FieldTable::default();
        jobs_args.insert("alternate-exchange".into(), long_string(&self.unroutable()));
        channel
            .exchange_declare(
                self.jobs_exchange().as_str().into(),
                ExchangeKind::Direct,
                durable,
                jobs_args,
            )
            .await?;
        for tier in RETRY_TIERS {
            let name = self.retry(tier);
            channel
                .exchange_declare(
                    name.as_str().into(),
                    ExchangeKind::Fanout,
                    durable,
                    FieldTable::default(),
                )
                .await?;
            let mut args = self.queue_arguments();
            args.insert(
                "x-message-ttl".into(),
                AMQPValue::LongLongInt(tier.as_millis() as i64),
            );
            args.insert(
                "x-dead-letter-exchange".into(),
                long_string(&self.jobs_exchange()),
            );
            if self.queue_type == AmqpQueueType::Quorum {
                args.insert(
                    "x-dead-letter-strategy".into(),
                    long_string("at-least-once"),
                );
                args.insert("x-overflow".into(), long_string("reject-publish"));
            }
            self.declare_bound_queue(channel, &name, &name, "", args)
                .await?;
        }
        for target in targets {
            self.declare_target(channel, target.as_str()).await?;
        }
        Ok(())
    }

    /// Declares one target's queue, bound to the jobs exchange. Idempotent.
    pub async fn declare_target(&self, channel: &Channel, target: &str) -> lapin::Result<()> {
        let mut args = self.queue_arguments();
        args.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
        self.declare_bound_queue(
            channel,
            &self.target_queue(target),
            &self.jobs_exchange(),
            target,
            args,
        )
        .await
    }

    async fn declare_bound_queue(
        &self,
        channel: &Channel,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> lapin::Result<()> {
        channel
            .queue_declare(queue.into(), QueueDeclareOptions::durable(), arguments)
            .await?;
        channel
            .queue_bind(
                queue.into(),
                exchange.into(),
                routing_key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
    }
}

fn long_string(text: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(text.to_string()))
}

/// A header's string value.
pub fn header_string(table: &FieldTable, name: &str) -> Option<String> {
    let key: ShortString = name.into();
    match table.inner().get(&key)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

/// A header's integer value.
pub fn header_u32(table: &FieldTable, name: &str) -> Option<u32> {
    let key: ShortString = name.into();
    match table.inner().get(&key)? {
        AMQPValue::LongUInt(n) => Some(*n),
        AMQPValue::LongInt(n) => u32::try_from(*n).ok(),
        AMQPValue::LongLongInt(n) => u32::try_from(*n).ok(),
        AMQPValue::ShortUInt(n) => Some(u32::from(*n)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_the_smallest_tier_that_covers_their_delay() {
        assert_eq!(
            Names::tier_for(Duration::from_millis(10)),
            Duration::from_secs(1)
        );
        assert_eq!(
            Names::tier_for(Duration::from_secs(1)),
            Duration::from_secs(1)
        );
        assert_eq!(
            Names::tier_for(Duration::from_secs(6)),
            Duration::from_secs(30)
        );
        assert_eq!(
            Names::tier_for(Duration::from_secs(90_000)),
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn names_follow_the_design() {
        let names = Names::new("purgehook", AmqpQueueType::Quorum);
        assert_eq!(names.jobs_exchange(), "purgehook.jobs");
        assert_eq!(names.target_queue("blog"), "purgehook.jobs.blog");
        assert_eq!(names.retry(Duration::from_secs(30)), "purgehook.retry.30s");
        assert_eq!(names.retry(Duration::from_secs(120)), "purgehook.retry.2m");
        assert_eq!(names.dead(), "purgehook.dead");
    }
}
