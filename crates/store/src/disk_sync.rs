//! Making a flushed commit durable below the page cache.
//!
//! sled 0.34 ends a flush with `sync_file_range` on its log (its
//! `pagecache/iobuf.rs`). Per the Linux man page that call flushes neither
//! the drive's write cache nor the file's metadata, and sled never syncs the
//! files it writes large values to (`blobs/`). A commit it calls durable
//! survives a killed process, but not a power loss. With [`SyncMode::Full`]
//! (the default) every flush is followed by an `fdatasync` of the log, of
//! each blob file written since the last one, and of the blob folder; the
//! store's group commit shares that sync among every commit waiting on it.

use serde::Deserialize;
use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// How far a flush goes before a commit is reported durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncMode {
    /// sled's flush, then `fdatasync` of everything it wrote: a durable
    /// commit survives a power loss.
    #[default]
    Full,
    /// sled's flush alone (`sync_file_range`): a durable commit survives the
    /// process being killed, not a power loss or a drive's volatile cache.
    Range,
}

/// The files a [`SyncMode::Full`] flush syncs, and how many syncs it made.
pub(crate) struct DiskSync {
    mode: SyncMode,
    log: Option<File>,
    blobs: PathBuf,
    pub(crate) synced_blobs: Mutex<HashSet<std::ffi::OsString>>,
    syncs: AtomicU64,
}

impl DiskSync {
    /// Opens what a full sync needs in sled's folder `path` (which sled has
    /// just opened, so its log exists), and makes the folder's entries
    /// durable.
    pub(crate) fn open(path: &Path, mode: SyncMode) -> io::Result<DiskSync> {
        let log = match mode {
            SyncMode::Full => {
                sync_dir(path)?;
                Some(File::open(path.join("db"))?)
            }
            SyncMode::Range => None,
        };
        Ok(DiskSync {
            mode,
            log,
            blobs: path.join("blobs"),
            synced_blobs: Mutex::new(HashSet::new()),
            syncs: AtomicU64::new(0),
        })
    }

    /// After sled's flush: syncs the log, new blob files and their folder.
    pub(crate) fn after_flush(&self) -> io::Result<()> {
        let Some(log) = &self.log else {
            return Ok(());
        };
        log.sync_data()?;
        self.sync_new_blobs()?;
        self.syncs.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn sync_new_blobs(&self) -> io::Result<()> {
        let entries = match std::fs::read_dir(&self.blobs) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err),
        };
        let mut synced = self.synced_blobs.lock().unwrap_or_else(|e| e.into_inner());
        let mut present = HashSet::new();
        let mut any_new = false;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            if !synced.contains(&name) {
                match File::open(entry.path()) {
                    Ok(file) => file.sync_data()?,
                    // sled removed it meanwhile: nothing to keep.
                    Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                    Err(err) => return Err(err),
                }
                any_new = true;
            }
            present.insert(name);
        }
        if any_new {
            sync_dir(&self.blobs)?;
        }
        // Forget blobs sled has removed.
        *synced = present;
        Ok(())
    }

    /// How many full syncs were made (0 with [`SyncMode::Range`]).
    pub(crate) fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::SeqCst)
    }

    /// The mode this store syncs with.
    pub(crate) fn mode(&self) -> SyncMode {
        self.mode
    }
}

/// Makes a folder's entries (files created or removed in it) durable.
fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::SyncMode;
    use crate::conformance::sample_run;
    use crate::{Batch, SledStore, Store, StoreExt};

    fn tempdir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("cordon-sync-test-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn a_full_sync_follows_every_flush_and_covers_blob_files() {
        let dir = tempdir();
        let store = SledStore::open_with(&dir, SyncMode::Full).unwrap();
        let before = store.disk_syncs();
        for i in 0..3 {
            store
                .commit(Batch::new().run(&sample_run(&format!("r{i}"), i)))
                .await
                .unwrap();
        }
        assert_eq!(store.disk_syncs() - before, 3, "one sync per commit");

        // A value this large goes to a blob file of its own, which sled
        // never syncs: the full sync does.
        let mut big = sample_run("big", 9);
        big.signal_source = "x".repeat(4 << 20);
        store.commit(Batch::new().run(&big)).await.unwrap();
        let blobs: Vec<_> = std::fs::read_dir(dir.join("blobs"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(!blobs.is_empty(), "sled wrote a blob");
        let synced = store.disk.synced_blobs.lock().unwrap().clone();
        for blob in &blobs {
            assert!(synced.contains(blob), "{blob:?} was synced");
        }
    }

    #[tokio::test]
    async fn the_range_mode_leaves_durability_to_sled() {
        let store = SledStore::open_with(&tempdir(), SyncMode::Range).unwrap();
        store
            .commit(Batch::new().run(&sample_run("r", 1)))
            .await
            .unwrap();
        assert_eq!(store.disk_syncs(), 0);
        assert_eq!(store.sync_mode(), SyncMode::Range);
        assert_eq!(store.run("r").unwrap().run_id, "r");
    }
}
