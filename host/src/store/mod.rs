//! Durable state in sled: runs and their action records.
//!
//! Writes are made durable with [`Store::sync`], which flushes sled to disk;
//! concurrent callers share one flush (group commit), so a run with many
//! actions in flight does not pay one fsync per write. Callers sync after
//! writing an action's intent and before calling the plugin, and after
//! writing its outcome and before reporting it.

pub mod records;

pub use records::{
    ActionRecord, ActionStatus, Approval, FactsRecord, GrantRecord, IncidentRecord, Millis,
    RestoreItem, RunKind, RunRecord, RunStatus, now_ms,
};

use crate::audit::{AuditEvent, AuditLog, AuditRecord};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the store at {0} is in use by another cordon process; wait for it to finish (or stop it) and try again"
    )]
    Locked(PathBuf),
    #[error("cannot open the store at {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("store I/O failed: {0}")]
    Io(#[from] sled::Error),
    #[error("a stored record is unreadable ({key}): {message}")]
    Corrupt { key: String, message: String },
    #[error("no run with id `{0}`")]
    NoSuchRun(String),
    /// The audit log cannot be written: nothing may execute (fail closed).
    #[error("the audit log cannot be written, so nothing was executed: {0}")]
    AuditUnavailable(String),
}

/// The sled database and its trees.
pub struct Store {
    db: sled::Db,
    runs: sled::Tree,
    actions: sled::Tree,
    grants: sled::Tree,
    incidents: sled::Tree,
    facts: sled::Tree,
    audit: AuditLog,
    path: PathBuf,
    written: AtomicU64,
    flushed: AtomicU64,
    flush_lock: tokio::sync::Mutex<()>,
}

