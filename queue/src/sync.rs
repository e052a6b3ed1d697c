//! Durability against an OS crash: the fsync thread, which syncs the written
//! segments, the checkpoint and the directory every `fsync_interval`, and the
//! final sync when the queue is dropped.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::error::QueueError;
use crate::state::{lock, Inner};

/// Tells the fsync thread to stop. Shared apart from [`Inner`], so that the
/// waiting thread does not keep the queue alive.
pub(crate) struct SyncControl {
    stop: Mutex<bool>,
    wake: Condvar,
}

impl SyncControl {
    pub fn new() -> Arc<Self> {
        Arc::new(SyncControl { stop: Mutex::new(false), wake: Condvar::new() })
    }
}

/// Starts the thread that syncs the queue every `interval`, until the queue
/// is dropped or closed.
pub(crate) fn start_syncer(inner: &Arc<Inner>, interval: Duration) -> Result<(), QueueError> {
    let weak = Arc::downgrade(inner);
    let control = inner.syncer.clone();
    std::thread::Builder::new()
        .name("queue-fsync".into())
        .spawn(move || loop {
            let stop = lock(&control.stop);
            let (stop, _) = control.wake.wait_timeout(stop, interval).unwrap_or_else(|p| p.into_inner());
            if *stop {
                return;
            }
            drop(stop);
            let Some(inner) = weak.upgrade() else { return };
            if let Err(e) = inner.sync_now() {
                tracing::error!(queue = %inner.config.name, error = %e, "periodic queue fsync failed");
            }
        })
        .map(|_| ())
        .map_err(QueueError::SyncThread)
}

impl Inner {
    /// Forces what was written so far to stable storage.
    pub(crate) fn sync_now(&self) -> Result<(), QueueError> {
        let (file, unsynced, dir_dirty) = {
            let w = lock(&self.writer);
            let mut s = lock(&self.shared);
            (w.file.clone(), std::mem::take(&mut s.unsynced), std::mem::take(&mut s.dir_dirty))
        };
        let dir = &self.config.dir;
        for f in unsynced.iter().chain([&file]) {
            f.sync_data().map_err(QueueError::io("syncing queue segment in", dir))?;
        }
        self.checkpoint_file.sync_data().map_err(QueueError::io("syncing checkpoint in", dir))?;
        if dir_dirty {
            self.work_dir.sync().map_err(QueueError::io("syncing directory", dir))?;
        }
        Ok(())
    }

    pub(crate) fn stop_syncer(&self) {
        *lock(&self.syncer.stop) = true;
        self.syncer.wake.notify_all();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_syncer();
        if let Err(e) = self.sync_now() {
            tracing::error!(queue = %self.config.name, error = %e, "final queue sync failed");
        }
    }
}
