//! The embedded backend: one sled database, one tree per record type.
//!
//! A batch is written under the store's write lock (which also serialises
//! the audit chain's tail) through a journal entry, so a crash keeps either
//! all of it or none of it (see [`crate::journal`]). Flushes are shared by
//! concurrent committers (group commit).

use crate::audit::{self, AuditRecord, GENESIS, Head};
use crate::batch::{Batch, LedgerCounts, LedgerKey};
use crate::disk_sync::{DiskSync, SyncMode};
use crate::journal::{TreeId, Writes};
use crate::{Store, StoreError, StoreFuture, ledger};
use cordon_types::{ActionRecord, FactsRecord, GrantRecord, IncidentRecord, RunRecord, now_ms};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

fn sync_failed(err: std::io::Error) -> StoreError {
    StoreError::Io(format!("cannot sync the store's files to disk: {err}"))
}

/// Where the audit head (last seq and hash) is kept, in the `meta` tree.
const HEAD_KEY: &[u8] = b"audit.head";

/// The most memory sled's page cache may hold.
const STORE_CACHE_BYTES: u64 = 32 << 20;

/// The sled store.
pub struct SledStore {
    db: sled::Db,
    trees: Trees,
    path: PathBuf,
    /// Where the next write goes; every write holds it.
    tail: Mutex<Tail>,
    written: AtomicU64,
    flushed: AtomicU64,
    flush_lock: tokio::sync::Mutex<()>,
    pub(crate) disk: std::sync::Arc<DiskSync>,
    failpoint: Option<u64>,
}

/// The state writes continue from.
struct Tail {
    /// The audit chain's next seq.
    seq: u64,
    /// The audit chain's last hash.
    hash: String,
    /// The next journal entry's number.
    journal: u64,
    /// A write failed after its journal entry was written.
    broken: bool,
}

struct Trees {
    runs: sled::Tree,
    actions: sled::Tree,
    grants: sled::Tree,
    incidents: sled::Tree,
    facts: sled::Tree,
    audit: sled::Tree,
    meta: sled::Tree,
    ledger: sled::Tree,
    /// Batches being written (see [`crate::journal`]).
    journal: sled::Tree,
}

impl Trees {
    fn tree(&self, id: TreeId) -> &sled::Tree {
        match id {
            TreeId::Runs => &self.runs,
            TreeId::Actions => &self.actions,
            TreeId::Grants => &self.grants,
            TreeId::Incidents => &self.incidents,
            TreeId::Facts => &self.facts,
            TreeId::Audit => &self.audit,
            TreeId::Meta => &self.meta,
            TreeId::Ledger => &self.ledger,
        }
    }

    fn apply(&self, writes: &Writes) -> Result<(), StoreError> {
        for (tree, key, value) in writes.iter() {
            self.tree(tree).insert(key, value)?;
        }
        Ok(())
    }

    /// Applies again the batches a crash interrupted; returns how many.
    fn recover(&self) -> Result<usize, StoreError> {
        let mut recovered = 0;
        for entry in self.journal.iter() {
            let (key, value) = entry?;
            let writes = Writes::decode(&value).map_err(|message| StoreError::Corrupt {
                key: format!("journal entry {}", key_seq(&key)),
                message,
            })?;
            self.apply(&writes)?;
            self.journal.remove(key)?;
            recovered += 1;
        }
        Ok(recovered)
    }
}

impl SledStore {
    /// Opens (or creates) the store, syncing with [`SyncMode::Full`]; fails
    /// at once if another process holds it.
    pub fn open(path: &Path) -> Result<SledStore, StoreError> {
        SledStore::open_with(path, SyncMode::Full)
    }

