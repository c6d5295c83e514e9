//! The embedded backend: one sled database, one tree per record type.
//!
//! A batch is one sled transaction across every tree, applied under the
//! store's write lock (which also serialises the audit chain's tail), so a
//! concurrent flush persists either all of a batch or none of it. Flushes
//! are shared by concurrent committers (group commit).

use crate::audit::{self, AuditRecord, GENESIS, Head};
use crate::batch::{Batch, LedgerCounts, LedgerKey};
use crate::{Store, StoreError, StoreFuture, ledger};
use cordon_types::{ActionRecord, FactsRecord, GrantRecord, IncidentRecord, RunRecord, now_ms};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where the audit head (last seq and hash) is kept, in the `meta` tree.
const HEAD_KEY: &[u8] = b"audit.head";

/// The sled store.
pub struct SledStore {
    db: sled::Db,
    trees: Trees,
    path: PathBuf,
    /// The audit chain's next seq and last hash; every apply holds it.
    tail: Mutex<(u64, String)>,
    written: AtomicU64,
    flushed: AtomicU64,
    flush_lock: tokio::sync::Mutex<()>,
    failpoint: Option<u64>,
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
}

impl SledStore {
    /// Opens (or creates) the store; fails at once if another process holds it.
    pub fn open(path: &Path) -> Result<SledStore, StoreError> {
        let db = sled::Config::new()
            .path(path)
            // Durability comes from explicit flushes; no background flusher needed.
            .flush_every_ms(None)
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
        };
        let tail = match trees.audit.last()? {
            Some((key, value)) => {
                let seq = key_seq(&key);
                let last = audit::decode(seq, &value)?;
                (last.seq + 1, last.hash)
            }
            None => (1, GENESIS.to_string()),
        };
        Ok(SledStore {
            db,
            trees,
            path: path.to_path_buf(),
            tail: Mutex::new(tail),
            written: AtomicU64::new(0),
            flushed: AtomicU64::new(0),
            flush_lock: tokio::sync::Mutex::new(()),
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
        Ok(())
    }

    fn write(
        &self,
        guard: Option<&LedgerKey>,
        build: &mut (dyn FnMut(LedgerCounts) -> Batch + Send),
    ) -> Result<(), StoreError> {
        let mut tail = self.tail.lock().map_err(|_| poisoned())?;
        let t = &self.trees;
        let new_tail = std::cell::RefCell::new(None);
        let build = std::cell::RefCell::new(build);
        let result = (
            &t.runs,
            &t.actions,
            &t.grants,
            &t.incidents,
            &t.facts,
            &t.audit,
            &t.meta,
            &t.ledger,
        )
            .transaction(
                |(runs, actions, grants, incidents, facts, audit, meta, ledger)| {
                    let counts = match guard {
                        Some(key) => ledger::counts(
                            key,
                            ledger.get(ledger::run_key(&key.run_id))?.as_deref(),
                            ledger.get(ledger::domain_key(&key.domain))?.as_deref(),
                        ),
                        None => LedgerCounts::default(),
                    };
                    let batch = (build.borrow_mut())(counts);
                    let (mut seq, mut prev) = (tail.0, tail.1.clone());
                    let at = now_ms();
                    for entry in &batch.audit {
                        if self.failpoint == Some(seq) {
                            return abort(StoreError::AuditUnavailable(format!(
                                "cannot append audit record {seq} (CORDON_FAILPOINT_AUDIT)"
                            )));
                        }
                        let record = AuditRecord::seal(seq, at, entry, &prev);
                        audit.insert(&seq.to_be_bytes(), record.encode())?;
                        prev = record.hash;
                        seq += 1;
                    }
                    if !batch.audit.is_empty() {
                        let head = Head {
                            seq: seq - 1,
                            hash: prev.clone(),
                        };
                        meta.insert(
                            HEAD_KEY,
                            serde_json::to_vec(&head).expect("head serializes"),
                        )?;
                    }
                    for run in &batch.runs {
                        put(runs, run.run_id.as_bytes(), run)?;
                    }
                    for action in &batch.actions {
                        put(actions, &action_key(&action.run_id, &action.key), action)?;
                    }
                    for grant in &batch.grants {
                        put(grants, grant.id.as_bytes(), grant)?;
                    }
                    for incident in &batch.incidents {
                        put(incidents, incident.id.as_bytes(), incident)?;
                    }
                    for fact in &batch.facts {
                        put(facts, &facts_key(&fact.run_id, fact.identity), fact)?;
                    }
                    for charge in &batch.charges {
                        let run_key = ledger::run_key(&charge.run_id);
                        let count = ledger::decode_count(ledger.get(&run_key)?.as_deref());
                        ledger.insert(run_key, &ledger::encode_count(count + 1))?;
                        let domain_key = ledger::domain_key(&charge.domain);
                        let mut buckets =
                            ledger::decode_buckets(ledger.get(&domain_key)?.as_deref());
                        ledger::add(&mut buckets, charge);
                        ledger.insert(domain_key, ledger::encode_buckets(&buckets))?;
                    }
                    *new_tail.borrow_mut() = Some((seq, prev));
                    Ok(())
                },
            );
        match result {
            Ok(()) => {
                if let Some(t) = new_tail.into_inner() {
                    *tail = t;
                }
                self.written.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
            Err(TransactionError::Abort(err)) => Err(err),
            Err(TransactionError::Storage(err)) => Err(err.into()),
        }
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

    fn audit_head(&self) -> Result<Option<Head>, StoreError> {
        match self.trees.meta.get(HEAD_KEY)? {
            Some(bytes) => decode("audit head", &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        let mut batch = Some(batch);
        self.write(None, &mut |_| batch.clone().unwrap_or_default())
            .inspect(|_| batch = None)
    }

    fn apply_guarded(
        &self,
        key: &LedgerKey,
        build: &mut (dyn FnMut(LedgerCounts) -> Batch + Send),
    ) -> Result<(), StoreError> {
        self.write(Some(key), build)
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
            tokio::task::spawn_blocking(move || db.flush())
                .await
                .map_err(|err| StoreError::Io(format!("the flush task failed: {err}")))??;
            self.flushed.fetch_max(upto, Ordering::SeqCst);
            Ok(())
        })
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

fn abort<T>(err: StoreError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(err))
}

fn put<T: serde::Serialize>(tree: &TransactionalTree, key: &[u8], value: &T) -> TxResult<()> {
    let bytes = serde_json::to_vec(value).expect("records serialize");
    tree.insert(key, bytes)?;
    Ok(())
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
    use cordon_types::{RunKind, RunStatus};

    fn run(id: &str, started_at: i64) -> RunRecord {
        RunRecord {
            run_id: id.into(),
            kind: RunKind::Containment,
            playbook: "p".into(),
            playbook_path: "p.toml".into(),
            playbook_source: String::new(),
            signal_source: "{}".into(),
            signal_id: "s".into(),
            incident: None,
            principal: "team:nhi".into(),
            dry_run: false,
            status: RunStatus::Running,
            started_at,
            finished_at: None,
        }
    }

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
