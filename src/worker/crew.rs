//! The running target workers: one task per target, each with a stop token
//! of its own (a child of the process's), so that a reload can start,
//! replace or retire one target's worker and leave the others running —
//! their rate-limit slots, breakers and batches untouched. A replaced or
//! retired worker stops as at shutdown: the batch it is calling is
//! finished (within `stop_grace`) and settled, the one it is collecting is
//! given back to the queue; only then does its successor start, and finds
//! those jobs there.

use std::collections::BTreeMap;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::TargetWorker;
use crate::job::TargetId;
use crate::queue::Queue;

/// A target's worker as configured, with what identifies its
/// configuration: two equal fingerprints mean nothing to restart for.
pub struct Staffed {
    /// The worker.
    pub worker: TargetWorker,
    /// Its configuration, as text (no secret values).
    pub fingerprint: String,
}

/// What [`Crew::staff`] changed, by target.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Targets whose worker started.
    pub started: Vec<TargetId>,
    /// Targets whose worker is replaced (its configuration changed).
    pub replaced: Vec<TargetId>,
    /// Targets whose worker is retired (no longer configured).
    pub retired: Vec<TargetId>,
    /// Targets whose worker runs on unchanged.
    pub kept: Vec<TargetId>,
}

struct Member {
    fingerprint: String,
    retire: CancellationToken,
    task: JoinHandle<()>,
}

/// The target workers of a process.
pub struct Crew {
    queue: Queue,
    tracker: TaskTracker,
    stop: CancellationToken,
    members: BTreeMap<TargetId, Member>,
    /// The purge history every worker records its calls in.
    history: crate::history::History,
}

impl Crew {
    /// A crew of no one, whose workers run on `tracker` until `stop`.
    pub fn new(queue: Queue, tracker: TaskTracker, stop: CancellationToken) -> Crew {
        Crew {
            queue,
            tracker,
            stop,
            members: BTreeMap::new(),
            history: crate::history::History::off(),
        }
    }

    /// The crew's workers record their calls in `history`.
    pub fn with_history(self, history: crate::history::History) -> Crew {
        Crew { history, ..self }
    }

    /// The targets with a worker.
    pub fn targets(&self) -> Vec<TargetId> {
        self.members.keys().cloned().collect()
    }

    /// Makes the running workers those of `workers`: starts the new ones,
    /// replaces those whose configuration changed, retires those no longer
    /// in it and leaves the others alone.
    pub fn staff(&mut self, workers: Vec<Staffed>) -> Changes {
        let mut changes = Changes::default();
        let mut members = BTreeMap::new();
        for Staffed {
            worker,
            fingerprint,
        } in workers
        {
            let worker = TargetWorker {
                history: self.history.clone(),
                ..worker
            };
            let target = worker.target.clone();
            let previous = match self.members.remove(&target) {
                Some(member) if member.fingerprint == fingerprint => {
                    changes.kept.push(target.clone());
                    members.insert(target, member);
                    continue;
                }
                Some(member) => {
                    changes.replaced.push(target.clone());
                    member.retire.cancel();
                    Some(member.task)
                }
                None => {
                    changes.started.push(target.clone());
                    None
                }
            };
            let retire = self.stop.child_token();
            let queue = self.queue.clone();
            let token = retire.clone();
            let task = self.tracker.spawn(async move {
                if let Some(previous) = previous {
                    let _ = previous.await;
                }
                worker.run(queue, token).await;
            });
            members.insert(
                target,
                Member {
                    fingerprint,
                    retire,
                    task,
                },
            );
        }
        for (target, member) in std::mem::take(&mut self.members) {
            member.retire.cancel();
            let queue = self.queue.clone();
            changes.retired.push(target.clone());
            self.tracker.spawn(async move {
                let _ = member.task.await;
                queue.stop_consuming(&target).await;
                let left = queue.pending_jobs(target.as_str());
                if left != Some(0) {
                    let left = left.map_or_else(|| "its".to_string(), |n| n.to_string());
                    tracing::warn!(target_id = %target, "target retired with {left} jobs still queued: they wait until a target of that name is configured again");
                }
            });
        }
        self.members = members;
        changes
    }
}
