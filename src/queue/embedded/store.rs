//! The embedded store's file, owned by one thread: it opens the redb file
//! and loads what is pending, then serves requests in order — every write
//! waiting at a moment is committed in one transaction (group commit, one
//! fsync), reads of the dead letters, and replays, whose reading of the
//! letters and storing of their jobs is one transaction. No redb work runs
//! on the async runtime. After an I/O error the file is opened again and
//! probed until it takes writes ([`recovery`](super::recovery)).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Instant;

use redb::ReadableTable;
use serde::Deserialize;
use tokio::sync::oneshot;

mod dead;

use super::log::{self, LogRequest};
use super::recovery::{Disk, Health, Opener};
use super::remembered::{self, Remembered, Undo};
use super::tables::{DEAD, JOBS, Stored, Tables, Writes};
use crate::job::{Job, TargetId};
use crate::queue::{DeadLetter, Published, QueueError, ReplayFilter, Replayed};

/// How many writes one commit takes at most.
const MAX_GROUP: usize = 512;

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
    /// Pending jobs, by sequence: those the file holds, as (sequence, job).
    ReadJobs {
        seqs: Vec<u64>,
        reply: oneshot::Sender<Result<Vec<(u64, Job)>, QueueError>>,
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
    /// The purge history's log.
    Log(LogRequest),
}

impl From<LogRequest> for Request {
    fn from(request: LogRequest) -> Request {
        Request::Log(request)
    }
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
    /// The pending jobs of each target, as (not before, sequence).
    pub pending: HashMap<TargetId, Vec<(u64, u64)>>,
    /// The largest sequence number in use.
    pub max_seq: u64,
}

/// What opening reads of a stored job: the rest of it stays on disk.
#[derive(Deserialize)]
struct StoredHead {
    not_before_ms: u64,
    job: JobHead,
}

#[derive(Deserialize)]
struct JobHead {
    target: TargetId,
}

/// The thread's handle.
pub(super) struct Store {
    pub requests: mpsc::Sender<Request>,
    pub stopped: oneshot::Receiver<()>,
    /// Whether the store takes writes now.
    pub health: Arc<Health>,
}

/// Opens (or creates) the store in `dir` with `opener` on a thread of its
/// own, and loads what is pending; the thread then serves requests until
/// every sender is gone, and signals `stopped` once the file is closed.
pub(super) async fn open(
    dir: &Path,
    opener: Opener,
    next_seq: Arc<AtomicU64>,
    stats: Arc<WriterStats>,
) -> Result<(Store, Loaded), QueueError> {
    let dir = dir.to_path_buf();
    let (opened, loaded) = oneshot::channel();
    let (requests, receiver) = mpsc::channel();
    let (stop_signal, stopped) = oneshot::channel();
    let health = Arc::new(Health::default());
    let thread_health = health.clone();
    std::thread::Builder::new()
        .name("purgehook-store".into())
        .spawn(move || match open_file(&dir, opener, thread_health) {
            Err(error) => {
                let _ = opened.send(Err(error));
            }
            Ok(disk) => {
                let mut thread = Thread {
                    disk,
                    next_seq,
                    stats,
                    log_seq: 0,
                    remembered: Remembered::default(),
                };
                let loaded = thread.read_pending();
                if loaded.is_ok() {
                    thread.drop_legacy();
                }
                let _ = opened.send(loaded);
                thread.serve(&receiver);
                drop(thread);
                let _ = stop_signal.send(());
            }
        })
        .map_err(|e| QueueError::Store {
            path: "(thread)".into(),
            reason: e.to_string(),
        })?;
    let loaded = loaded.await.map_err(|_| QueueError::Closed)??;
    let store = Store {
        requests,
        stopped,
        health,
    };
    Ok((store, loaded))
}

