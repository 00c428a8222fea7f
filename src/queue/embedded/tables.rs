//! The embedded store's tables and what one transaction does to them: the
//! jobs (by sequence), the dead letters, the remembered delivery keys (by
//! expiry, see [`remembered`](super::remembered)), and the probe table the
//! store writes to find out whether it can write again. Pure redb work,
//! called only from the store thread.

use redb::TableDefinition;
use serde::{Deserialize, Serialize};

use crate::job::Job;
use crate::queue::{DeliveryKey, QueueError};

pub(super) const JOBS: TableDefinition<u64, &[u8]> = TableDefinition::new("jobs");
pub(super) const DEAD: TableDefinition<u64, &[u8]> = TableDefinition::new("dead");
/// One value, rewritten by the probe to see whether the file takes writes.
pub(super) const PROBE: TableDefinition<u8, &[u8]> = TableDefinition::new("probe");
/// Delivery keys remembered, by expiry (ms).
pub(super) const DEDUPE_EXPIRY: TableDefinition<(u64, &[u8]), ()> =
    TableDefinition::new("dedupe_expiry");
/// The same keys by key, written by earlier versions (key → expiry).
pub(super) const LEGACY_DEDUPE: TableDefinition<&[u8], u64> = TableDefinition::new("dedupe");

/// The table of the keys by expiry, in a write transaction.
pub(super) type ExpiryTable<'txn> = redb::Table<'txn, (u64, &'static [u8]), ()>;

/// A stored job, as read back (the time before which it is not delivered
/// is read with the index when the file opens); written by
/// [`Stored::encode`].
#[derive(Deserialize)]
pub(super) struct Stored {
    pub job: Job,
}

/// A stored job as written, with the time before which it is not
/// delivered: the job borrowed, not copied.
#[derive(Serialize)]
struct StoredRef<'a> {
    not_before_ms: u64,
    job: &'a Job,
}

impl Stored {
    pub fn encode(not_before_ms: u64, job: &Job) -> Result<Vec<u8>, QueueError> {
        let stored = StoredRef { not_before_ms, job };
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

impl Writes {
    /// A key these writes add: if it is in the file, their commit landed.
    pub fn witness(&self) -> Option<Witness> {
        let job = self.put_jobs.first().map(|(seq, _)| Witness::Job(*seq));
        job.or_else(|| self.put_dead.first().map(|(seq, _)| Witness::Dead(*seq)))
    }
}

/// A key a commit adds, to look for once it was reported as failed.
#[derive(Debug, Clone, Copy)]
pub(super) enum Witness {
    Job(u64),
    Dead(u64),
}

/// Creates every table (a new file has none; the probe's is made by the
/// first probe).
pub(super) fn create(txn: &redb::WriteTransaction) -> Result<(), redb::TableError> {
    txn.open_table(JOBS)?;
    txn.open_table(DEAD)?;
    txn.open_table(DEDUPE_EXPIRY)?;
    Ok(())
}

/// The tables of one write transaction.
pub(super) struct Tables<'txn> {
    jobs: redb::Table<'txn, u64, &'static [u8]>,
    dead: redb::Table<'txn, u64, &'static [u8]>,
    /// The remembered delivery keys, by expiry.
    pub expiry: ExpiryTable<'txn>,
}

impl<'txn> Tables<'txn> {
    pub fn open(txn: &'txn redb::WriteTransaction) -> Result<Tables<'txn>, redb::TableError> {
        Ok(Tables {
            jobs: txn.open_table(JOBS)?,
            dead: txn.open_table(DEAD)?,
            expiry: txn.open_table(DEDUPE_EXPIRY)?,
        })
    }

    pub fn apply(&mut self, writes: &Writes) -> Result<(), redb::StorageError> {
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
}
