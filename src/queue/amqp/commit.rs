//! Group commit on RabbitMQ. Every publish of the process goes through one
//! task: while a round of messages waits for its confirms, the jobs that
//! requests publish meanwhile wait too, and go out together as the next
//! round — one message per target, a JSON array when it carries several
//! jobs ([`super::message`]). Each request is answered once every message
//! carrying its jobs is confirmed, so a 202 still means its jobs are in the
//! broker. The broker's cost is mostly per message and per round trip:
//! under load one message carries many requests' jobs, and an idle process
//! sends a request's jobs at once. One round at a time gave the broker the
//! least CPU per job and the requests the lowest p99 (against two and four
//! in flight, BENCHMARKS.md).

use lapin::types::FieldTable;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{AmqpQueue, Sent, message, properties, trace_headers};
use crate::job::{Job, TargetId};
use crate::queue::QueueError;

/// Most jobs gathered into one round (a request's jobs are never split
/// across rounds).
const MAX_ROUND_JOBS: usize = 1024;

/// Most jobs in one message (a request with more, a replay of many dead
/// letters, takes several). A worker's prefetch counts messages (twice
/// `max_batch`), so this bounds the jobs it holds: at 32 connections a
/// message carries ~15 jobs, and the broker's cost per job is already a
/// small share of one job a message.
const MAX_MESSAGE_JOBS: usize = 32;

/// Most requests waiting for the task before publishers wait to hand theirs.
const BACKLOG: usize = 4096;

/// One job, encoded by the request that publishes it.
struct Encoded {
    target: TargetId,
    id: String,
    bytes: Vec<u8>,
}

/// The jobs of one publish, and where its outcome goes.
pub(super) struct Request {
    jobs: Vec<Encoded>,
    /// The publishing span's trace headers, if any.
    trace: Option<FieldTable>,
    answer: oneshot::Sender<Result<(), QueueError>>,
}

/// The handle publishers hand their jobs to.
pub(super) struct Committer {
    requests: mpsc::Sender<Request>,
}

/// One message of a round: a target's jobs, as (request, job) positions.
struct Message {
    target: TargetId,
    jobs: Vec<(usize, usize)>,
}

impl Committer {
    /// The handle, and the receiving end for `run_commits`.
    pub(super) fn new() -> (Committer, mpsc::Receiver<Request>) {
        let (requests, received) = mpsc::channel(BACKLOG);
        (Committer { requests }, received)
    }
}

impl AmqpQueue {
    /// Publishes `jobs` through the group commit; returns once every one
    /// is confirmed.
    pub(super) async fn publish_direct(&self, jobs: &[Job]) -> Result<(), QueueError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let jobs = jobs
            .iter()
            .map(|job| {
                Ok(Encoded {
                    target: job.target.clone(),
                    id: job.id.to_string(),
                    bytes: super::encode(job)?,
                })
            })
            .collect::<Result<Vec<_>, QueueError>>()?;
        let trace = trace_headers::current();
        let (answer, answered) = oneshot::channel();
        let request = Request {
            jobs,
            trace,
            answer,
        };
        if self.inner.committer.requests.send(request).await.is_err() {
            return Err(self.closing());
        }
        answered.await.unwrap_or_else(|_| Err(self.closing()))
    }

    fn closing(&self) -> QueueError {
        self.unreachable("the queue is closing".into())
    }

    /// The group commit's task, until `stop`: gathers a round of what
    /// waits, sends its messages, and answers its requests once their
    /// confirms are in.
    pub(super) async fn run_commits(
        self,
        mut requests: mpsc::Receiver<Request>,
        stop: CancellationToken,
    ) {
        loop {
            let first = tokio::select! {
                () = stop.cancelled() => return,
                first = requests.recv() => match first {
                    Some(first) => first,
                    None => return,
                },
            };
            let round = gather(first, &mut requests);
            let messages = messages_of(&round);
            let mut sent = Vec::with_capacity(messages.len());
            for message in &messages {
                sent.push(self.send_message(&round, message).await);
            }
            self.answer(round, messages, sent).await;
        }
    }

    /// Sends one message of `round`.
    async fn send_message(&self, round: &[Request], message: &Message) -> Result<Sent, QueueError> {
        let jobs = message
            .jobs
            .iter()
            .map(|&(r, j)| round[r].jobs[j].bytes.as_slice());
        let body = message::body(jobs);
        // Named by its first job, traced under its first request.
        let (r, j) = message.jobs[0];
        let mut props = properties(&round[r].jobs[j].id);
        if let Some(trace) = &round[r].trace {
            props = props.with_headers(trace.clone());
        }
        let exchange = self.inner.names.jobs_exchange();
        self.send(&exchange, message.target.as_str(), &body, props)
            .await
    }

    /// Waits for each message's confirm, then answers each request with
    /// the first failure among its messages, if any.
    async fn answer(
        &self,
        round: Vec<Request>,
        messages: Vec<Message>,
        sent: Vec<Result<Sent, QueueError>>,
    ) {
        let mut outcomes: Vec<Result<(), QueueError>> = round.iter().map(|_| Ok(())).collect();
        for (message, sent) in messages.iter().zip(sent) {
            let outcome = match sent {
                Ok(sent) => self.confirmed(vec![sent]).await,
                Err(error) => Err(error),
            };
            let Err(error) = outcome else { continue };
            for &(r, _) in &message.jobs {
                if outcomes[r].is_ok() {
                    outcomes[r] = Err(error.clone());
                }
            }
        }
        for (request, outcome) in round.into_iter().zip(outcomes) {
            // A request whose client left is not waiting any more.
            let _ = request.answer.send(outcome);
        }
    }
}