fn open_file(dir: &Path, opener: Opener, health: Arc<Health>) -> Result<Disk, QueueError> {
    let file = dir.join(super::FILE_NAME);
    std::fs::create_dir_all(dir).map_err(|e| QueueError::Store {
        path: file.display().to_string(),
        reason: format!("cannot create {}: {e}", dir.display()),
    })?;
    Disk::open(file, opener, health)
}

struct Thread {
    disk: Disk,
    next_seq: Arc<AtomicU64>,
    stats: Arc<WriterStats>,
    /// The last sequence of the log's records (0: not read yet).
    log_seq: u64,
    /// The delivery keys remembered.
    remembered: Remembered,
}

impl Thread {
    /// The index of the pending jobs, and the largest sequence in use; the
    /// delivery keys remembered.
    fn read_pending(&mut self) -> Result<Loaded, QueueError> {
        let disk = &self.disk;
        let read = disk.db()?.begin_read().map_err(|e| disk.failed(e))?;
        let mut loaded = Loaded {
            pending: HashMap::new(),
            max_seq: 0,
        };
        let jobs = read.open_table(JOBS).map_err(|e| disk.failed(e))?;
        for entry in jobs.iter().map_err(|e| disk.failed(e))? {
            let (key, value) = entry.map_err(|e| disk.failed(e))?;
            let seq = key.value();
            let stored: StoredHead = self.decode(seq, value.value())?;
            loaded.max_seq = loaded.max_seq.max(seq);
            let keys = match loaded.pending.get_mut(&stored.job.target) {
                Some(keys) => keys,
                None => loaded.pending.entry(stored.job.target).or_default(),
            };
            keys.push((stored.not_before_ms, seq));
        }
        let dead = read.open_table(DEAD).map_err(|e| disk.failed(e))?;
        if let Some((last, _)) = dead.last().map_err(|e| disk.failed(e))? {
            loaded.max_seq = loaded.max_seq.max(last.value());
        }
        self.next_seq
            .fetch_max(loaded.max_seq + 1, Ordering::Relaxed);
        self.remembered = Remembered::load(disk, &read, wall_clock_ms())?;
        Ok(loaded)
    }

    /// Drops the table of delivery keys by key earlier versions wrote, when
    /// the file has one and takes writes (else at a later start).
    fn drop_legacy(&mut self) {
        if self.disk.writable().is_err() {
            return;
        }
        if let Err(error) = remembered::drop_legacy(&self.disk) {
            tracing::warn!(%error, "cannot drop the old table of delivery keys; trying again at the next start");
            self.disk.after_failure(&error, None);
        }
    }

    /// The jobs at `seqs` the file holds.
    fn read_jobs(&self, seqs: &[u64]) -> Result<Vec<(u64, Job)>, QueueError> {
        let disk = &self.disk;
        let read = disk.db()?.begin_read().map_err(|e| disk.failed(e))?;
        let table = read.open_table(JOBS).map_err(|e| disk.failed(e))?;
        let mut jobs = Vec::with_capacity(seqs.len());
        for &seq in seqs {
            if let Some(value) = table.get(seq).map_err(|e| disk.failed(e))? {
                let stored: Stored = self.decode(seq, value.value())?;
                jobs.push((seq, stored.job));
            }
        }
        Ok(jobs)
    }

    fn decode<'a, T: Deserialize<'a>>(&self, seq: u64, bytes: &'a [u8]) -> Result<T, QueueError> {
        serde_json::from_slice(bytes).map_err(|e| QueueError::Store {
            path: self.disk.path().display().to_string(),
            reason: format!("job {seq} is not readable: {e}"),
        })
    }

