//! The delivery keys the embedded store remembers, to store a delivery once.
//! The store thread keeps them in memory, as the first 128 bits of each key
//! (SHA-256 output: two keys share them with odds of about n²/2¹²⁹) mapped
//! to its expiry, and the file keeps them only by expiry (`dedupe_expiry`,
//! time-ordered: appending a key touches the tree's last leaf, not a random
//! one). A key is remembered in the same transaction as its delivery's jobs;
//! when that commit fails, the keys it added are forgotten again. Opening
//! loads the keys not expired; expired keys are forgotten from both, a few
//! per commit. Files written before kept the keys by key too (`dedupe`):
//! the same keys, so loading by expiry honours them; that table is dropped.

use std::collections::HashMap;

use redb::{ReadableTable, TableDefinition, TableHandle};

use crate::queue::DeliveryKey;

/// Delivery keys remembered, by expiry (ms).
pub(super) const DEDUPE_EXPIRY: TableDefinition<(u64, &[u8]), ()> =
    TableDefinition::new("dedupe_expiry");

/// The same keys by key, written by earlier versions (key → expiry).
pub(super) const LEGACY_DEDUPE: TableDefinition<&[u8], u64> = TableDefinition::new("dedupe");

/// How many expired delivery keys one commit forgets at most.
const FORGET_PER_COMMIT: usize = 256;

/// The table of the keys by expiry, in a write transaction.
pub(super) type ExpiryTable<'txn> = redb::Table<'txn, (u64, &'static [u8]), ()>;

/// The first 128 bits of a key.
type Prefix = (u64, u64);

fn prefix(key: &[u8]) -> Option<Prefix> {
    let high = u64::from_be_bytes(key.get(..8)?.try_into().ok()?);
    let low = u64::from_be_bytes(key.get(8..16)?.try_into().ok()?);
    Some((high, low))
}

/// The keys remembered, and until when (ms).
#[derive(Default)]
pub(super) struct Remembered {
    keys: HashMap<Prefix, u64>,
}

/// What one transaction changed: the keys it remembered, with what each
/// was before, to put back if its commit fails.
#[derive(Default)]
pub(super) struct Undo(Vec<(Prefix, Option<u64>)>);

impl Remembered {
    /// The keys of the file not expired at `now_ms`.
    pub fn load(read: &redb::ReadTransaction, now_ms: u64) -> Result<Remembered, redb::Error> {
        let table = read.open_table(DEDUPE_EXPIRY)?;
        let mut remembered = Remembered::default();
        for entry in table.range((now_ms, [].as_slice())..)? {
            let (key, _) = entry?;
            let (until, key) = key.value();
            if let Some(prefix) = prefix(key) {
                let kept = remembered.keys.entry(prefix).or_default();
                *kept = (*kept).max(until);
            }
        }
        Ok(remembered)
    }

    /// How many keys are remembered.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.keys.len()
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
        if self.keys.get(&prefix).is_some_and(|until| *until > now_ms) {
            return Ok(false);
        }
        let until = now_ms + window.as_millis() as u64;
        expiry.insert((until, bytes), ())?;
        undo.0.push((prefix, self.keys.insert(prefix, until)));
        Ok(true)
    }

    /// Forgets the changes of a transaction whose commit failed.
    pub fn undo(&mut self, undo: Undo) {
        for (prefix, before) in undo.0.into_iter().rev() {
            match before {
                Some(until) => self.keys.insert(prefix, until),
                None => self.keys.remove(&prefix),
            };
        }
    }

    /// Forgets some of the keys whose window has passed, from the file and
    /// from memory (an expired key counts as forgotten already, so a
    /// failed commit need not put them back).
    pub fn forget_expired(
        &mut self,
        expiry: &mut ExpiryTable<'_>,
        now_ms: u64,
    ) -> Result<(), redb::StorageError> {
        let expired: Vec<(u64, Vec<u8>)> = expiry
            .range((0, [].as_slice())..(now_ms, [].as_slice()))?
            .take(FORGET_PER_COMMIT)
            .map(|entry| entry.map(|(key, _)| (key.value().0, key.value().1.to_vec())))
            .collect::<Result<_, _>>()?;
        for (until, key) in expired {
            expiry.remove((until, key.as_slice()))?;
            if let Some(prefix) = prefix(&key)
                && self.keys.get(&prefix).is_some_and(|at| *at <= now_ms)
            {
                self.keys.remove(&prefix);
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

/// Drops the table of keys by key (its keys are in the table by expiry).
pub(super) fn drop_legacy(txn: &redb::WriteTransaction) -> Result<(), redb::TableError> {
    txn.delete_table(LEGACY_DEDUPE)?;
    Ok(())
}
