//! Test only: a redb file whose writes fail on demand, to drive the store's
//! recovery without a full filesystem. [`Fault::Full`] refuses what a full
//! tmpfs refuses: a write to a block of the file never written before
//! (growing the file is allowed, as it only makes a hole) — so a file is
//! to be made through the same switch;
//! [`Fault::SyncOnce`] fails the next fsync only, after every page of the
//! commit was written; [`Fault::Broken`] fails every write.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use redb::backends::FileBackend;
use redb::{Database, StorageBackend};

use super::EmbeddedQueue;
use crate::queue::QueueError;

/// What the file does wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Fault {
    /// Nothing.
    None = 0,
    /// "No space left on device" for every write but the header's.
    Full = 1,
    /// The next fsync fails (then nothing).
    SyncOnce = 2,
    /// Every write fails ("Input/output error"): a failing device.
    Broken = 3,
}

/// The size of a block the filesystem allocates.
const BLOCK: u64 = 4096;

/// Switches the fault of the files opened with it, and remembers which
/// blocks of the file hold data.
#[derive(Debug, Clone, Default)]
pub(crate) struct FaultSwitch {
    fault: Arc<AtomicU8>,
    written: Arc<Mutex<HashSet<u64>>>,
}

impl FaultSwitch {
    pub fn set(&self, fault: Fault) {
        self.fault.store(fault as u8, Ordering::SeqCst);
    }

    /// Records a write; false when it needs a block a full disk has not got.
    fn write(&self, offset: u64, len: usize) -> bool {
        let blocks = offset / BLOCK..(offset + len as u64).div_ceil(BLOCK);
        let mut written = self.written.lock().unwrap();
        if self.get() == Fault::Full && blocks.clone().any(|block| !written.contains(&block)) {
            return false;
        }
        written.extend(blocks);
        true
    }

    fn get(&self) -> Fault {
        match self.fault.load(Ordering::SeqCst) {
            1 => Fault::Full,
            2 => Fault::SyncOnce,
            3 => Fault::Broken,
            _ => Fault::None,
        }
    }
}

#[derive(Debug)]
struct Faulty {
    file: FileBackend,
    switch: FaultSwitch,
}

fn no_space() -> std::io::Error {
    std::io::Error::from_raw_os_error(28)
}

impl StorageBackend for Faulty {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.file.len()
    }

    fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>, std::io::Error> {
        self.file.read(offset, len)
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.file.set_len(len)
    }

    fn sync_data(&self, eventual: bool) -> Result<(), std::io::Error> {
        if self.switch.get() == Fault::SyncOnce {
            self.switch.set(Fault::None);
            return Err(std::io::Error::from_raw_os_error(5));
        }
        self.file.sync_data(eventual)
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        if self.switch.get() == Fault::Broken {
            return Err(std::io::Error::from_raw_os_error(5));
        }
        if !self.switch.write(offset, data.len()) {
            return Err(no_space());
        }
        self.file.write(offset, data)
    }
}

impl EmbeddedQueue {
    /// Opens the store in `dir` on a file that fails as `switch` says.
    pub(crate) async fn open_faulty(
        dir: &Path,
        switch: &FaultSwitch,
    ) -> Result<EmbeddedQueue, QueueError> {
        let switch = switch.clone();
        let opener = Arc::new(move |path: &Path| {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)?;
            let file = FileBackend::new(file)?;
            let switch = switch.clone();
            Database::builder()
                .set_cache_size(super::recovery::CACHE_BYTES)
                .create_with_backend(Faulty { file, switch })
        });
        EmbeddedQueue::open_with(dir, opener).await
    }
}
