//! The delivery keys the embedded store remembers, to store a delivery once.
//! The store thread keeps them in memory, as the first 64 bits of each key
//! ([`DeliveryKey::short`]; 17 bytes a key in all) mapped to its expiry, and the file keeps them only by expiry (`dedupe_expiry`,
//! time-ordered: appending a key touches the tree's last leaf, not a random
//! one). A key is remembered in the same transaction as its delivery's jobs;
//! when that commit fails, the keys it added are forgotten again. Opening
//! loads the keys not expired; expired keys are forgotten from both, a few
//! per commit. Files written before kept the keys by key too (`dedupe`):
//! the same keys, so loading by expiry honours them; that table is dropped.

use redb::{ReadableTable, TableHandle};

use super::recovery::Disk;
pub(super) use super::tables::DEDUPE_EXPIRY;
use super::tables::{ExpiryTable, LEGACY_DEDUPE};
use crate::queue::dedupe::{ShortKeyMap, short_key};
use crate::queue::{DeliveryKey, QueueError};

/// How many expired delivery keys one commit forgets at most.
const FORGET_PER_COMMIT: usize = 256;

/// The most keys remembered (~17 MB; twice that while a map doubles):
/// beyond, the oldest are forgotten before their window is out — a
/// sender's retry that old would be queued again (a purge repeated, never
/// one lost). A million keys is a 24-hour
/// window at 11 deliveries a second, sustained.
pub(super) const MAX_KEYS: usize = 1_000_000;

/// The first 64 bits of a key ([`DeliveryKey::short`]).
type Prefix = u64;

fn prefix(key: &[u8]) -> Option<Prefix> {
    short_key(key)
}

/// How many maps the keys are spread over, by their first bits: a map
/// that grows allocates twice its room and copies, so that one map of
/// every key would at that moment hold three times what its keys need
/// (10 MB for 120,000 keys); a shard grows alone.
const SHARDS: usize = 16;

/// The keys remembered, and until when (ms).
pub(super) struct Remembered {
    shards: Vec<ShortKeyMap<u64>>,
}

impl Default for Remembered {
    fn default() -> Remembered {
        Remembered {
            shards: (0..SHARDS).map(|_| ShortKeyMap::default()).collect(),
        }
    }
}

/// What one transaction changed: the keys it remembered, with what each
/// was before, to put back if its commit fails.
#[derive(Default)]
pub(super) struct Undo(Vec<(Prefix, Option<u64>)>);

impl Remembered {
    /// The keys of the file not expired at `now_ms`.
    pub fn load(
        disk: &Disk,
        read: &redb::ReadTransaction,
        now_ms: u64,
    ) -> Result<Remembered, QueueError> {
        let mut remembered = Remembered::default();
        let table = match read.open_table(DEDUPE_EXPIRY) {
            Ok(table) => table,
            // A file older than the keys: its first commit makes the table.
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(remembered),
            Err(error) => return Err(disk.failed(error)),
        };
        let from = (now_ms, [].as_slice());
        for entry in table.range(from..).map_err(|e| disk.failed(e))? {
            let (key, _) = entry.map_err(|e| disk.failed(e))?;
            let (until, key) = key.value();
            if let Some(prefix) = prefix(key) {
                let kept = remembered.shard(prefix).entry(prefix).or_default();
                *kept = (*kept).max(until);
            }
        }
        Ok(remembered)
    }

    fn shard(&mut self, prefix: Prefix) -> &mut ShortKeyMap<u64> {
        &mut self.shards[(prefix >> 60) as usize % SHARDS]
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.len()).sum()
    }

    /// Whether a delivery may be stored: false when its key is remembered
    /// and not expired; else the key is remembered now (`undo` says so).
    pub fn admit(
        &mut self,
        expiry: &mut ExpiryTable<'_>,
        delivery: Option<(DeliveryKey, std::time::Duration)>,
        now_ms: u64,
        undo: &mut Undo,
    ) -> Result<bool, redb::StorageError> {
        let Some((key, window)) = delivery else {
            return Ok(true);
        };
        let bytes = key.as_bytes().as_slice();
        let Some(prefix) = prefix(bytes) else {
            return Ok(true);
        };
        let shard = self.shard(prefix);
        if shard.get(&prefix).is_some_and(|until| *until > now_ms) {
            return Ok(false);
        }
        let until = now_ms + window.as_millis() as u64;
        expiry.insert((until, bytes), ())?;
        undo.0.push((prefix, shard.insert(prefix, until)));
        Ok(true)
    }

    /// Forgets the changes of a transaction whose commit failed.
    pub fn undo(&mut self, undo: Undo) {
        for (prefix, before) in undo.0.into_iter().rev() {
            let shard = self.shard(prefix);
            match before {
                Some(until) => shard.insert(prefix, until),
                None => shard.remove(&prefix),
            };
        }
    }

    /// Forgets some of the keys whose window has passed, and the oldest
    /// beyond [`MAX_KEYS`], from the file and from memory (a forgotten key
    /// counts as forgotten already, so a failed commit need not put them
    /// back).
    pub fn forget_expired(
        &mut self,
        expiry: &mut ExpiryTable<'_>,
        now_ms: u64,
    ) -> Result<(), redb::StorageError> {
        self.forget_oldest(expiry, now_ms, MAX_KEYS)
    }

    fn forget_oldest(
        &mut self,
        expiry: &mut ExpiryTable<'_>,
        now_ms: u64,
        max_keys: usize,
    ) -> Result<(), redb::StorageError> {
        let over = self.len().saturating_sub(max_keys);
        let forgotten: Vec<(u64, Vec<u8>)> = expiry
            .range((0, [].as_slice())..)?
            .enumerate()
            .take_while(|(index, entry)| {
                *index < over || entry.as_ref().is_ok_and(|(key, _)| key.value().0 < now_ms)
            })
            .take(FORGET_PER_COMMIT.max(over))
            .map(|(_, entry)| entry.map(|(key, _)| (key.value().0, key.value().1.to_vec())))
            .collect::<Result<_, _>>()?;
        for (until, key) in forgotten {
            expiry.remove((until, key.as_slice()))?;
            let Some(prefix) = prefix(&key) else {
                continue;
            };
            let shard = self.shard(prefix);
            // Unless remembered again since, for a later window.
            if shard
                .get(&prefix)
                .is_some_and(|at| *at <= until.max(now_ms))
            {
                shard.remove(&prefix);
            }
        }
        Ok(())
    }
}

