//! An in-memory backend, for tests: the same semantics as the durable
//! backends (atomic batches, one audit chain, the ledger), nothing on disk.

use crate::audit::{AuditRecord, GENESIS, Head};
use crate::batch::{Batch, LedgerCounts, LedgerKey};
use crate::{Store, StoreError, StoreFuture, ledger};
use cordon_types::{ActionRecord, FactsRecord, GrantRecord, IncidentRecord, RunRecord, now_ms};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A store that keeps everything in memory.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Default, Clone)]
struct State {
    runs: BTreeMap<String, RunRecord>,
    actions: BTreeMap<(String, String), ActionRecord>,
    grants: BTreeMap<String, GrantRecord>,
    incidents: BTreeMap<String, IncidentRecord>,
    facts: BTreeMap<(String, usize), FactsRecord>,
    audit: Vec<(u64, Vec<u8>)>,
    head: Option<Head>,
    ledger: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn state(&self) -> Result<std::sync::MutexGuard<'_, State>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError::Io("a writer panicked while holding the store".into()))
    }

    fn write(
        &self,
        guard: Option<&LedgerKey>,
        build: &mut dyn FnMut(LedgerCounts) -> Batch,
    ) -> Result<(), StoreError> {
        let mut state = self.state()?;
        let counts = match guard {
            Some(key) => ledger::counts(
                key,
                state
                    .ledger
                    .get(&ledger::run_key(&key.run_id))
                    .map(Vec::as_slice),
                state
                    .ledger
                    .get(&ledger::domain_key(&key.domain))
                    .map(Vec::as_slice),
            ),
            None => LedgerCounts::default(),
        };
        let batch = build(counts);
        let (mut seq, mut prev) = match &state.head {
            Some(head) => (head.seq + 1, head.hash.clone()),
            None => (1, GENESIS.to_string()),
        };
        let at = now_ms();
        for entry in &batch.audit {
            let record = AuditRecord::seal(seq, at, entry, &prev);
            state.audit.push((seq, record.encode()));
            prev = record.hash;
            state.head = Some(Head {
                seq,
                hash: prev.clone(),
            });
            seq += 1;
        }
        for run in batch.runs {
            state.runs.insert(run.run_id.clone(), run);
        }
        for action in batch.actions {
            state
                .actions
                .insert((action.run_id.clone(), action.key.clone()), action);
        }
        for grant in batch.grants {
            state.grants.insert(grant.id.clone(), grant);
        }
        for incident in batch.incidents {
            state.incidents.insert(incident.id.clone(), incident);
        }
        for fact in batch.facts {
            state
                .facts
                .insert((fact.run_id.clone(), fact.identity), fact);
        }
        for charge in &batch.charges {
            let ledger = &state.ledger;
            let writes = ledger::charge(charge, |key| {
                Ok::<_, std::convert::Infallible>(ledger.get(key).cloned())
            });
            let Ok(writes) = writes;
            state.ledger.extend(writes);
        }
        Ok(())
    }
}

impl Store for MemoryStore {
    fn location(&self) -> String {
        "memory".into()
    }

    fn run(&self, run_id: &str) -> Result<RunRecord, StoreError> {
        self.state()?
            .runs
            .get(run_id)
            .cloned()
            .ok_or_else(|| StoreError::NoSuchRun(run_id.to_string()))
    }

    fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let mut runs: Vec<RunRecord> = self.state()?.runs.values().cloned().collect();
        runs.sort_by(|a, b| (a.started_at, &a.run_id).cmp(&(b.started_at, &b.run_id)));
        Ok(runs)
    }

    fn action(&self, run_id: &str, key: &str) -> Result<Option<ActionRecord>, StoreError> {
        Ok(self
            .state()?
            .actions
            .get(&(run_id.to_string(), key.to_string()))
            .cloned())
    }

    fn actions(&self, run_id: &str) -> Result<Vec<ActionRecord>, StoreError> {
        let mut actions: Vec<ActionRecord> = self
            .state()?
            .actions
            .values()
            .filter(|a| a.run_id == run_id)
            .cloned()
            .collect();
        actions.sort_by_key(|a| a.seq);
        Ok(actions)
    }

    fn grants(&self) -> Result<Vec<GrantRecord>, StoreError> {
        let mut grants: Vec<GrantRecord> = self.state()?.grants.values().cloned().collect();
        grants.sort_by_key(|g| g.created_at);
        Ok(grants)
    }

    fn incident(&self, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
        Ok(self.state()?.incidents.get(id).cloned())
    }

    fn facts(&self, run_id: &str) -> Result<Vec<FactsRecord>, StoreError> {
        Ok(self
            .state()?
            .facts
            .values()
            .filter(|f| f.run_id == run_id)
            .cloned()
            .collect())
    }

    fn audit_entries(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        Ok(self.state()?.audit.clone())
    }

    fn audit_head(&self) -> Result<Option<Head>, StoreError> {
        Ok(self.state()?.head.clone())
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        let mut batch = Some(batch);
        self.write(None, &mut |_| batch.take().unwrap_or_default())
    }

    fn apply_guarded(
        &self,
        key: &LedgerKey,
        build: &mut (dyn FnMut(LedgerCounts) -> Batch + Send),
    ) -> Result<(), StoreError> {
        self.write(Some(key), build)
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_memory_store_passes_the_conformance_suite() {
        crate::conformance::run_all(|| {
            std::sync::Arc::new(MemoryStore::new()) as std::sync::Arc<dyn Store>
        })
        .await;
    }
}