    /// Opens (or creates) the store, making flushes durable as `sync` says.
    pub fn open_with(path: &Path, sync: SyncMode) -> Result<SledStore, StoreError> {
        let db = sled::Config::new()
            .path(path)
            // Durability comes from explicit flushes; no background flusher needed.
            .flush_every_ms(None)
            // sled keeps pages it wrote in its cache (1 GiB by default), so
            // a run's memory would grow with its records; what a run reads
            // back fits in far less.
            .cache_capacity(STORE_CACHE_BYTES)
            .open()
            .map_err(|err| match &err {
                sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                    StoreError::Locked(path.to_path_buf())
                }
                _ => StoreError::Open {
                    path: path.to_path_buf(),
                    message: err.to_string(),
                },
            })?;
        let trees = Trees {
            runs: db.open_tree("runs")?,
            actions: db.open_tree("actions")?,
            grants: db.open_tree("grants")?,
            incidents: db.open_tree("incidents")?,
            facts: db.open_tree("facts")?,
            audit: db.open_tree("audit")?,
            meta: db.open_tree("meta")?,
            ledger: db.open_tree("ledger")?,
            journal: db.open_tree("journal")?,
        };
        let disk = DiskSync::open(path, sync).map_err(|err| StoreError::Open {
            path: path.to_path_buf(),
            message: format!("cannot open its files to sync them: {err}"),
        })?;
        if trees.recover()? > 0 {
            db.flush()?;
            disk.after_flush().map_err(sync_failed)?;
        }
        let (seq, hash) = match trees.audit.last()? {
            Some((key, value)) => {
                let seq = key_seq(&key);
                let last = audit::decode(seq, &value)?;
                (last.seq + 1, last.hash)
            }
            None => (1, GENESIS.to_string()),
        };
        let tail = Tail {
            seq,
            hash,
            journal: 0,
            broken: false,
        };
        Ok(SledStore {
            db,
            trees,
            path: path.to_path_buf(),
            tail: Mutex::new(tail),
            written: AtomicU64::new(0),
            flushed: AtomicU64::new(0),
            flush_lock: tokio::sync::Mutex::new(()),
            disk: std::sync::Arc::new(disk),
            failpoint: failpoint(),
        })
    }

    /// The store's folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes synchronously (for code outside the async runtime).
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        self.disk.after_flush().map_err(sync_failed)
    }

    /// How this store makes flushes durable.
    pub fn sync_mode(&self) -> SyncMode {
        self.disk.mode()
    }

    /// How many `fdatasync` rounds flushes have made since the store was
    /// opened (group commit shares one among concurrent commits).
    pub fn disk_syncs(&self) -> u64 {
        self.disk.syncs()
    }

    /// Commits one write: its journal entry, its writes, the entry's removal
    /// (see [`crate::journal`]), all under the tail lock.
    fn write(&self, write: Write<'_>) -> Result<(), StoreError> {
        let mut tail = self.tail.lock().map_err(|_| poisoned())?;
        if tail.broken {
            return Err(StoreError::Io(
                "an earlier write failed halfway; reopen the store to recover it".into(),
            ));
        }
        let t = &self.trees;
        let built;
        let batch = match write {
            Write::Batch(batch) => batch,
            Write::Guarded(key, build) => {
                let counts = ledger::counts(
                    key,
                    t.ledger.get(ledger::run_key(&key.run_id))?.as_deref(),
                    t.ledger.get(ledger::domain_key(&key.domain))?.as_deref(),
                );
                built = build(counts);
                &built
            }
        };
        if let Some(seq) = self.failpoint
            && (tail.seq..tail.seq + batch.audit.len() as u64).contains(&seq)
        {
            return Err(StoreError::AuditUnavailable(format!(
                "cannot append audit record {seq} (CORDON_FAILPOINT_AUDIT)"
            )));
        }

        let (writes, seq, prev) = self.writes(&tail, batch)?;
        if writes.is_empty() {
            return Ok(());
        }

        let entry = tail.journal.to_be_bytes();
        t.journal.insert(entry, writes.encode())?;
        // From here on a failure leaves the batch half applied in memory
        // (the journal entry completes it on reopen): refuse later writes.
        tail.broken = true;
        t.apply(&writes)?;
        t.journal.remove(entry)?;
        tail.broken = false;
        tail.journal += 1;
        tail.seq = seq;
        tail.hash = prev;
        self.written.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// The writes of `batch` after `tail`, with the audit chain's new
    /// next seq and last hash.
    fn writes(&self, tail: &Tail, batch: &Batch) -> Result<(Writes, u64, String), StoreError> {
        let t = &self.trees;
        let mut writes = Writes::default();
        for run in &batch.runs {
            writes.put(TreeId::Runs, run.run_id.as_bytes(), json(run));
        }
        for action in &batch.actions {
            let key = action_key(&action.run_id, &action.key);
            writes.put(TreeId::Actions, key, json(action));
        }
        for grant in &batch.grants {
            writes.put(TreeId::Grants, grant.id.as_bytes(), json(grant));
        }
        for incident in &batch.incidents {
            writes.put(TreeId::Incidents, incident.id.as_bytes(), json(incident));
        }
        for fact in &batch.facts {
            let key = facts_key(&fact.run_id, fact.identity);
            writes.put(TreeId::Facts, key, json(fact));
        }
        for charge in &batch.charges {
            let current = |key: &[u8]| -> Result<Option<Vec<u8>>, StoreError> {
                Ok(match writes.pending(TreeId::Ledger, key) {
                    Some(value) => Some(value.to_vec()),
                    None => t.ledger.get(key)?.map(|v| v.to_vec()),
                })
            };
            for (key, value) in ledger::charge(charge, current)? {
                writes.put(TreeId::Ledger, key, value);
            }
        }
        // The audit records and the head last, so a reader that sees the
        // head also sees every record it covers.
        let (mut seq, mut prev) = (tail.seq, tail.hash.clone());
        let at = now_ms();
        for entry in &batch.audit {
            let record = AuditRecord::seal(seq, at, entry, &prev);
            writes.put(TreeId::Audit, seq.to_be_bytes(), record.encode());
            prev = record.hash;
            seq += 1;
        }
        if !batch.audit.is_empty() {
            let head = Head {
                seq: seq - 1,
                hash: prev.clone(),
            };
            writes.put(TreeId::Meta, HEAD_KEY, json(&head));
        }
        Ok((writes, seq, prev))
    }

    fn all<T: serde::de::DeserializeOwned>(&self, tree: &sled::Tree) -> Result<Vec<T>, StoreError> {
        tree.iter()
            .map(|entry| {
                let (key, value) = entry?;
                decode(&String::from_utf8_lossy(&key), &value)
            })
            .collect()
    }
}