/// Whether the file has the table of keys by key earlier versions wrote.
pub(super) fn has_legacy(read: &redb::ReadTransaction) -> Result<bool, redb::StorageError> {
    Ok(read
        .list_tables()?
        .any(|table| table.name() == LEGACY_DEDUPE.name()))
}

/// Drops the table of keys by key, when the file has one (its keys are in
/// the table by expiry).
pub(super) fn drop_legacy(disk: &Disk) -> Result<(), QueueError> {
    let db = disk.db()?;
    let read = db.begin_read().map_err(|e| disk.failed(e))?;
    if !has_legacy(&read).map_err(|e| disk.failed(e))? {
        return Ok(());
    }
    let txn = db.begin_write().map_err(|e| disk.failed(e))?;
    (txn.delete_table(LEGACY_DEDUPE)).map_err(|e| disk.failed(e))?;
    txn.commit().map_err(|e| disk.failed(e))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use redb::ReadableTableMetadata;

    use super::*;

    fn in_memory() -> redb::Database {
        redb::Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .unwrap()
    }

    fn key(n: u8) -> Option<(DeliveryKey, Duration)> {
        let key = DeliveryKey::new("github", Some(&n.to_string()), b"{}");
        Some((key, Duration::from_millis(10)))
    }

    #[test]
    fn keys_are_remembered_for_their_window_then_forgotten_from_both() {
        let db = in_memory();
        let txn = db.begin_write().unwrap();
        let mut table = txn.open_table(DEDUPE_EXPIRY).unwrap();
        let mut remembered = Remembered::default();
        let mut undo = Undo::default();
        let mut admit = |r: &mut Remembered, t: &mut ExpiryTable<'_>, n, now| {
            r.admit(t, key(n), now, &mut undo).unwrap()
        };
        assert!(admit(&mut remembered, &mut table, 1, 1000));
        assert!(!admit(&mut remembered, &mut table, 1, 1009));
        assert!(admit(&mut remembered, &mut table, 2, 1005));
        assert!(admit(&mut remembered, &mut table, 1, 1010), "expired");
        assert_eq!(remembered.len(), 2);

        remembered.forget_expired(&mut table, 1016).unwrap();
        assert_eq!(table.len().unwrap(), 1, "key 2, and key 1's first window");
        assert_eq!(remembered.len(), 1, "key 1 is remembered again");
        remembered.forget_expired(&mut table, 1021).unwrap();
        assert_eq!((table.len().unwrap(), remembered.len()), (0, 0));
    }

    #[test]
    fn beyond_the_bound_the_oldest_keys_are_forgotten_first() {
        let db = in_memory();
        let txn = db.begin_write().unwrap();
        let mut table = txn.open_table(DEDUPE_EXPIRY).unwrap();
        let mut remembered = Remembered::default();
        let mut undo = Undo::default();
        for (n, now) in (1..=5).zip(1000..) {
            assert!(
                remembered
                    .admit(&mut table, key(n), now, &mut undo)
                    .unwrap()
            );
        }
        remembered.forget_oldest(&mut table, 1005, 3).unwrap();
        assert_eq!((table.len().unwrap(), remembered.len()), (3, 3));
        let mut admit = |n| {
            remembered
                .admit(&mut table, key(n), 1005, &mut undo)
                .unwrap()
        };
        assert!(admit(1), "the oldest was forgotten");
        assert!(admit(2), "and the next oldest");
        assert!(!admit(3), "the newer ones are remembered");
        assert!(!admit(5));
    }

    #[test]
    fn a_failed_transaction_s_keys_are_put_back_as_they_were() {
        let db = in_memory();
        let txn = db.begin_write().unwrap();
        let mut table = txn.open_table(DEDUPE_EXPIRY).unwrap();
        let mut remembered = Remembered::default();
        assert!(
            remembered
                .admit(&mut table, key(1), 1000, &mut Undo::default())
                .unwrap()
        );
        let mut undo = Undo::default();
        assert!(
            remembered
                .admit(&mut table, key(1), 1010, &mut undo)
                .unwrap()
        );
        assert!(
            remembered
                .admit(&mut table, key(2), 1010, &mut undo)
                .unwrap()
        );
        remembered.undo(undo);
        assert_eq!(remembered.len(), 1);
        let mut undo = Undo::default();
        assert!(
            remembered
                .admit(&mut table, key(2), 1011, &mut undo)
                .unwrap()
        );
        assert!(
            remembered
                .admit(&mut table, key(1), 1011, &mut undo)
                .unwrap(),
            "expired at 1010"
        );
    }
}