impl Store {
    /// Opens (or creates) the store; fails at once if another process holds it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(path)
            // Durability comes from explicit syncs; no background flusher needed.
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
        Ok(Store {
            runs: db.open_tree("runs")?,
            actions: db.open_tree("actions")?,
            grants: db.open_tree("grants")?,
            incidents: db.open_tree("incidents")?,
            facts: db.open_tree("facts")?,
            audit: AuditLog::open(db.open_tree("audit")?, db.open_tree("meta")?)?,
            db,
            path: path.to_path_buf(),
            written: AtomicU64::new(0),
            flushed: AtomicU64::new(0),
            flush_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The store's folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a run record (durable after the next [`Store::sync`]).
    pub fn put_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.put(&self.runs, run.run_id.as_bytes(), run)
    }

    /// The run with `run_id`.
    pub fn run(&self, run_id: &str) -> Result<RunRecord, StoreError> {
        match self.runs.get(run_id.as_bytes())? {
            Some(bytes) => decode(run_id, &bytes),
            None => Err(StoreError::NoSuchRun(run_id.to_string())),
        }
    }

    /// Every run, oldest first.
    pub fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let mut runs = self
            .runs
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                decode(&String::from_utf8_lossy(&key), &value)
            })
            .collect::<Result<Vec<RunRecord>, _>>()?;
        runs.sort_by(|a, b| (a.started_at, &a.run_id).cmp(&(b.started_at, &b.run_id)));
        Ok(runs)
    }

    /// Writes an action record (durable after the next [`Store::sync`]).
    pub fn put_action(&self, action: &ActionRecord) -> Result<(), StoreError> {
        self.put(
            &self.actions,
            &action_key(&action.run_id, &action.key),
            action,
        )
    }

    /// One action of a run, by key.
    pub fn action(&self, run_id: &str, key: &str) -> Result<Option<ActionRecord>, StoreError> {
        let id = action_key(run_id, key);
        match self.actions.get(&id)? {
            Some(bytes) => decode(&String::from_utf8_lossy(&id), &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Every action of a run, in creation order.
    pub fn actions(&self, run_id: &str) -> Result<Vec<ActionRecord>, StoreError> {
        let prefix = action_key(run_id, "");
        let mut actions = self
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

    /// Appends to the audit log (durable with the next [`Store::sync`]).
    /// Callers append before they act: an error means "do not act".
    pub fn audit(&self, event: AuditEvent) -> Result<AuditRecord, StoreError> {
        let record = self.audit.append(event)?;
        self.written.fetch_add(1, Ordering::SeqCst);
        Ok(record)
    }

    /// The audit log, for reading and verifying.
    pub fn audit_log(&self) -> &AuditLog {
        &self.audit
    }

    /// Writes a commander grant.
    pub fn put_grant(&self, grant: &GrantRecord) -> Result<(), StoreError> {
        self.put(&self.grants, grant.id.as_bytes(), grant)
    }

    /// Every commander grant, oldest first.
    pub fn grants(&self) -> Result<Vec<GrantRecord>, StoreError> {
        let mut grants = self.all::<GrantRecord>(&self.grants)?;
        grants.sort_by_key(|g| g.created_at);
        Ok(grants)
    }

    /// Writes an incident.
    pub fn put_incident(&self, incident: &IncidentRecord) -> Result<(), StoreError> {
        self.put(&self.incidents, incident.id.as_bytes(), incident)
    }

    /// The incident called `id`, if a signal opened it.
    pub fn incident(&self, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
        match self.incidents.get(id.as_bytes())? {
            Some(bytes) => decode(id, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Writes what is known about a run's signal identity.
    pub fn put_facts(&self, facts: &FactsRecord) -> Result<(), StoreError> {
        let key = format!("{}/{:08}", facts.run_id, facts.identity);
        self.put(&self.facts, key.as_bytes(), facts)
    }

    /// What is known about each signal identity of a run.
    pub fn facts(&self, run_id: &str) -> Result<Vec<FactsRecord>, StoreError> {
        self.facts
            .scan_prefix(format!("{run_id}/").as_bytes())
            .map(|entry| {
                let (key, value) = entry?;
                decode(&String::from_utf8_lossy(&key), &value)
            })
            .collect()
    }

    fn all<T: serde::de::DeserializeOwned>(&self, tree: &sled::Tree) -> Result<Vec<T>, StoreError> {
        tree.iter()
            .map(|entry| {
                let (key, value) = entry?;
                decode(&String::from_utf8_lossy(&key), &value)
            })
            .collect()
    }

    /// Makes every write made before this call durable. Concurrent callers
    /// share flushes.
    pub async fn sync(&self) -> Result<(), StoreError> {
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
            .expect("flush task panicked")?;
        self.flushed.fetch_max(upto, Ordering::SeqCst);
        Ok(())
    }

    /// Flushes synchronously (for code outside the async runtime).
    pub fn sync_blocking(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    fn put<T: serde::Serialize>(
        &self,
        tree: &sled::Tree,
        key: &[u8],
        value: &T,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).expect("records serialize");
        tree.insert(key, bytes)?;
        self.written.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn action_key(run_id: &str, key: &str) -> Vec<u8> {
    format!("{run_id}/{key}").into_bytes()
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|err| StoreError::Corrupt {
        key: key.to_string(),
        message: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, started_at: Millis) -> RunRecord {
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
    async fn runs_survive_reopening_and_list_in_start_order() {
        let dir = tempdir();
        {
            let store = Store::open(&dir).unwrap();
            store.put_run(&run("b", 2)).unwrap();
            store.put_run(&run("a", 1)).unwrap();
            store.sync().await.unwrap();
        }
        let store = Store::open(&dir).unwrap();
        let ids: Vec<_> = store
            .runs()
            .unwrap()
            .into_iter()
            .map(|r| r.run_id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert!(matches!(store.run("zzz"), Err(StoreError::NoSuchRun(_))));
    }

    #[test]
    fn a_second_opener_gets_a_clear_error() {
        let dir = tempdir();
        let _first = Store::open(&dir).unwrap();
        // sled's lock is per process and file; a second open in the same
        // process also fails, as a second process would.
        match Store::open(&dir) {
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
