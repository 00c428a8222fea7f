//! The embedded backend: a redb file whose commits are fsync'd before a
//! publish returns. One writer thread applies every pending operation in a
//! single transaction (group commit), so concurrent publishes share one
//! fsync. Ready jobs are mirrored in memory per target; a delivery stays on
//! disk until it is settled, so a crash redelivers it. A replay removes dead
//! letters and stores their jobs again in the same transaction.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;

use super::{DeadLetter, Delivery, DeliveryTag, QueueError, ReplayFilter, Replayed, Settlement};
use crate::job::Job;

const JOBS: TableDefinition<u64, &[u8]> = TableDefinition::new("jobs");
const DEAD: TableDefinition<u64, &[u8]> = TableDefinition::new("dead");

/// The file inside the queue directory.
pub const FILE_NAME: &str = "queue.redb";

/// How many operations one commit takes at most.
const MAX_GROUP: usize = 512;

/// A job as stored, with the time before which it is not delivered.
#[derive(Serialize, Deserialize)]
struct Stored {
    not_before_ms: u64,
    job: Job,
}

impl Stored {
    fn encode(not_before_ms: u64, job: &Job) -> Result<Vec<u8>, QueueError> {
        let stored = Stored {
            not_before_ms,
            job: job.clone(),
        };
        serde_json::to_vec(&stored).map_err(unavailable)
    }
}

/// One group of writes, applied in a single transaction.
#[derive(Default)]
struct Writes {
    put_jobs: Vec<(u64, Vec<u8>)>,
    delete_jobs: Vec<u64>,
    put_dead: Vec<(u64, Vec<u8>)>,
    delete_dead: Vec<u64>,
}

struct WriteRequest {
    writes: Writes,
    done: oneshot::Sender<Result<(), String>>,
}

#[derive(Default)]
struct TargetState {
    /// Ready and delayed jobs, by (not before, sequence).
    waiting: BTreeMap<(u64, u64), Job>,
    /// Delivered, not yet settled: sequence → (not before, job).
    in_flight: HashMap<u64, (u64, Job)>,
    notify: Arc<Notify>,
}

#[derive(Default)]
struct State {
    targets: HashMap<String, TargetState>,
    /// Target of every in-flight sequence.
    owners: HashMap<u64, String>,
}

/// Counters of the writer, for benchmarks and tests.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Write requests served.
    pub requests: AtomicU64,
}

struct Inner {
    db: Arc<Database>,
    writer: mpsc::UnboundedSender<WriteRequest>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    state: Mutex<State>,
    next_seq: AtomicU64,
    stats: Arc<WriterStats>,
    /// Held by a replay from reading the dead letters to committing, so two
    /// replays never queue the same letter twice.
    replaying: tokio::sync::Mutex<()>,
    clock: StoreClock,
}

/// The embedded queue; cheap to clone.
#[derive(Clone)]
pub struct EmbeddedQueue {
    inner: Arc<Inner>,
}

/// The store's clock: wall-clock milliseconds as of opening, advanced by
/// tokio's monotonic clock since. Delays stored on disk stay wall-clock
/// across restarts, and tests can drive them with paused time.
struct StoreClock {
    opened_ms: u64,
    opened: Instant,
}

