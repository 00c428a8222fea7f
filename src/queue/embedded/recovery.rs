//! The store's file and how it lives through I/O errors (a full disk, a
//! failing device). After one failed read or write, redb refuses every
//! later one ("Previous I/O error occurred. Please close and re-open the
//! database"), so the store thread drops the `Database` and opens the file
//! again at once: redb rolls back a commit it did not finish. Until a write
//! succeeds again the store is unwritable: [`Health`] says so (`/readyz`
//! answers 503) and writes are refused at once with
//! [`QueueError::Unwritable`]. Every [`PROBE_EVERY`] the thread probes:
//! it writes and fsyncs a small file beside the store (a redb commit alone
//! proves little, as it may fit in pages the file freed earlier), then,
//! having reopened the file if it must, commits a write to it; once both
//! succeed the store takes writes again.
//! A commit reported as failed is looked for in the reopened file, so that
//! its callers are told what the file holds.

use std::cell::Cell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redb::{Database, TableHandle};

use super::tables::{self, DEAD, JOBS, PROBE, Witness};
use crate::queue::QueueError;

/// How often an unwritable store tries to write again.
pub(super) const PROBE_EVERY: Duration = Duration::from_secs(1);

/// The size of the file the probe writes: the room a store needs to be
/// worth calling writable.
const PROBE_BYTES: usize = 64 * 1024;

/// What the store's users see of its state: whether it takes writes. False
/// during an outage and once the thread has ended.
#[derive(Debug, Default)]
pub(super) struct Health {
    writable: AtomicBool,
}

impl Health {
    pub fn writable(&self) -> bool {
        self.writable.load(Ordering::Acquire)
    }

    pub fn set(&self, writable: bool) {
        self.writable.store(writable, Ordering::Release);
    }
}

/// Opens the redb file: `Database::create`, or in tests a backend that
/// fails on demand.
pub(super) type Opener = Arc<dyn Fn(&Path) -> Result<Database, redb::DatabaseError> + Send + Sync>;

/// redb's page cache. Its default (1 GiB) lets the process grow with the
/// file; the queue's working set is the tail of the job table (the
/// delivery keys are looked up in memory, the history only appended),
/// and reads past the cache come from the OS's page cache: 4 MiB costs
/// nothing measurable against 16 (BENCHMARKS.md, "Load").
pub(super) const CACHE_BYTES: usize = 4 * 1024 * 1024;

/// The opener of a real file.
pub(super) fn create() -> Opener {
    Arc::new(|path: &Path| Database::builder().set_cache_size(CACHE_BYTES).create(path))
}

/// Why the store cannot write, and when it tries again.
struct Outage {
    reason: String,
    since: Instant,
    next_probe: Instant,
}

/// The open file, or why it cannot be written. Owned by the store thread.
pub(super) struct Disk {
    path: PathBuf,
    opener: Opener,
    /// `None` while the file could not be opened again.
    db: Option<Database>,
    /// Set by an operation that failed for I/O: the file must be reopened.
    io_failed: Cell<bool>,
    outage: Option<Outage>,
    health: Arc<Health>,
}

