//! The embedded store's file, owned by one thread: it opens the redb file
//! and loads what is pending, then serves requests in order — every write
//! waiting at a moment is committed in one transaction (group commit, one
//! fsync), reads of the dead letters, and replays, whose reading of the
//! letters and storing of their jobs is one transaction. No redb work runs
//! on the async runtime.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::job::Job;
use crate::queue::{DeadLetter, DeliveryKey, Published, QueueError, ReplayFilter, Replayed};

const JOBS: TableDefinition<u64, &[u8]> = TableDefinition::new("jobs");
const DEAD: TableDefinition<u64, &[u8]> = TableDefinition::new("dead");
/// Delivery keys remembered, and until when (ms).
const DEDUPE: TableDefinition<&[u8], u64> = TableDefinition::new("dedupe");
/// The same keys by expiry, to forget them in order.
const DEDUPE_EXPIRY: TableDefinition<(u64, &[u8]), ()> = TableDefinition::new("dedupe_expiry");

/// How many expired delivery keys one commit forgets at most.
const FORGET_PER_COMMIT: usize = 256;

/// How many writes one commit takes at most.
const MAX_GROUP: usize = 512;

/// A job as stored, with the time before which it is not delivered.
#[derive(Serialize, Deserialize)]
pub(super) struct Stored {
    pub not_before_ms: u64,
    pub job: Job,
}

impl Stored {
    pub fn encode(not_before_ms: u64, job: &Job) -> Result<Vec<u8>, QueueError> {
        let stored = Stored {
            not_before_ms,
            job: job.clone(),
        };
        serde_json::to_vec(&stored).map_err(|e| QueueError::Encode(e.to_string()))
    }
}

/// One group of writes, applied in a single transaction.
#[derive(Default)]
pub(super) struct Writes {
    pub put_jobs: Vec<(u64, Vec<u8>)>,
    pub delete_jobs: Vec<u64>,
    pub put_dead: Vec<(u64, Vec<u8>)>,
    pub delete_dead: Vec<u64>,
    /// A delivery these writes store, remembered for the window: when it
    /// is remembered already, nothing is written.
    pub delivery: Option<(DeliveryKey, std::time::Duration)>,
}

/// A replay's jobs, stored: (not before, sequence, job) each.
pub(super) type Requeued = Vec<(u64, u64, Job)>;

/// What the thread is asked to do.
pub(super) enum Request {
    Write {
        writes: Writes,
        done: oneshot::Sender<Result<Published, QueueError>>,
    },
    ReadDead {
        reply: oneshot::Sender<Result<Vec<DeadLetter>, QueueError>>,
    },
    Replay {
        filter: ReplayFilter,
        now_ms: u64,
        reply: oneshot::Sender<Result<(Replayed, Requeued), QueueError>>,
    },
    DeleteDead {
        filter: ReplayFilter,
        reply: oneshot::Sender<Result<Vec<DeadLetter>, QueueError>>,
    },
}

/// Counters of the writer, for benchmarks and tests.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Write requests served.
    pub requests: AtomicU64,
}

/// What the file held when it was opened.
pub(super) struct Loaded {
    /// Pending jobs: (not before, sequence, job).
    pub jobs: Vec<(u64, u64, Job)>,
    /// The largest sequence number in use.
    pub max_seq: u64,
}

/// The thread's handle.
pub(super) struct Store {
    pub requests: mpsc::UnboundedSender<Request>,
    pub stopped: oneshot::Receiver<()>,
}

