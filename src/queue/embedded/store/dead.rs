//! The dead letters, on the store thread: reading them, deleting those a
//! filter matches, and replaying them — storing their jobs again and
//! deleting the letters in one transaction.

use std::sync::atomic::Ordering;

use redb::ReadableTable;

use super::{Requeued, Thread, wall_clock_ms};
use crate::queue::embedded::tables::{DEAD, Stored, Writes};
use crate::queue::{DeadLetter, QueueError, ReplayFilter, Replayed};

impl Thread {
    /// Every dead letter with its key, oldest first; a letter stored without
    /// an id gets its job's.
    pub(super) fn dead_letters(&self) -> Result<Vec<(u64, DeadLetter)>, QueueError> {
        let disk = &self.disk;
        let read = disk.db()?.begin_read().map_err(|e| disk.failed(e))?;
        let table = read.open_table(DEAD).map_err(|e| disk.failed(e))?;
        let mut letters = Vec::new();
        for entry in table.iter().map_err(|e| disk.failed(e))? {
            let (key, value) = entry.map_err(|e| disk.failed(e))?;
            let mut letter: DeadLetter =
                serde_json::from_slice(value.value()).map_err(|e| QueueError::Store {
                    path: disk.path().display().to_string(),
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
    pub(super) fn delete_dead(
        &mut self,
        filter: &ReplayFilter,
    ) -> Result<Vec<DeadLetter>, QueueError> {
        self.disk.writable()?;
        let letters = self.dead_letters();
        if let Err(error) = &letters {
            self.disk.after_failure(error, None);
        }
        let mut writes = Writes::default();
        let mut deleted = Vec::new();
        for (key, letter) in letters? {
            if filter.matches(&letter) {
                writes.delete_dead.push(key);
                deleted.push(letter);
            }
        }
        if !deleted.is_empty() {
            self.commit_checked(&[&writes], wall_clock_ms())?;
        }
        Ok(deleted)
    }

    /// Stores the jobs of the matching dead letters again (attempt 0, ready
    /// at `now_ms`) and deletes those letters, in one transaction.
    pub(super) fn replay(
        &mut self,
        filter: &ReplayFilter,
        now_ms: u64,
    ) -> Result<(Replayed, Requeued), QueueError> {
        self.disk.writable()?;
        let letters = self.dead_letters();
        if let Err(error) = &letters {
            self.disk.after_failure(error, None);
        }
        let mut outcome = Replayed::default();
        let mut writes = Writes::default();
        let mut requeued = Vec::new();
        for (key, letter) in letters? {
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
            self.commit_checked(&[&writes], wall_clock_ms())?;
        }
        Ok((outcome, requeued))
    }
}