    fn serve(&mut self, requests: &mpsc::Receiver<Request>) {
        while let Some(first) = self.receive(requests) {
            let mut waiting = vec![first];
            while waiting.len() < MAX_GROUP {
                match requests.try_recv() {
                    Ok(request) => waiting.push(request),
                    Err(_) => break,
                }
            }
            // Unwritable, and busy: probe all the same, once it is due.
            self.disk.recover();
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

    /// The next request (`None` once every sender is gone); while the
    /// store is unwritable, it probes the file when due as it waits.
    fn receive(&mut self, requests: &mpsc::Receiver<Request>) -> Option<Request> {
        loop {
            let Some(due) = self.disk.next_probe() else {
                return requests.recv().ok();
            };
            match requests.recv_timeout(due.saturating_duration_since(Instant::now())) {
                Ok(request) => return Some(request),
                Err(RecvTimeoutError::Timeout) => self.disk.recover(),
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    fn commit_group(
        &mut self,
        group: Vec<(Writes, oneshot::Sender<Result<Published, QueueError>>)>,
    ) {
        let writes: Vec<&Writes> = group.iter().map(|(writes, _)| writes).collect();
        let result = self.commit_checked(&writes, wall_clock_ms());
        self.stats.commits.fetch_add(1, Ordering::Relaxed);
        self.stats
            .requests
            .fetch_add(group.len() as u64, Ordering::Relaxed);
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

    /// Commits `group` if the store takes writes (refused at once
    /// otherwise). A commit that failed for I/O is looked for in the
    /// reopened file: when it is there, it counts as done.
    fn commit_checked(&mut self, group: &[&Writes], now_ms: u64) -> Result<Vec<usize>, QueueError> {
        self.disk.writable()?;
        let mut duplicates = Vec::new();
        let mut undo = Undo::default();
        let Err(error) = self.commit(group, now_ms, &mut duplicates, &mut undo) else {
            return Ok(duplicates);
        };
        let witness = (group.iter().enumerate())
            .filter(|(index, _)| !duplicates.contains(index))
            .find_map(|(_, writes)| writes.witness());
        if self.disk.after_failure(&error, witness) {
            tracing::warn!(%error, "a commit that reported an error is in the file: it counts as done");
            return Ok(duplicates);
        }
        self.remembered.undo(undo);
        tracing::error!(%error, "embedded store commit failed");
        Err(error)
    }

    /// Applies every group of writes in one transaction; `duplicates` gets
    /// the indexes of the groups skipped as duplicate deliveries, `undo`
    /// the delivery keys remembered.
    fn commit(
        &mut self,
        group: &[&Writes],
        now_ms: u64,
        duplicates: &mut Vec<usize>,
        undo: &mut Undo,
    ) -> Result<(), QueueError> {
        let disk = &self.disk;
        let remembered = &mut self.remembered;
        let txn = disk.db()?.begin_write().map_err(|e| disk.failed(e))?;
        {
            let mut tables = Tables::open(&txn).map_err(|e| disk.failed(e))?;
            (remembered.forget_expired(&mut tables.expiry, now_ms)).map_err(|e| disk.failed(e))?;
            for (index, writes) in group.iter().enumerate() {
                if !remembered
                    .admit(&mut tables.expiry, writes.delivery, now_ms, undo)
                    .map_err(|e| disk.failed(e))?
                {
                    duplicates.push(index);
                    continue;
                }
                tables.apply(writes).map_err(|e| disk.failed(e))?;
            }
        }
        txn.commit().map_err(|e| disk.failed(e))
    }

    fn answer(&mut self, request: Request) {
        match request {
            Request::Write { writes, done } => self.commit_group(vec![(writes, done)]),
            Request::ReadDead { reply } => {
                let letters = self
                    .dead_letters()
                    .map(|letters| letters.into_iter().map(|(_, letter)| letter).collect());
                if let Err(error) = &letters {
                    self.disk.after_failure(error, None);
                }
                let _ = reply.send(letters);
            }
            Request::ReadJobs { seqs, reply } => {
                let jobs = self.read_jobs(&seqs);
                if let Err(error) = &jobs {
                    self.disk.after_failure(error, None);
                }
                let _ = reply.send(jobs);
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
            Request::Log(request) => log::serve_log(&self.disk, &mut self.log_seq, request),
        }
    }
}

/// Wall-clock milliseconds, the unit of the remembered keys' expiries.
fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}
