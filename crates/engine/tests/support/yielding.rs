//! A store that yields on flush, like any store that does I/O.

use cordon_store::audit::Head;
use cordon_store::{Batch, LedgerCounts, LedgerKey, MemoryStore, Store, StoreError, StoreFuture};
use cordon_types::{ActionRecord, FactsRecord, GrantRecord, IncidentRecord, RunRecord};

/// A memory store whose flush yields once, like any store that does I/O.
pub struct YieldingStore(pub MemoryStore);

impl Store for YieldingStore {
    fn location(&self) -> String {
        "yielding memory".into()
    }
    fn run(&self, run_id: &str) -> Result<RunRecord, StoreError> {
        self.0.run(run_id)
    }
    fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        self.0.runs()
    }
    fn action(&self, run_id: &str, key: &str) -> Result<Option<ActionRecord>, StoreError> {
        self.0.action(run_id, key)
    }
    fn actions(&self, run_id: &str) -> Result<Vec<ActionRecord>, StoreError> {
        self.0.actions(run_id)
    }
    fn grants(&self) -> Result<Vec<GrantRecord>, StoreError> {
        self.0.grants()
    }
    fn incident(&self, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
        self.0.incident(id)
    }
    fn facts(&self, run_id: &str) -> Result<Vec<FactsRecord>, StoreError> {
        self.0.facts(run_id)
    }
    fn audit_entries(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.0.audit_entries()
    }
    fn audit_head(&self) -> Result<Option<Head>, StoreError> {
        self.0.audit_head()
    }
    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        self.0.apply(batch)
    }
    fn apply_guarded(
        &self,
        key: &LedgerKey,
        build: &mut (dyn FnMut(LedgerCounts) -> Batch + Send),
    ) -> Result<(), StoreError> {
        self.0.apply_guarded(key, build)
    }
    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(async {
            tokio::task::yield_now().await;
            Ok(())
        })
    }
}