impl Disk {
    /// Opens the file, creates its tables when it has none, and probes it:
    /// a store that cannot write starts unwritable (its jobs are read).
    pub fn open(path: PathBuf, opener: Opener, health: Arc<Health>) -> Result<Disk, QueueError> {
        let db = opener(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => {
                QueueError::InUse(path.display().to_string())
            }
            e => QueueError::Store {
                path: path.display().to_string(),
                reason: e.to_string(),
            },
        })?;
        let mut disk = Disk {
            path,
            opener,
            db: Some(db),
            io_failed: Cell::new(false),
            outage: None,
            health,
        };
        if !disk.has_tables()? {
            let db = disk.db()?;
            let txn = db.begin_write().map_err(|e| disk.failed(e))?;
            tables::create(&txn).map_err(|e| disk.failed(e))?;
            txn.commit().map_err(|e| disk.failed(e))?;
        }
        disk.probe();
        Ok(disk)
    }

    fn has_tables(&self) -> Result<bool, QueueError> {
        let read = self.db()?.begin_read().map_err(|e| self.failed(e))?;
        let names: Vec<String> = read
            .list_tables()
            .map_err(|e| self.failed(e))?
            .map(|table| table.name().to_string())
            .collect();
        Ok([JOBS.name(), DEAD.name()]
            .iter()
            .all(|name| names.iter().any(|n| n == name)))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file; an error while it could not be opened again.
    pub fn db(&self) -> Result<&Database, QueueError> {
        self.db.as_ref().ok_or_else(|| self.refusal())
    }

    /// Whether writes are taken now; the refusal while they are not.
    pub fn writable(&self) -> Result<(), QueueError> {
        match self.outage {
            Some(_) => Err(self.refusal()),
            None => Ok(()),
        }
    }

    fn refusal(&self) -> QueueError {
        QueueError::Unwritable {
            path: self.path.display().to_string(),
            reason: self
                .outage
                .as_ref()
                .map_or_else(|| "the file is not open".into(), |o| o.reason.clone()),
        }
    }

    /// The error for a failed redb operation; one that failed for I/O
    /// marks the file for reopening.
    pub fn failed(&self, error: impl Into<redb::Error>) -> QueueError {
        let error = error.into();
        if matches!(error, redb::Error::Io(_) | redb::Error::PreviousIo) {
            self.io_failed.set(true);
        }
        QueueError::Store {
            path: self.path.display().to_string(),
            reason: error.to_string(),
        }
    }

    /// After an operation failed: when it was for I/O, the store becomes
    /// unwritable and the file is opened again. Returns whether the
    /// writes `witness` names are in the file all the same.
    pub fn after_failure(&mut self, error: &QueueError, witness: Option<Witness>) -> bool {
        if !self.io_failed.get() {
            return false;
        }
        self.begin_outage(error);
        self.reopen();
        witness.is_some_and(|witness| self.holds(witness))
    }

    /// Refuses writes from now on, for `error`; or, during an outage,
    /// records the latest error.
    fn begin_outage(&mut self, error: &QueueError) {
        let reason = match error {
            QueueError::Store { reason, .. } => reason.clone(),
            other => other.to_string(),
        };
        if let Some(outage) = &mut self.outage {
            outage.reason = reason;
            return;
        }
        tracing::error!(path = %self.path.display(), %error, "the store cannot write; refusing writes until a probe write succeeds");
        self.outage = Some(Outage {
            reason,
            since: Instant::now(),
            next_probe: Instant::now() + PROBE_EVERY,
        });
        self.health.set(false);
    }

    /// When the next probe is due, during an outage.
    pub fn next_probe(&self) -> Option<Instant> {
        self.outage.as_ref().map(|o| o.next_probe)
    }

    /// During an outage, once the probe is due: reopens the file if it
    /// must, and probes it.
    pub fn recover(&mut self) {
        let Some(outage) = &mut self.outage else {
            return;
        };
        if outage.next_probe > Instant::now() {
            return;
        }
        outage.next_probe = Instant::now() + PROBE_EVERY;
        if self.io_failed.get() || self.db.is_none() {
            self.reopen();
        }
        self.probe();
    }

    /// Probes: the outage ends when there is room and a commit succeeds,
    /// and begins (or goes on) when not.
    fn probe(&mut self) {
        let Some(db) = &self.db else { return };
        let result = match room(&self.path) {
            Ok(()) => self.commit_probe(db),
            Err(error) => Err(QueueError::Store {
                path: self.path.display().to_string(),
                reason: format!("no room for a probe write: {error}"),
            }),
        };
        match result {
            Ok(()) => {
                if let Some(outage) = self.outage.take() {
                    tracing::info!(path = %self.path.display(), unwritable_for = ?outage.since.elapsed(), "the store takes writes again");
                }
                self.health.set(true);
            }
            Err(error) => {
                self.begin_outage(&error);
                if self.io_failed.get() {
                    self.reopen();
                }
            }
        }
    }

    /// Drops the `Database` and opens the file again (during an outage).
    fn reopen(&mut self) {
        self.db = None;
        self.io_failed.set(false);
        match (self.opener)(&self.path) {
            Ok(db) => self.db = Some(db),
            Err(error) => {
                // The refusals say it (and the receiver logs them).
                if let Some(outage) = &mut self.outage {
                    outage.reason = format!("cannot open the file again: {error}");
                }
            }
        }
    }

    /// Whether `witness` is in the file.
    fn holds(&self, witness: Witness) -> bool {
        let Some(read) = self.db.as_ref().and_then(|db| db.begin_read().ok()) else {
            return false;
        };
        let found = match witness {
            Witness::Job(seq) => read
                .open_table(JOBS)
                .map(|t| t.get(seq).map(|v| v.is_some())),
            Witness::Dead(seq) => read
                .open_table(DEAD)
                .map(|t| t.get(seq).map(|v| v.is_some())),
        };
        matches!(found, Ok(Ok(true)))
    }

    /// Commits a small write to the store.
    fn commit_probe(&self, db: &Database) -> Result<(), QueueError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let txn = db.begin_write().map_err(|e| self.failed(e))?;
        txn.open_table(PROBE)
            .map_err(|e| self.failed(e))?
            .insert(0, now.to_be_bytes().as_slice())
            .map_err(|e| self.failed(e))?;
        txn.commit().map_err(|e| self.failed(e))
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        self.health.set(false);
    }
}

/// Whether the filesystem has room: writes a file of [`PROBE_BYTES`]
/// beside `store`, fsyncs and removes it. A directory where no file may be
/// created proves nothing: then only the commit is tried.
fn room(store: &Path) -> std::io::Result<()> {
    let path = store.with_extension("redb.probe");
    let mut file = match std::fs::File::create(&path) {
        Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => return Ok(()),
        opened => opened?,
    };
    let written = file
        .write_all(&[0x5a; PROBE_BYTES])
        .and_then(|()| file.sync_all());
    drop(file);
    let _ = std::fs::remove_file(&path);
    written
}
