//! What the queue hands out and takes back: a [`Delivery`] and its
//! [`DeliveryTag`], the [`Settlement`] of a batch, and the dead letters —
//! [`DeadLetter`], which ones to replay ([`ReplayFilter`]) and what a replay
//! did ([`Replayed`]).

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::job::{Job, TargetId, Timestamp};

/// A job delivered to a worker, to be settled.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The job.
    pub job: Job,
    /// The backend's handle for settling it.
    pub tag: DeliveryTag,
    /// The trace the job's message came with (AMQP headers, `otel` only).
    pub trace: crate::telemetry::trace::Parent,
}

/// A backend's handle on a delivery.
#[derive(Debug, Clone)]
pub enum DeliveryTag {
    /// The embedded store's sequence number.
    Embedded(u64),
    /// The broker's acknowledgement handle.
    Amqp(super::amqp::AmqpTag),
}

/// What to do, atomically, with a batch of deliveries once the worker knows
/// their fate: the deliveries are acknowledged only together with the
/// durable publication of their retries and dead letters.
#[derive(Debug, Default)]
pub struct Settlement {
    /// Deliveries that are done with.
    pub ack: Vec<DeliveryTag>,
    /// Jobs to try again after a delay.
    pub retry: Vec<(Job, Duration)>,
    /// Jobs that failed for good, with the reason.
    pub dead: Vec<(Job, String)>,
}

/// A dead-lettered job (or a message that was not one), with why and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The letter's id: its job's id when it holds a valid job; otherwise
    /// the message id the broker copy was given when it was dead-lettered
    /// (empty for a letter stored before ids existed that has neither).
    #[serde(default)]
    pub id: String,
    /// The target (or, for an unroutable message, its routing key).
    pub target: String,
    /// The job as it last ran, when the message was a valid job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<Job>,
    /// The message body, when it was not a valid job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Why it was dead-lettered.
    pub reason: String,
    /// How many attempts were made.
    pub attempts: u32,
    /// When it was dead-lettered (unknown for a message dead-lettered
    /// without purgehook's headers).
    pub dead_at: Option<Timestamp>,
}

/// Which dead letters to replay: all, one target's, or one id (both may be set).
#[derive(Debug, Clone, Default)]
pub struct ReplayFilter {
    /// Only the letters of this target (their [`DeadLetter::target`]).
    pub target: Option<String>,
    /// Only the letter with this id (its [`DeadLetter::id`]).
    pub id: Option<String>,
    /// The targets a replayed job may go to (the configured ones); a letter
    /// whose job names another is left in place. `None`: any.
    pub configured: Option<BTreeSet<TargetId>>,
}

impl ReplayFilter {
    /// Whether `letter` is one of the letters to replay: of the target,
    /// and with the id — its own, or one its job covers (`merged_from`).
    pub(crate) fn matches(&self, letter: &DeadLetter) -> bool {
        let covers = |id: &String| {
            *id == letter.id || letter.job.as_ref().is_some_and(|job| job.answers_to(id))
        };
        self.target.as_ref().is_none_or(|t| *t == letter.target)
            && self.id.as_ref().is_none_or(covers)
    }

    /// The job to queue again for a matching `letter`: its job, attempt
    /// reset to 0, same id; `None` when it holds no valid job or its target
    /// is not configured (the letter is then left in place).
    pub(crate) fn replayable(&self, letter: &DeadLetter) -> Option<Job> {
        let job = letter.job.as_ref()?;
        if let Some(configured) = &self.configured
            && !configured.contains(&job.target)
        {
            return None;
        }
        Some(Job {
            attempt: 0,
            ..job.clone()
        })
    }
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replayed {
    /// Letters whose job was queued again (attempt reset to 0), now gone from the dead letters.
    pub replayed: Vec<DeadLetter>,
    /// Letters matching the filter that cannot be replayed, left in place:
    /// they hold no valid job (a producer's bad message), or their job's
    /// target is not configured.
    pub skipped: Vec<DeadLetter>,
}