impl Store for SledStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn run(&self, run_id: &str) -> Result<RunRecord, StoreError> {
        match self.trees.runs.get(run_id.as_bytes())? {
            Some(bytes) => decode(run_id, &bytes),
            None => Err(StoreError::NoSuchRun(run_id.to_string())),
        }
    }

    fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let mut runs: Vec<RunRecord> = self.all(&self.trees.runs)?;
        runs.sort_by(|a, b| (a.started_at, &a.run_id).cmp(&(b.started_at, &b.run_id)));
        Ok(runs)
    }

    fn action(&self, run_id: &str, key: &str) -> Result<Option<ActionRecord>, StoreError> {
        let id = action_key(run_id, key);
        match self.trees.actions.get(&id)? {
            Some(bytes) => decode(&String::from_utf8_lossy(&id), &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn actions(&self, run_id: &str) -> Result<Vec<ActionRecord>, StoreError> {
        let prefix = action_key(run_id, "");
        let mut actions = self
            .trees
            .actions
            .scan_prefix(&prefix)
            .map(|entry| {
                let (key, value) = entry?;
                decode(&String::from_utf8_lossy(&key), &value)
            })
            .collect::<Result<Vec<ActionRecord>, _>>()?;
        actions.sort_by_key(|a| a.seq);
        Ok(actions)
    }

    fn grants(&self) -> Result<Vec<GrantRecord>, StoreError> {
        let mut grants: Vec<GrantRecord> = self.all(&self.trees.grants)?;
        grants.sort_by_key(|g| g.created_at);
        Ok(grants)
    }

    fn incident(&self, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
        match self.trees.incidents.get(id.as_bytes())? {
            Some(bytes) => decode(id, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn facts(&self, run_id: &str) -> Result<Vec<FactsRecord>, StoreError> {
        self.trees
            .facts
            .scan_prefix(format!("{run_id}/").as_bytes())
            .map(|entry| {
                let (key, value) = entry?;
                decode(&String::from_utf8_lossy(&key), &value)
            })
            .collect()
    }

    fn audit_entries(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.trees
            .audit
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                Ok((key_seq(&key), value.to_vec()))
            })
            .collect()
    }

    fn audit_range(&self, from: u64, to: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.trees
            .audit
            .range(from.to_be_bytes()..=to.to_be_bytes())
            .map(|entry| {
                let (key, value) = entry?;
                Ok((key_seq(&key), value.to_vec()))
            })
            .collect()
    }

    fn audit_head(&self) -> Result<Option<Head>, StoreError> {
        match self.trees.meta.get(HEAD_KEY)? {
            Some(bytes) => decode("audit head", &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        self.write(Write::Batch(&batch))
    }

    fn apply_guarded(
        &self,
        key: &LedgerKey,
        build: &mut (dyn FnMut(LedgerCounts) -> Batch + Send),
    ) -> Result<(), StoreError> {
        self.write(Write::Guarded(key, build))
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let wanted = self.written.load(Ordering::SeqCst);
            if self.flushed.load(Ordering::SeqCst) >= wanted {
                return Ok(());
            }
            let _turn = self.flush_lock.lock().await;
            if self.flushed.load(Ordering::SeqCst) >= wanted {
                return Ok(());
            }
            let upto = self.written.load(Ordering::SeqCst);
            let db = self.db.clone();
            let disk = self.disk.clone();
            tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
                db.flush()?;
                disk.after_flush().map_err(sync_failed)
            })
            .await
            .map_err(|err| StoreError::Io(format!("the flush task failed: {err}")))??;
            self.flushed.fetch_max(upto, Ordering::SeqCst);
            Ok(())
        })
    }
}

/// What one write commits: a batch as given, or one built under the tail
/// lock from the ledger's counts.
enum Write<'a> {
    Batch(&'a Batch),
    Guarded(
        &'a LedgerKey,
        &'a mut (dyn FnMut(LedgerCounts) -> Batch + Send),
    ),
}

fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialize")
}