impl StoreClock {
    fn start() -> StoreClock {
        StoreClock {
            opened_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64,
            opened: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.opened_ms + self.opened.elapsed().as_millis() as u64
    }
}

fn unavailable(error: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(error.to_string())
}

impl EmbeddedQueue {
    /// Opens (or creates) the store in `dir` and loads its pending jobs.
    pub fn open(dir: &Path) -> Result<EmbeddedQueue, QueueError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| unavailable(format!("cannot create {}: {e}", dir.display())))?;
        let file = dir.join(FILE_NAME);
        let db = Database::create(&file).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => {
                QueueError::InUse(file.display().to_string())
            }
            e => unavailable(format!("cannot open {}: {e}", file.display())),
        })?;
        let txn = db.begin_write().map_err(unavailable)?;
        txn.open_table(JOBS).map_err(unavailable)?;
        txn.open_table(DEAD).map_err(unavailable)?;
        txn.commit().map_err(unavailable)?;

        let mut state = State::default();
        let mut max_seq = 0;
        let read = db.begin_read().map_err(unavailable)?;
        for entry in read
            .open_table(JOBS)
            .map_err(unavailable)?
            .iter()
            .map_err(unavailable)?
        {
            let (key, value) = entry.map_err(unavailable)?;
            let seq = key.value();
            max_seq = max_seq.max(seq);
            let stored: Stored = serde_json::from_slice(value.value()).map_err(unavailable)?;
            state
                .targets
                .entry(stored.job.target.clone())
                .or_default()
                .waiting
                .insert((stored.not_before_ms, seq), stored.job);
        }
        if let Some(last) = read
            .open_table(DEAD)
            .map_err(unavailable)?
            .last()
            .map_err(unavailable)?
        {
            max_seq = max_seq.max(last.0.value());
        }
        drop(read);

        let db = Arc::new(db);
        let stats = Arc::new(WriterStats::default());
        let (writer, requests) = mpsc::unbounded_channel();
        let (writer_db, writer_stats) = (db.clone(), stats.clone());
        let writer_thread = std::thread::Builder::new()
            .name("purgehook-store".into())
            .spawn(move || write_loop(&writer_db, requests, &writer_stats))
            .map_err(unavailable)?;
        Ok(EmbeddedQueue {
            inner: Arc::new(Inner {
                db,
                writer,
                writer_thread: Mutex::new(Some(writer_thread)),
                state: Mutex::new(state),
                next_seq: AtomicU64::new(max_seq + 1),
                stats,
                replaying: tokio::sync::Mutex::new(()),
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

    /// The writer's counters.
    pub fn stats(&self) -> &WriterStats {
        &self.inner.stats
    }

    async fn write(&self, writes: Writes) -> Result<(), QueueError> {
        let (done, result) = oneshot::channel();
        self.inner
            .writer
            .send(WriteRequest { writes, done })
            .map_err(|_| unavailable("the store's writer has stopped"))?;
        result
            .await
            .map_err(|_| unavailable("the store's writer has stopped"))?
            .map_err(unavailable)
    }

    fn enqueue(&self, entries: Vec<(u64, u64, Job)>) {
        let mut state = self.state();
        let mut woken = Vec::new();
        for (not_before, seq, job) in entries {
            let target = state.targets.entry(job.target.clone()).or_default();
            woken.push(target.notify.clone());
            target.waiting.insert((not_before, seq), job);
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
        self.store_ready(jobs.to_vec(), Writes::default()).await
    }

    /// Stores `jobs`, ready now, in the transaction of `writes`; then
    /// delivers them.
    async fn store_ready(&self, jobs: Vec<Job>, mut writes: Writes) -> Result<(), QueueError> {
        let now = self.inner.clock.now_ms();
        let mut entries = Vec::with_capacity(jobs.len());
        for job in jobs {
            let seq = self.seq();
            writes.put_jobs.push((seq, Stored::encode(now, &job)?));
            entries.push((now, seq, job));
        }
        self.write(writes).await?;
        self.enqueue(entries);
        Ok(())
    }

    /// The next ready job of `target`, waiting until `deadline` at most.
    pub async fn next(&self, target: &str, deadline: Option<Instant>) -> Option<Delivery> {
        loop {
            let (notify, due_in) = {
                let mut state = self.state();
                let now = self.inner.clock.now_ms();
                let target_state = state.targets.entry(target.to_string()).or_default();
                let first = target_state.waiting.first_key_value().map(|(k, _)| *k);
                match first {
                    Some((not_before, seq)) if not_before <= now => {
                        let job = target_state.waiting.remove(&(not_before, seq))?;
                        target_state
                            .in_flight
                            .insert(seq, (not_before, job.clone()));
                        state.owners.insert(seq, target.to_string());
                        return Some(Delivery {
                            job,
                            tag: DeliveryTag::Embedded(seq),
                        });
                    }
                    Some((not_before, _)) => (
                        target_state.notify.clone(),
                        Some(Duration::from_millis(not_before - now)),
                    ),
                    None => (target_state.notify.clone(), None),
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

    /// Applies a settlement in one transaction.
    pub async fn settle(&self, settlement: Settlement) -> Result<(), QueueError> {
        let now = self.inner.clock.now_ms();
        let mut writes = Writes::default();
        for tag in &settlement.ack {
            if let DeliveryTag::Embedded(seq) = tag {
                writes.delete_jobs.push(*seq);
            }
        }
        let mut retried = Vec::new();
        for (job, delay) in settlement.retry {
            let seq = self.seq();
            let not_before = now + delay.as_millis() as u64;
            writes
                .put_jobs
                .push((seq, Stored::encode(not_before, &job)?));
            retried.push((not_before, seq, job));
        }
        let dead_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        for (job, reason) in settlement.dead {
            let letter = DeadLetter {
                id: job.id.to_string(),
                target: job.target.clone(),
                attempts: job.attempt + 1,
                job: Some(job),
                body: None,
                reason,
                dead_at: dead_at.clone(),
            };
            writes.put_dead.push((
                self.seq(),
                serde_json::to_vec(&letter).map_err(unavailable)?,
            ));
        }
        self.write(writes).await?;
        {
            let mut state = self.state();
            for tag in &settlement.ack {
                let DeliveryTag::Embedded(seq) = tag else {
                    continue;
                };
                if let Some(owner) = state.owners.remove(seq)
                    && let Some(target) = state.targets.get_mut(&owner)
                {
                    target.in_flight.remove(seq);
                }
            }
        }
        self.enqueue(retried);
        Ok(())
    }

    /// Gives unsettled deliveries back for redelivery.
    pub fn release(&self, tags: &[DeliveryTag]) {
        let mut state = self.state();
        for tag in tags {
            let DeliveryTag::Embedded(seq) = tag else {
                continue;
            };
            if let Some(owner) = state.owners.remove(seq)
                && let Some(target) = state.targets.get_mut(&owner)
                && let Some((not_before, job)) = target.in_flight.remove(seq)
            {
                target.waiting.insert((not_before, *seq), job);
                target.notify.notify_one();
            }
        }
    }

    /// Whether the writer is running.
    pub fn is_ready(&self) -> bool {
        !self.inner.writer.is_closed()
    }

    /// Every dead letter, oldest first.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, QueueError> {
        Ok(self
            .stored_dead()?
            .into_iter()
            .map(|(_, letter)| letter)
            .collect())
    }

    /// Every dead letter with its key, oldest first; a letter stored without
    /// an id gets its job's.
    fn stored_dead(&self) -> Result<Vec<(u64, DeadLetter)>, QueueError> {
        let read = self.inner.db.begin_read().map_err(unavailable)?;
        let table = read.open_table(DEAD).map_err(unavailable)?;
        let mut letters = Vec::new();
        for entry in table.iter().map_err(unavailable)? {
            let (key, value) = entry.map_err(unavailable)?;
            let mut letter: DeadLetter =
                serde_json::from_slice(value.value()).map_err(unavailable)?;
            if letter.id.is_empty()
                && let Some(job) = &letter.job
            {
                letter.id = job.id.to_string();
            }
            letters.push((key.value(), letter));
        }
        Ok(letters)
    }

    /// Stores the jobs of the matching dead letters again (attempt 0) and
    /// deletes those letters, in one transaction; then delivers the jobs.
    pub async fn replay(&self, filter: &ReplayFilter) -> Result<Replayed, QueueError> {
        let _one_at_a_time = self.inner.replaying.lock().await;
        let mut outcome = Replayed::default();
        let mut writes = Writes::default();
        let mut jobs = Vec::new();
        for (key, letter) in self.stored_dead()? {
            if !filter.matches(&letter) {
                continue;
            }
            let Some(job) = filter.replayable(&letter) else {
                outcome.skipped.push(letter);
                continue;
            };
            writes.delete_dead.push(key);
            jobs.push(job);
            outcome.replayed.push(letter);
        }
        if !jobs.is_empty() {
            self.store_ready(jobs, writes).await?;
        }
        Ok(outcome)
    }

    /// How many jobs wait or are in flight, per target (for tests and `check`).
    pub fn pending(&self, target: &str) -> usize {
        self.state()
            .targets
            .get(target)
            .map_or(0, |t| t.waiting.len() + t.in_flight.len())
    }
}

impl Drop for Inner {
    /// Stops the writer after the requests already sent, and waits for it, so
    /// the file is closed (and may be reopened) when the last handle is gone.
    fn drop(&mut self) {
        // Swapping in the sender of an unused channel drops ours: the writer
        // drains what was sent, sees its channel closed, and ends.
        let (closed, _) = mpsc::unbounded_channel();
        drop(std::mem::replace(&mut self.writer, closed));
        let thread = self
            .writer_thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// The writer thread: takes every request waiting, commits them together,
/// answers each. Ends when every sender is gone.
fn write_loop(
    db: &Database,
    mut requests: mpsc::UnboundedReceiver<WriteRequest>,
    stats: &WriterStats,
) {
    while let Some(first) = requests.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match requests.try_recv() {
                Ok(request) => group.push(request),
                Err(_) => break,
            }
        }
        let result = commit(db, &group);
        stats.commits.fetch_add(1, Ordering::Relaxed);
        stats
            .requests
            .fetch_add(group.len() as u64, Ordering::Relaxed);
        if let Err(error) = &result {
            tracing::error!(%error, "embedded store commit failed");
        }
        for request in group {
            let _ = request.done.send(result.clone());
        }
    }
}

fn commit(db: &Database, group: &[WriteRequest]) -> Result<(), String> {
    let txn = db.begin_write().map_err(store_error)?;
    {
        let mut jobs = txn.open_table(JOBS).map_err(store_error)?;
        let mut dead = txn.open_table(DEAD).map_err(store_error)?;
        for request in group {
            for (seq, bytes) in &request.writes.put_jobs {
                jobs.insert(*seq, bytes.as_slice()).map_err(store_error)?;
            }
            for seq in &request.writes.delete_jobs {
                jobs.remove(*seq).map_err(store_error)?;
            }
            for (seq, bytes) in &request.writes.put_dead {
                dead.insert(*seq, bytes.as_slice()).map_err(store_error)?;
            }
            for seq in &request.writes.delete_dead {
                dead.remove(*seq).map_err(store_error)?;
            }
        }
    }
    txn.commit().map_err(store_error)?;
    Ok(())
}

fn store_error(error: impl Into<redb::Error>) -> String {
    error.into().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Action;

    #[tokio::test]
    async fn a_letter_stored_without_an_id_is_named_and_replayed_by_its_jobs_id() {
        let dir = tempfile::tempdir().unwrap();
        let queue = EmbeddedQueue::open(dir.path()).unwrap();
        let job = Job::new("a", Action::EVERYTHING, None);
        let legacy = serde_json::json!({"target": "a", "job": job, "reason": "gave up",
            "attempts": 3, "dead_at": "2026-11-23T20:31:00Z"});
        let writes = Writes {
            put_dead: vec![(queue.seq(), serde_json::to_vec(&legacy).unwrap())],
            ..Writes::default()
        };
        queue.write(writes).await.unwrap();

        let letters = queue.dead_letters().unwrap();
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].id, job.id.to_string());
        let filter = ReplayFilter {
            id: Some(job.id.to_string()),
            ..ReplayFilter::default()
        };
        assert_eq!(queue.replay(&filter).await.unwrap().replayed.len(), 1);
        assert!(queue.dead_letters().unwrap().is_empty());
        assert_eq!(queue.next("a", None).await.unwrap().job, job);
    }
}
