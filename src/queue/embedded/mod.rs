//! The embedded backend: a redb file whose commits are fsync'd before a
//! publish returns, owned by the [`store`] thread (group commit: concurrent
//! publishes share one fsync). Memory holds the index of the pending jobs
//! and a bounded number of the jobs themselves ([`resident`]); a delivery
//! stays on disk until it is settled, so a crash redelivers it.
//! A replay removes dead letters and stores their jobs again in the same
//! transaction. A store that cannot write (a full disk) refuses writes and
//! says it is not ready until a probe write succeeds; what is pending is
//! delivered meanwhile (a failed commit changed nothing in the file, which
//! is read still), and its index stays in memory.

mod clock;
#[cfg(test)]
mod faults;
mod log;
mod recovery;
mod remembered;
mod resident;
mod store;
mod tables;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use super::{
    DeadLetter, Delivery, DeliveryKey, DeliveryTag, Published, QueueError, ReplayFilter, Replayed,
    Settlement,
};
use crate::job::{Job, TargetId};
use clock::StoreClock;
#[cfg(test)]
pub(crate) use faults::{Fault, FaultSwitch};
use recovery::{Health, Opener};
use resident::State;
use store::Request;
pub use store::WriterStats;
use tables::{Stored, Writes};

/// The file inside the queue directory.
pub const FILE_NAME: &str = "queue.redb";

/// Why [`EmbeddedQueue::take_ready`] handed out no job.
enum NotReady {
    /// Nothing is ready: wait on the notify, until a job is due if one is.
    Wait(Arc<Notify>, Option<Duration>),
    /// The first ready job is on disk only: read these back.
    OnDisk(Vec<(u64, u64)>),
}

struct Inner {
    /// The store's file.
    file: std::path::PathBuf,
    /// The store thread's requests; `None` once closed.
    requests: Mutex<Option<std::sync::mpsc::Sender<Request>>>,
    /// Whether the store takes writes now.
    health: Arc<Health>,
    /// Fires when the store thread has closed the file.
    stopped: tokio::sync::Mutex<Option<oneshot::Receiver<()>>>,
    state: Mutex<State>,
    next_seq: Arc<AtomicU64>,
    stats: Arc<WriterStats>,
    clock: StoreClock,
}

/// The embedded queue; cheap to clone.
#[derive(Clone)]
pub struct EmbeddedQueue {
    inner: Arc<Inner>,
}

impl EmbeddedQueue {
    /// Opens (or creates) the store in `dir` and loads its pending jobs.
    pub async fn open(dir: &Path) -> Result<EmbeddedQueue, QueueError> {
        EmbeddedQueue::open_with(dir, recovery::create()).await
    }