fn poisoned() -> StoreError {
    StoreError::Io("a writer panicked while holding the store's write lock".into())
}

fn key_seq(key: &[u8]) -> u64 {
    key.try_into().map(u64::from_be_bytes).unwrap_or(u64::MAX)
}

fn action_key(run_id: &str, key: &str) -> Vec<u8> {
    format!("{run_id}/{key}").into_bytes()
}

fn facts_key(run_id: &str, identity: usize) -> Vec<u8> {
    format!("{run_id}/{identity:08}").into_bytes()
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|err| StoreError::Corrupt {
        key: key.to_string(),
        message: err.to_string(),
    })
}

/// The test hook `CORDON_FAILPOINT_AUDIT=N`: the commit that would append
/// audit record N fails, as a full or broken disk would. Only with the
/// `failpoints` feature.
#[cfg(feature = "failpoints")]
fn failpoint() -> Option<u64> {
    std::env::var("CORDON_FAILPOINT_AUDIT")
        .ok()
        .and_then(|v| v.parse().ok())
}

#[cfg(not(feature = "failpoints"))]
fn failpoint() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreExt;
    use crate::conformance::sample_run as run;

    #[tokio::test]
    async fn commits_survive_reopening() {
        let dir = tempdir();
        {
            let store = SledStore::open(&dir).unwrap();
            store
                .commit(Batch::new().run(&run("b", 2)).run(&run("a", 1)))
                .await
                .unwrap();
        }
        let store = SledStore::open(&dir).unwrap();
        let ids: Vec<_> = store
            .runs()
            .unwrap()
            .into_iter()
            .map(|r| r.run_id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[tokio::test]
    async fn the_sled_store_passes_the_conformance_suite() {
        crate::conformance::run_all(|| {
            std::sync::Arc::new(SledStore::open(&tempdir()).unwrap()) as std::sync::Arc<dyn Store>
        })
        .await;
    }

    #[tokio::test]
    async fn a_batch_cut_short_after_its_journal_entry_is_completed_on_reopen() {
        use crate::conformance::sample_action;
        use cordon_types::{AuditEntry, AuditEvent};
        let event = |n: u32| {
            AuditEntry::new(AuditEvent::GrantRevoked {
                grant: format!("grant-{n}"),
                from: "someone".into(),
            })
        };
        let dir = tempdir();
        {
            let store = SledStore::open(&dir).unwrap();
            store
                .commit(Batch::new().run(&run("a", 1)).audit(event(1)))
                .await
                .unwrap();
            // As if the process died while applying the next batch: its
            // journal entry and only its first write reached the disk.
            let batch = Batch::new()
                .action(&sample_action("a", "k", 0))
                .audit(event(2))
                .audit(event(3));
            let tail = store.tail.lock().unwrap();
            let (writes, _, _) = store.writes(&tail, &batch).unwrap();
            store
                .trees
                .journal
                .insert(0u64.to_be_bytes(), writes.encode())
                .unwrap();
            let (tree, key, value) = writes.iter().next().unwrap();
            store.trees.tree(tree).insert(key, value).unwrap();
            drop(tail);
            store.flush_blocking().unwrap();
        }
        let store = SledStore::open(&dir).unwrap();
        assert!(
            store.trees.journal.is_empty(),
            "the entry is applied and removed"
        );
        assert_eq!(
            store.action("a", "k").unwrap(),
            Some(sample_action("a", "k", 0))
        );
        assert_eq!(store.audit_head().unwrap().map(|h| h.seq), Some(3));
        let verified = store.verify_audit().unwrap();
        assert_eq!((verified.records, verified.first_break), (3, None));
        // Writing goes on from the recovered chain.
        store.commit(Batch::new().audit(event(4))).await.unwrap();
        assert_eq!(store.audit_head().unwrap().map(|h| h.seq), Some(4));
        assert_eq!(store.verify_audit().unwrap().first_break, None);
    }

    #[test]
    fn a_second_opener_gets_a_clear_error() {
        let dir = tempdir();
        let _first = SledStore::open(&dir).unwrap();
        // sled's lock is per process and file; a second open in the same
        // process also fails, as a second process would.
        match SledStore::open(&dir) {
            Err(StoreError::Locked(path)) => assert_eq!(path, dir),
            Err(other) => panic!("unexpected error: {other}"),
            Ok(_) => panic!("second open succeeded"),
        }
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cordon-store-test-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
