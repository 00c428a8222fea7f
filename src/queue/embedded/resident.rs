//! What the embedded queue holds in memory of its pending jobs. Every
//! pending job is in the file; memory holds the index of them all (per
//! target, by (not before, sequence)) but only a bounded number of the jobs
//! themselves: those published while there is room, and those read back
//! from the file, a batch at a time, when a worker reaches them. A job handed
//! out is held by its delivery alone; released, it is on disk only again.
//! The store thread does the reading ([`Request::ReadJobs`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::EmbeddedQueue;
use super::store::Request;
use crate::job::{Job, TargetId};
use crate::queue::QueueError;

/// How many waiting jobs a publish keeps in memory, every target together:
/// a few worker batches (`max_batch` is 1,000 at most by default) at a few
/// hundred bytes a job, about 2 MB; the rest are read back when reached.
pub(super) const MAX_RESIDENT: usize = 4096;

/// How many jobs one read back brings: enough that a worker draining a
/// backlog asks the store thread rarely, few enough that the read delays
/// the thread's next commit by a few milliseconds at most. A target reading
/// back may go past [`MAX_RESIDENT`] by this much.
pub(super) const READ_BACK: usize = 512;

/// How long a worker waits before it reads again after a failed read.
const READ_AGAIN_AFTER: Duration = Duration::from_secs(1);

/// The state of one target.
pub(super) struct TargetState {
    /// Ready and delayed jobs, by (not before, sequence): the job itself
    /// when it is in memory, `None` when it is on disk only.
    pub waiting: BTreeMap<(u64, u64), Option<Box<Job>>>,
    /// Delivered, not yet settled: sequence → not before.
    pub in_flight: HashMap<u64, u64>,
    pub notify: Arc<Notify>,
    /// How many waiting jobs make it worth waking the target's worker
    /// (more than one while it gathers a batch).
    pub wanted: usize,
}

impl Default for TargetState {
    fn default() -> Self {
        TargetState {
            waiting: BTreeMap::new(),
            in_flight: HashMap::new(),
            notify: Arc::default(),
            wanted: 1,
        }
    }
}

impl TargetState {
    /// Whether `count` jobs are ready at `now_ms` (in memory or not).
    pub fn has_ready(&self, count: usize, now_ms: u64) -> bool {
        if self.waiting.len() < count {
            return false;
        }
        // Jobs wait in the order they are due: when the last is, all are.
        let all_due = self
            .waiting
            .last_key_value()
            .is_some_and(|((due, _), _)| *due <= now_ms);
        all_due || self.waiting.range(..(now_ms + 1, 0)).take(count).count() >= count
    }
}

/// Every target's state.
#[derive(Default)]
pub(super) struct State {
    pub targets: HashMap<TargetId, TargetState>,
    /// Target of every in-flight sequence.
    pub owners: HashMap<u64, TargetId>,
    /// How many waiting jobs are in memory.
    pub resident: usize,
}

impl State {
    pub fn target(&mut self, target: &TargetId) -> &mut TargetState {
        self.targets.entry(target.clone()).or_default()
    }

    /// Adds a stored job to its target's waiting jobs, in memory while there
    /// is room; returns what wakes the target's worker when it is worth it.
    pub fn insert(&mut self, not_before: u64, seq: u64, job: Job) -> Option<Arc<Notify>> {
        let keep = self.resident < MAX_RESIDENT;
        self.resident += usize::from(keep);
        let id = job.target.clone();
        let target = self.target(&id);
        target
            .waiting
            .insert((not_before, seq), keep.then(|| Box::new(job)));
        (target.waiting.len() >= target.wanted).then(|| target.notify.clone())
    }

    /// Removes a waiting job that is in memory, as it is handed out.
    pub fn take(&mut self, target: &TargetId, key: (u64, u64)) -> Option<Job> {
        let waiting = &mut self.target(target).waiting;
        let job = waiting.get_mut(&key)?.take()?;
        waiting.remove(&key);
        self.resident -= 1;
        Some(*job)
    }

    /// The first jobs of `target` that are on disk only, in order.
    pub fn on_disk(&mut self, target: &TargetId) -> Vec<(u64, u64)> {
        (self.target(target).waiting.iter())
            .filter(|(_, job)| job.is_none())
            .map(|(key, _)| *key)
            .take(READ_BACK)
            .collect()
    }

    /// Puts the jobs read back for `keys` in memory; a key the file no
    /// longer holds (a settlement whose commit failed, yet landed) is
    /// forgotten.
    pub fn read_back(&mut self, target: &TargetId, keys: &[(u64, u64)], jobs: Vec<(u64, Job)>) {
        let mut jobs: HashMap<u64, Job> = jobs.into_iter().collect();
        let waiting = &mut self.target(target).waiting;
        let mut added = 0;
        for key in keys {
            let Some(entry) = waiting.get_mut(key).filter(|job| job.is_none()) else {
                continue;
            };
            match jobs.remove(&key.1) {
                Some(job) => {
                    *entry = Some(Box::new(job));
                    added += 1;
                }
                None => {
                    waiting.remove(key);
                    tracing::warn!(seq = key.1, %target, "a pending job is no longer in the store: it was settled");
                }
            }
        }
        self.resident += added;
    }
}

impl EmbeddedQueue {
    /// Reads the jobs at `keys` of `target` back from the file. After a
    /// failed read, waits a while (until `deadline` at most) for the next
    /// try; false when the deadline passed.
    pub(super) async fn read_back(
        &self,
        target: &TargetId,
        keys: Vec<(u64, u64)>,
        deadline: Option<Instant>,
    ) -> bool {
        let seqs = keys.iter().map(|(_, seq)| *seq).collect();
        match self.ask(|reply| Request::ReadJobs { seqs, reply }).await {
            Ok(jobs) => {
                self.state().read_back(target, &keys, jobs);
                return true;
            }
            // Closed, or the file is not open (the outage is logged once).
            Err(QueueError::Closed | QueueError::Unwritable { .. }) => {}
            Err(error) => {
                tracing::error!(%error, %target, "cannot read pending jobs back from the store; trying again");
            }
        }
        let again = Instant::now() + READ_AGAIN_AFTER;
        match deadline {
            Some(deadline) if deadline <= again => {
                tokio::time::sleep_until(deadline).await;
                false
            }
            _ => {
                tokio::time::sleep_until(again).await;
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Action;

    #[test]
    fn a_job_read_back_is_resident_and_one_the_file_no_longer_holds_is_forgotten() {
        let target = TargetId::new("a").unwrap();
        let mut state = State::default();
        let waiting = &mut state.target(&target).waiting;
        waiting.extend([((5, 1), None), ((5, 2), None), ((9, 3), None)]);
        let keys = state.on_disk(&target);
        assert_eq!(keys, vec![(5, 1), (5, 2), (9, 3)]);

        let job = Job::new(target.clone(), Action::EVERYTHING, None);
        state.read_back(&target, &keys[..2], vec![(2, job.clone())]);
        assert_eq!(state.resident, 1);
        assert_eq!(
            state.on_disk(&target),
            vec![(9, 3)],
            "1 is gone, 2 is in memory"
        );
        assert_eq!(state.take(&target, (5, 2)), Some(job));
        assert_eq!(state.resident, 0);
    }
}