    async fn open_with(dir: &Path, opener: Opener) -> Result<EmbeddedQueue, QueueError> {
        let next_seq = Arc::new(AtomicU64::new(1));
        let stats = Arc::new(WriterStats::default());
        let (store, loaded) = store::open(dir, opener, next_seq.clone(), stats.clone()).await?;
        let mut state = State::default();
        for (target, mut keys) in loaded.pending {
            keys.sort_unstable();
            state.target(&target).waiting = keys.into_iter().map(|key| (key, None)).collect();
        }
        Ok(EmbeddedQueue {
            inner: Arc::new(Inner {
                file: dir.join(FILE_NAME),
                requests: Mutex::new(Some(store.requests)),
                health: store.health,
                stopped: tokio::sync::Mutex::new(Some(store.stopped)),
                state: Mutex::new(state),
                next_seq,
                stats,
                clock: StoreClock::start(),
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn seq(&self) -> u64 {
        self.inner.next_seq.fetch_add(1, Ordering::Relaxed)
    }

    /// The store's file.
    pub fn file(&self) -> &Path {
        &self.inner.file
    }

    /// The writer's counters.
    pub fn stats(&self) -> &WriterStats {
        &self.inner.stats
    }

    fn send(&self, request: Request) -> Result<(), QueueError> {
        let requests = self
            .inner
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        requests
            .as_ref()
            .ok_or(QueueError::Closed)?
            .send(request)
            .map_err(|_| QueueError::Closed)
    }

    async fn ask<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<Result<T, QueueError>>) -> Request,
    ) -> Result<T, QueueError> {
        let (reply, answer) = oneshot::channel();
        self.send(request(reply))?;
        answer.await.map_err(|_| QueueError::Closed)?
    }

    async fn write(&self, writes: Writes) -> Result<Published, QueueError> {
        self.ask(|done| Request::Write { writes, done }).await
    }

    fn enqueue(&self, entries: Vec<(u64, u64, Job)>) {
        let mut state = self.state();
        let mut woken = Vec::new();
        for (not_before, seq, job) in entries {
            woken.extend(state.insert(not_before, seq, job));
        }
        drop(state);
        for notify in woken {
            notify.notify_one();
        }
    }

    /// Stores `jobs` durably (one fsync shared with concurrent callers).
    pub async fn publish(&self, jobs: &[Job]) -> Result<(), QueueError> {
        if jobs.is_empty() {
            return Ok(());
        }
        self.store(jobs, None).await.map(drop)
    }

    /// Stores the jobs of a delivery, and its key for `window`, in one
    /// transaction — unless the key is remembered already.
    pub async fn publish_once(
        &self,
        jobs: &[Job],
        key: DeliveryKey,
        window: Duration,
    ) -> Result<Published, QueueError> {
        let delivery = (!window.is_zero()).then_some((key, window));
        self.store(jobs, delivery).await
    }

    async fn store(
        &self,
        jobs: &[Job],
        delivery: Option<(DeliveryKey, Duration)>,
    ) -> Result<Published, QueueError> {
        let now = self.inner.clock.now_ms();
        let mut writes = Writes {
            delivery,
            ..Writes::default()
        };
        let mut entries = Vec::with_capacity(jobs.len());
        for job in jobs {
            let seq = self.seq();
            writes.put_jobs.push((seq, Stored::encode(now, job)?));
            entries.push((now, seq, job.clone()));
        }
        let published = self.write(writes).await?;
        if published == Published::Stored {
            self.enqueue(entries);
        }
        Ok(published)
    }

    /// Takes the first ready job of `target`, or says when one is due (and
    /// what to wait on for a new one), or which jobs to read back first.
    fn take_ready(&self, target: &TargetId) -> Result<Delivery, NotReady> {
        let mut state = self.state();
        let now = self.inner.clock.now_ms();
        let waiting = state.target(target);
        let notify = waiting.notify.clone();
        let first = waiting.waiting.first_key_value();
        match first.map(|(key, job)| (*key, job.is_some())) {
            Some(((not_before, seq), true)) if not_before <= now => {
                let Some(job) = state.take(target, (not_before, seq)) else {
                    return Err(NotReady::Wait(notify, None));
                };
                state.target(target).in_flight.insert(seq, not_before);
                state.owners.insert(seq, target.clone());
                Ok(Delivery {
                    job,
                    tag: DeliveryTag::Embedded(seq),
                    trace: Default::default(),
                })
            }
            Some(((not_before, _), false)) if not_before <= now => {
                Err(NotReady::OnDisk(state.on_disk(target)))
            }
            Some(((not_before, _), _)) => Err(NotReady::Wait(
                notify,
                Some(Duration::from_millis(not_before - now)),
            )),
            None => Err(NotReady::Wait(notify, None)),
        }
    }

    /// The next ready job of `target`, waiting until `deadline` at most.
    pub async fn next(&self, target: &TargetId, deadline: Option<Instant>) -> Option<Delivery> {
        loop {
            let (notify, due_in) = match self.take_ready(target) {
                Ok(delivery) => return Some(delivery),
                Err(NotReady::Wait(notify, due_in)) => (notify, due_in),
                Err(NotReady::OnDisk(keys)) => {
                    if !self.read_back(target, keys, deadline).await {
                        return None;
                    }
                    continue;
                }
            };
            let wake_at = match (due_in.map(|d| Instant::now() + d), deadline) {
                (Some(due), Some(deadline)) => Some(due.min(deadline)),
                (due, deadline) => due.or(deadline),
            };
            match wake_at {
                Some(at) => {
                    tokio::select! {
                        () = notify.notified() => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notify.notified().await,
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
        }
    }

    /// Waits until `target` has `count` jobs ready, or until `deadline`.
    pub async fn gather(&self, target: &TargetId, count: usize, deadline: Instant) {
        loop {
            let notify = {
                let mut state = self.state();
                let now = self.inner.clock.now_ms();
                let waiting = state.target(target);
                if waiting.has_ready(count, now) {
                    waiting.wanted = 1;
                    return;
                }
                waiting.wanted = count.max(1);
                waiting.notify.clone()
            };
            tokio::select! {
                () = notify.notified() => {}
                () = tokio::time::sleep_until(deadline) => {
                    self.state().target(target).wanted = 1;
                    return;
                }
            }
        }
    }

    /// Applies a settlement in one transaction.
    pub async fn settle(&self, settlement: Settlement) -> Result<(), QueueError> {
        let now = self.inner.clock.now_ms();
        let mut writes = Writes::default();
        let acked: Vec<u64> = settlement
            .ack
            .iter()
            .filter_map(|tag| match tag {
                DeliveryTag::Embedded(seq) => Some(*seq),
                DeliveryTag::Amqp(_) => None,
            })
            .collect();
        writes.delete_jobs.extend(&acked);
        let mut retried = Vec::new();
        for (job, delay) in settlement.retry {
            let seq = self.seq();
            let not_before = now + delay.as_millis() as u64;
            writes
                .put_jobs
                .push((seq, Stored::encode(not_before, &job)?));
            retried.push((not_before, seq, job));
        }
        let dead_at = crate::job::now();
        for (job, reason) in settlement.dead {
            let letter = DeadLetter {
                id: job.id.to_string(),
                target: job.target.to_string(),
                attempts: job.attempt + 1,
                job: Some(job),
                body: None,
                reason,
                dead_at: Some(dead_at),
            };
            let bytes =
                serde_json::to_vec(&letter).map_err(|e| QueueError::Encode(e.to_string()))?;
            writes.put_dead.push((self.seq(), bytes));
        }
        self.write(writes).await?;
        self.forget(&acked);
        self.enqueue(retried);
        Ok(())
    }

    /// Drops settled deliveries from memory.
    fn forget(&self, sequences: &[u64]) {
        let mut state = self.state();
        for seq in sequences {
            if let Some(owner) = state.owners.remove(seq) {
                state.target(&owner).in_flight.remove(seq);
            }
        }
    }

    /// Gives unsettled deliveries back for redelivery.
    pub fn release(&self, tags: &[DeliveryTag]) {
        let mut state = self.state();
        for tag in tags {
            let DeliveryTag::Embedded(seq) = tag else {
                continue;
            };
            let Some(owner) = state.owners.remove(seq) else {
                continue;
            };
            let target = state.target(&owner);
            if let Some(not_before) = target.in_flight.remove(seq) {
                target.waiting.insert((not_before, *seq), None);
                target.notify.notify_one();
            }
        }
    }

    /// Whether the store takes writes: its thread runs, and its last
    /// write (or probe write) succeeded.
    pub fn is_ready(&self) -> bool {
        let requests = self
            .inner
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        requests.is_some() && self.inner.health.writable()
    }

    /// Every dead letter, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, QueueError> {
        self.ask(|reply| Request::ReadDead { reply }).await
    }

    /// Stores the jobs of the matching dead letters again (attempt 0) and
    /// deletes those letters, in one transaction; then delivers the jobs.
    pub async fn replay(&self, filter: &ReplayFilter) -> Result<Replayed, QueueError> {
        let now_ms = self.inner.clock.now_ms();
        let filter = filter.clone();
        let (outcome, requeued) = self
            .ask(|reply| Request::Replay {
                filter,
                now_ms,
                reply,
            })
            .await?;
        self.enqueue(requeued);
        Ok(outcome)
    }

    /// Deletes the dead letters `filter` matches, in one transaction.
    pub async fn delete_dead(&self, filter: &ReplayFilter) -> Result<Vec<DeadLetter>, QueueError> {
        let filter = filter.clone();
        self.ask(|reply| Request::DeleteDead { filter, reply })
            .await
    }

    /// How many jobs wait or are in flight, per target (for tests and `check`).
    pub fn pending(&self, target: &str) -> usize {
        self.state()
            .targets
            .get(target)
            .map_or(0, |t| t.waiting.len() + t.in_flight.len())
    }

    /// How many jobs wait or are in flight, every target together.
    pub fn pending_total(&self) -> usize {
        self.state()
            .targets
            .values()
            .map(|t| t.waiting.len() + t.in_flight.len())
            .sum()
    }

    /// Closes the store: what was sent is written, then the file is closed
    /// (and may be opened again once this returns). Later calls fail with
    /// [`QueueError::Closed`].
    pub async fn close(&self) {
        drop(
            self.inner
                .requests
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(),
        );
        if let Some(stopped) = self.inner.stopped.lock().await.take() {
            let _ = stopped.await;
        }
    }
}

#[cfg(test)]
mod tests;