/// Opens (or creates) the store in `dir` on a thread of its own, and loads
/// what is pending; the thread then serves requests until every sender is
/// gone, and signals `stopped` once the file is closed.
pub(super) async fn open(
    dir: &Path,
    next_seq: Arc<AtomicU64>,
    stats: Arc<WriterStats>,
) -> Result<(Store, Loaded), QueueError> {
    let dir = dir.to_path_buf();
    let (opened, loaded) = oneshot::channel();
    let (requests, receiver) = mpsc::unbounded_channel();
    let (stop_signal, stopped) = oneshot::channel();
    std::thread::Builder::new()
        .name("purgehook-store".into())
        .spawn(move || match open_file(&dir) {
            Err(error) => {
                let _ = opened.send(Err(error));
            }
            Ok((db, file)) => {
                let thread = Thread {
                    db,
                    file,
                    next_seq,
                    stats,
                };
                let _ = opened.send(thread.read_pending());
                thread.serve(receiver);
                drop(thread);
                let _ = stop_signal.send(());
            }
        })
        .map_err(|e| QueueError::Store {
            path: "(thread)".into(),
            reason: e.to_string(),
        })?;
    let loaded = loaded.await.map_err(|_| QueueError::Closed)??;
    Ok((Store { requests, stopped }, loaded))
}

fn open_file(dir: &Path) -> Result<(Database, PathBuf), QueueError> {
    let file = dir.join(super::FILE_NAME);
    let failed = |reason: String| QueueError::Store {
        path: file.display().to_string(),
        reason,
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| failed(format!("cannot create {}: {e}", dir.display())))?;
    let db = Database::create(&file).map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => QueueError::InUse(file.display().to_string()),
        e => failed(e.to_string()),
    })?;
    let txn = db.begin_write().map_err(|e| failed(e.to_string()))?;
    txn.open_table(JOBS).map_err(|e| failed(e.to_string()))?;
    txn.open_table(DEAD).map_err(|e| failed(e.to_string()))?;
    txn.open_table(DEDUPE).map_err(|e| failed(e.to_string()))?;
    txn.open_table(DEDUPE_EXPIRY)
        .map_err(|e| failed(e.to_string()))?;
    txn.commit().map_err(|e| failed(e.to_string()))?;
    Ok((db, file))
}

struct Thread {
    db: Database,
    file: PathBuf,
    next_seq: Arc<AtomicU64>,
    stats: Arc<WriterStats>,
}

impl Thread {
    fn failed(&self, error: impl Into<redb::Error>) -> QueueError {
        QueueError::Store {
            path: self.file.display().to_string(),
            reason: error.into().to_string(),
        }
    }

    /// Every pending job, and the largest sequence in use.
    fn read_pending(&self) -> Result<Loaded, QueueError> {
        let read = self.db.begin_read().map_err(|e| self.failed(e))?;
        let mut loaded = Loaded {
            jobs: Vec::new(),
            max_seq: 0,
        };
        let jobs = read.open_table(JOBS).map_err(|e| self.failed(e))?;
        for entry in jobs.iter().map_err(|e| self.failed(e))? {
            let (key, value) = entry.map_err(|e| self.failed(e))?;
            let seq = key.value();
            let stored: Stored =
                serde_json::from_slice(value.value()).map_err(|e| QueueError::Store {
                    path: self.file.display().to_string(),
                    reason: format!("job {seq} is not readable: {e}"),
                })?;
            loaded.max_seq = loaded.max_seq.max(seq);
            loaded.jobs.push((stored.not_before_ms, seq, stored.job));
        }
        let dead = read.open_table(DEAD).map_err(|e| self.failed(e))?;
        if let Some((last, _)) = dead.last().map_err(|e| self.failed(e))? {
            loaded.max_seq = loaded.max_seq.max(last.value());
        }
        self.next_seq
            .fetch_max(loaded.max_seq + 1, Ordering::Relaxed);
        Ok(loaded)
    }

    fn serve(&self, mut requests: mpsc::UnboundedReceiver<Request>) {
        while let Some(first) = requests.blocking_recv() {
            let mut waiting = vec![first];
            while waiting.len() < MAX_GROUP {
                match requests.try_recv() {
                    Ok(request) => waiting.push(request),
                    Err(_) => break,
                }
            }
            // Writes first, in one commit; reads and replays after, so they
            // see them.
            let mut group = Vec::new();
            let mut others = Vec::new();
            for request in waiting {
                match request {
                    Request::Write { writes, done } => group.push((writes, done)),
                    other => others.push(other),
                }
            }
            if !group.is_empty() {
                self.commit_group(group);
            }
            for request in others {
                self.answer(request);
            }
        }
    }

