//! The history's writer task: it takes records from the bounded channel
//! [`History::record`](super::History::record) feeds, in batches, stores
//! them and deletes those past the retention. It is woken by the first
//! record of a batch, then sleeps out [`GATHER`] — or until the senders
//! say the channel holds a full batch ([`Wakeup`]) — rather than being
//! woken for every record: under load a webhook costs no wake-up of it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use super::{Record, Store};
use crate::job::now;
use crate::telemetry;

/// The most records one write takes.
pub(super) const MAX_BATCH: usize = 1024;

/// How long the writer gathers records before it writes them: a few
/// transactions a second, however many events arrive.
const GATHER: Duration = Duration::from_millis(250);

/// How many job ids and URLs the channel may hold before the writer is
/// woken (about 1 MB): a drain's calls cover a thousand jobs each, and
/// a quarter of a second of them would otherwise sit in memory.
const MAX_ITEMS: usize = 16_384;

/// How the senders wake the writer before its [`GATHER`] is out: when the
/// channel holds a full batch (in records, or in the ids and URLs they
/// carry), or when the last handle is gone.
pub(super) struct Wakeup {
    notify: Notify,
    /// Records in the channel at which a batch is full.
    full_at: usize,
    /// Ids and URLs sent since the writer last took what was sent.
    items: AtomicUsize,
}

impl Wakeup {
    /// A wake-up for a channel of `capacity` records.
    pub fn new(capacity: usize) -> Arc<Wakeup> {
        Arc::new(Wakeup {
            notify: Notify::new(),
            full_at: MAX_BATCH.min(capacity.div_ceil(2)).max(1),
            items: AtomicUsize::new(0),
        })
    }

    /// Called after a record carrying `items` ids and URLs was sent on
    /// `sender`.
    pub fn sent(&self, sender: &mpsc::Sender<Record>, items: usize) {
        let items = self.items.fetch_add(items, Ordering::Relaxed) + items;
        if sender.max_capacity() - sender.capacity() >= self.full_at || items >= MAX_ITEMS {
            self.notify.notify_one();
        }
    }

    /// Called when the last handle is gone: the writer stores what is left.
    pub fn closing(&self) {
        self.notify.notify_one();
    }
}

/// The writer: batches records into the store, prunes the old.
pub(super) struct Writer {
    pub store: Store,
    pub retention: Duration,
    pub prune_every: Duration,
    pub wakeup: Arc<Wakeup>,
}

impl Writer {
    /// Runs until every sender is gone and what they sent is stored.
    pub async fn run(self, mut receiver: mpsc::Receiver<Record>) {
        let mut prune = tokio::time::interval(self.prune_every);
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            tokio::select! {
                _ = prune.tick() => self.prune().await,
                count = receiver.recv_many(&mut batch, MAX_BATCH) => {
                    if count == 0 {
                        return;
                    }
                    let open = self.gather(&mut receiver, &mut batch).await;
                    self.write(&mut batch).await;
                    if !open {
                        return;
                    }
                }
            }
        }
    }

    /// Adds to `batch` what arrives within [`GATHER`] (up to
    /// [`MAX_BATCH`]); false once every sender is gone.
    async fn gather(&self, receiver: &mut mpsc::Receiver<Record>, batch: &mut Vec<Record>) -> bool {
        if batch.len() < MAX_BATCH {
            tokio::select! {
                () = tokio::time::sleep_until(Instant::now() + GATHER) => {}
                () = self.wakeup.notify.notified() => {}
            }
        }
        self.wakeup.items.store(0, Ordering::Relaxed);
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(record) => batch.push(record),
                Err(mpsc::error::TryRecvError::Empty) => return true,
                Err(mpsc::error::TryRecvError::Disconnected) => return false,
            }
        }
        true
    }

    async fn write(&self, batch: &mut Vec<Record>) {
        if let Err(error) = self.store.write(batch).await {
            tracing::warn!(%error, records = batch.len(), "history records not stored");
            telemetry::history_dropped("store", batch.len() as u64);
        }
        batch.clear();
    }

    async fn prune(&self) {
        let now_ms = u64::try_from(now().as_millisecond()).unwrap_or(0);
        let before = now_ms.saturating_sub(self.retention.as_millis() as u64);
        match self.store.prune(before).await {
            Ok(0) => {}
            Ok(removed) => tracing::debug!(removed, "old history records deleted"),
            Err(error) => tracing::warn!(%error, "old history records not deleted"),
        }
    }
}
