//! The store's log: opaque records kept beside the jobs in the same redb
//! file, keyed by (time in ms, sequence), for the purge history. Appends
//! are their own transaction, made durable by the next commit of jobs (a
//! record is history, not a job: a crash may lose the last ones, never a
//! job; and a record costs no fsync of its own), read by time
//! range and deleted from the oldest. The store thread does the redb work;
//! [`EmbeddedQueue`]'s methods here ask it.

use redb::{Durability, ReadableTable, TableDefinition};
use tokio::sync::oneshot;

use super::EmbeddedQueue;
use super::recovery::Disk;
use crate::queue::QueueError;

/// The log's records: (ms, sequence) → bytes.
const LOG: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("history");

/// Records as stored: (time in ms, bytes).
pub type LogRecords = Vec<(u64, Vec<u8>)>;

/// The most records one read returns.
pub(super) const MAX_READ: usize = 100_000;

/// What the store thread is asked about the log.
pub(super) enum LogRequest {
    Append {
        records: Vec<(u64, Vec<u8>)>,
        done: oneshot::Sender<Result<(), QueueError>>,
    },
    Read {
        since_ms: u64,
        reply: oneshot::Sender<Result<LogRecords, QueueError>>,
    },
    Prune {
        before_ms: u64,
        reply: oneshot::Sender<Result<u64, QueueError>>,
    },
}

/// Serves one request on the store thread; `seq` numbers appended records.
pub(super) fn serve_log(disk: &Disk, seq: &mut u64, request: LogRequest) {
    match request {
        LogRequest::Append { records, done } => {
            let _ = done.send(append_records(disk, seq, records));
        }
        LogRequest::Read { since_ms, reply } => {
            let _ = reply.send(read_records(disk, since_ms));
        }
        LogRequest::Prune { before_ms, reply } => {
            let _ = reply.send(prune_records(disk, before_ms));
        }
    }
}

fn append_records(
    disk: &Disk,
    seq: &mut u64,
    records: Vec<(u64, Vec<u8>)>,
) -> Result<(), QueueError> {
    disk.writable()?;
    let mut txn = disk.db()?.begin_write().map_err(|e| disk.failed(e))?;
    txn.set_durability(Durability::None);
    {
        let mut table = txn.open_table(LOG).map_err(|e| disk.failed(e))?;
        if *seq == 0 {
            // After the last record's: the file may hold records already.
            let last = table.last().map_err(|e| disk.failed(e))?;
            *seq = last.map_or(0, |(key, _)| key.value().1);
        }
        for (at_ms, bytes) in &records {
            *seq += 1;
            table
                .insert((*at_ms, *seq), bytes.as_slice())
                .map_err(|e| disk.failed(e))?;
        }
    }
    txn.commit().map_err(|e| disk.failed(e))
}

fn read_records(disk: &Disk, since_ms: u64) -> Result<Vec<(u64, Vec<u8>)>, QueueError> {
    let txn = disk.db()?.begin_read().map_err(|e| disk.failed(e))?;
    let table = match txn.open_table(LOG) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(error) => return Err(disk.failed(error)),
    };
    let mut records = Vec::new();
    // Newest first, so that a cut keeps the most recent.
    for entry in table
        .range((since_ms, 0)..)
        .map_err(|e| disk.failed(e))?
        .rev()
        .take(MAX_READ)
    {
        let (key, value) = entry.map_err(|e| disk.failed(e))?;
        records.push((key.value().0, value.value().to_vec()));
    }
    Ok(records)
}

fn prune_records(disk: &Disk, before_ms: u64) -> Result<u64, QueueError> {
    disk.writable()?;
    let mut txn = disk.db()?.begin_write().map_err(|e| disk.failed(e))?;
    txn.set_durability(Durability::None);
    let removed = {
        let mut table = txn.open_table(LOG).map_err(|e| disk.failed(e))?;
        table
            .extract_from_if(..(before_ms, 0), |_, _| true)
            .map_err(|e| disk.failed(e))?
            .count() as u64
    };
    txn.commit().map_err(|e| disk.failed(e))?;
    Ok(removed)
}

impl EmbeddedQueue {
    /// Appends records (time in ms, bytes) to the store's log.
    pub async fn log_append(&self, records: Vec<(u64, Vec<u8>)>) -> Result<(), QueueError> {
        self.ask(|done| LogRequest::Append { records, done }.into())
            .await
    }

    /// The log's records from `since_ms` on, newest first (at most
    /// [`MAX_READ`]).
    pub async fn log_read(&self, since_ms: u64) -> Result<Vec<(u64, Vec<u8>)>, QueueError> {
        self.ask(|reply| LogRequest::Read { since_ms, reply }.into())
            .await
    }

    /// Deletes the log's records older than `before_ms`; returns how many.
    pub async fn log_prune(&self, before_ms: u64) -> Result<u64, QueueError> {
        self.ask(|reply| LogRequest::Prune { before_ms, reply }.into())
            .await
    }
}