    fn commit_group(&self, group: Vec<(Writes, oneshot::Sender<Result<Published, QueueError>>)>) {
        let now_ms = wall_clock_ms();
        let result = self.commit(group.iter().map(|(writes, _)| writes), now_ms);
        self.stats.commits.fetch_add(1, Ordering::Relaxed);
        self.stats
            .requests
            .fetch_add(group.len() as u64, Ordering::Relaxed);
        if let Err(error) = &result {
            tracing::error!(%error, "embedded store commit failed");
        }
        for ((_, done), index) in group.into_iter().zip(0..) {
            let outcome = result.as_ref().map_err(Clone::clone).map(|duplicates| {
                if duplicates.contains(&index) {
                    Published::Duplicate
                } else {
                    Published::Stored
                }
            });
            let _ = done.send(outcome);
        }
    }

    /// Applies every group of writes in one transaction; returns the
    /// indexes of the groups skipped as duplicate deliveries.
    fn commit<'a>(
        &self,
        group: impl Iterator<Item = &'a Writes>,
        now_ms: u64,
    ) -> Result<Vec<usize>, QueueError> {
        let txn = self.db.begin_write().map_err(|e| self.failed(e))?;
        let mut duplicates = Vec::new();
        {
            let mut tables = Tables::open(&txn).map_err(|e| self.failed(e))?;
            tables.forget_expired(now_ms).map_err(|e| self.failed(e))?;
            for (index, writes) in group.enumerate() {
                if !tables
                    .admit(writes.delivery, now_ms)
                    .map_err(|e| self.failed(e))?
                {
                    duplicates.push(index);
                    continue;
                }
                tables.apply(writes).map_err(|e| self.failed(e))?;
            }
        }
        txn.commit().map_err(|e| self.failed(e))?;
        Ok(duplicates)
    }

    fn answer(&self, request: Request) {
        match request {
            Request::Write { writes, done } => self.commit_group(vec![(writes, done)]),
            Request::ReadDead { reply } => {
                let letters = self
                    .dead_letters()
                    .map(|letters| letters.into_iter().map(|(_, letter)| letter).collect());
                let _ = reply.send(letters);
            }
            Request::Replay {
                filter,
                now_ms,
                reply,
            } => {
                let _ = reply.send(self.replay(&filter, now_ms));
            }
            Request::DeleteDead { filter, reply } => {
                let _ = reply.send(self.delete_dead(&filter));
            }
        }
    }

    /// Every dead letter with its key, oldest first; a letter stored without
    /// an id gets its job's.
    fn dead_letters(&self) -> Result<Vec<(u64, DeadLetter)>, QueueError> {
        let read = self.db.begin_read().map_err(|e| self.failed(e))?;
        let table = read.open_table(DEAD).map_err(|e| self.failed(e))?;
        let mut letters = Vec::new();
        for entry in table.iter().map_err(|e| self.failed(e))? {
            let (key, value) = entry.map_err(|e| self.failed(e))?;
            let mut letter: DeadLetter =
                serde_json::from_slice(value.value()).map_err(|e| QueueError::Store {
                    path: self.file.display().to_string(),
                    reason: format!("dead letter {} is not readable: {e}", key.value()),
                })?;
            if letter.id.is_empty()
                && let Some(job) = &letter.job
            {
                letter.id = job.id.to_string();
            }
            letters.push((key.value(), letter));
        }
        Ok(letters)
    }

    /// Deletes the matching dead letters, in one transaction.
    fn delete_dead(&self, filter: &ReplayFilter) -> Result<Vec<DeadLetter>, QueueError> {
        let mut writes = Writes::default();
        let mut deleted = Vec::new();
        for (key, letter) in self.dead_letters()? {
            if filter.matches(&letter) {
                writes.delete_dead.push(key);
                deleted.push(letter);
            }
        }
        if !deleted.is_empty() {
            self.commit(std::iter::once(&writes), wall_clock_ms())?;
        }
        Ok(deleted)
    }

    /// Stores the jobs of the matching dead letters again (attempt 0, ready
    /// at `now_ms`) and deletes those letters, in one transaction.
    fn replay(
        &self,
        filter: &ReplayFilter,
        now_ms: u64,
    ) -> Result<(Replayed, Requeued), QueueError> {
        let mut outcome = Replayed::default();
        let mut writes = Writes::default();
        let mut requeued = Vec::new();
        for (key, letter) in self.dead_letters()? {
            if !filter.matches(&letter) {
                continue;
            }
            let Some(job) = filter.replayable(&letter) else {
                outcome.skipped.push(letter);
                continue;
            };
            let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
            writes.put_jobs.push((seq, Stored::encode(now_ms, &job)?));
            writes.delete_dead.push(key);
            requeued.push((now_ms, seq, job));
            outcome.replayed.push(letter);
        }
        if !requeued.is_empty() {
            self.commit(std::iter::once(&writes), wall_clock_ms())?;
        }
        Ok((outcome, requeued))
    }
}