/// `first` and the requests waiting behind it, up to a round's jobs.
fn gather(first: Request, requests: &mut mpsc::Receiver<Request>) -> Vec<Request> {
    let mut jobs = first.jobs.len();
    let mut round = vec![first];
    while jobs < MAX_ROUND_JOBS {
        let Ok(request) = requests.try_recv() else {
            break;
        };
        jobs += request.jobs.len();
        round.push(request);
    }
    round
}

/// The round's messages: one per target (more past [`MAX_MESSAGE_JOBS`]),
/// the jobs in the order they came.
fn messages_of(round: &[Request]) -> Vec<Message> {
    let mut messages: Vec<Message> = Vec::new();
    for (r, request) in round.iter().enumerate() {
        for (j, job) in request.jobs.iter().enumerate() {
            let open = messages
                .iter_mut()
                .rev()
                .find(|m| m.target == job.target)
                .filter(|m| m.jobs.len() < MAX_MESSAGE_JOBS);
            match open {
                Some(message) => message.jobs.push((r, j)),
                None => messages.push(Message {
                    target: job.target.clone(),
                    jobs: vec![(r, j)],
                }),
            }
        }
    }
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(targets: &[&str]) -> Request {
        let jobs = targets
            .iter()
            .enumerate()
            .map(|(i, target)| Encoded {
                target: TargetId::new(target).unwrap(),
                id: i.to_string(),
                bytes: Vec::new(),
            })
            .collect();
        Request {
            jobs,
            trace: None,
            answer: oneshot::channel().0,
        }
    }

    #[test]
    fn a_round_has_one_message_per_target_its_jobs_in_the_order_they_came() {
        let round = [
            request(&["blog", "shop"]),
            request(&["shop"]),
            request(&["blog"]),
        ];
        let messages = messages_of(&round);
        let seen: Vec<(&str, Vec<(usize, usize)>)> = messages
            .iter()
            .map(|m| (m.target.as_str(), m.jobs.clone()))
            .collect();
        assert_eq!(
            seen,
            [
                ("blog", vec![(0, 0), (2, 0)]),
                ("shop", vec![(0, 1), (1, 0)])
            ]
        );
    }

    #[test]
    fn a_message_holds_at_most_its_share_of_jobs_the_rest_follow_in_order() {
        let round = [
            request(&vec!["blog"; MAX_MESSAGE_JOBS + 1]),
            request(&["blog"]),
        ];
        let messages = messages_of(&round);
        let sizes: Vec<usize> = messages.iter().map(|m| m.jobs.len()).collect();
        assert_eq!(sizes, [MAX_MESSAGE_JOBS, 2]);
        assert_eq!(messages[1].jobs, [(0, MAX_MESSAGE_JOBS), (1, 0)]);
    }

    #[test]
    fn a_round_gathers_what_waits_up_to_its_size_and_never_splits_a_request() {
        let (send, mut waiting) = mpsc::channel(BACKLOG);
        let big = vec!["blog"; MAX_ROUND_JOBS - 1];
        send.try_send(request(&["blog", "blog"])).unwrap();
        send.try_send(request(&["blog"])).unwrap();
        let round = gather(request(&big), &mut waiting);
        let sizes: Vec<usize> = round.iter().map(|r| r.jobs.len()).collect();
        assert_eq!(
            sizes,
            [MAX_ROUND_JOBS - 1, 2],
            "the round is full: the third waits"
        );
        let next = gather(waiting.try_recv().unwrap(), &mut waiting);
        assert_eq!(next.len(), 1);
    }
}