/// The tables of one write transaction.
struct Tables<'txn> {
    jobs: redb::Table<'txn, u64, &'static [u8]>,
    dead: redb::Table<'txn, u64, &'static [u8]>,
    dedupe: redb::Table<'txn, &'static [u8], u64>,
    expiry: redb::Table<'txn, (u64, &'static [u8]), ()>,
}

impl<'txn> Tables<'txn> {
    fn open(txn: &'txn redb::WriteTransaction) -> Result<Tables<'txn>, redb::TableError> {
        Ok(Tables {
            jobs: txn.open_table(JOBS)?,
            dead: txn.open_table(DEAD)?,
            dedupe: txn.open_table(DEDUPE)?,
            expiry: txn.open_table(DEDUPE_EXPIRY)?,
        })
    }

    fn apply(&mut self, writes: &Writes) -> Result<(), redb::StorageError> {
        for (seq, bytes) in &writes.put_jobs {
            self.jobs.insert(*seq, bytes.as_slice())?;
        }
        for seq in &writes.delete_jobs {
            self.jobs.remove(*seq)?;
        }
        for (seq, bytes) in &writes.put_dead {
            self.dead.insert(*seq, bytes.as_slice())?;
        }
        for seq in &writes.delete_dead {
            self.dead.remove(*seq)?;
        }
        Ok(())
    }

    /// Whether a delivery may be stored: false when its key is remembered
    /// and not expired; else the key is remembered now.
    fn admit(
        &mut self,
        delivery: Option<(DeliveryKey, std::time::Duration)>,
        now_ms: u64,
    ) -> Result<bool, redb::StorageError> {
        let Some((key, window)) = delivery else {
            return Ok(true);
        };
        let until = now_ms + window.as_millis() as u64;
        let key = key.as_bytes().as_slice();
        if let Some(expires) = self.dedupe.get(key)?
            && expires.value() > now_ms
        {
            return Ok(false);
        }
        self.dedupe.insert(key, until)?;
        self.expiry.insert((until, key), ())?;
        Ok(true)
    }

    /// Forgets some of the keys whose window has passed.
    fn forget_expired(&mut self, now_ms: u64) -> Result<(), redb::StorageError> {
        let expired: Vec<(u64, Vec<u8>)> = self
            .expiry
            .range((0, [].as_slice())..(now_ms, [].as_slice()))?
            .take(FORGET_PER_COMMIT)
            .map(|entry| entry.map(|(key, _)| (key.value().0, key.value().1.to_vec())))
            .collect::<Result<_, _>>()?;
        for (until, key) in expired {
            self.expiry.remove((until, key.as_slice()))?;
            if self
                .dedupe
                .get(key.as_slice())?
                .is_some_and(|at| at.value() <= now_ms)
            {
                self.dedupe.remove(key.as_slice())?;
            }
        }
        Ok(())
    }
}

/// Wall-clock milliseconds, the unit of the remembered keys' expiries.
fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}
