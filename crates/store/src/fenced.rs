//! A store seen through a run's lease: every write carries its fence.

use crate::audit::Head;
use crate::{Batch, Fence, Leases, LedgerCounts, LedgerKey, Store, StoreError, StoreFuture};
use cordon_types::{ActionRecord, FactsRecord, GrantRecord, IncidentRecord, RunRecord};
use std::sync::Arc;

/// `inner`, with every batch written under `fence` (see [`crate::Leases`]).
/// The engine executes a leased run over one, so no write of the run can
/// forget its lease.
pub struct Fenced {
    inner: Arc<dyn Store>,
    fence: Fence,
}

impl Fenced {
    /// Writes to `inner` under `fence`.
    pub fn new(inner: Arc<dyn Store>, fence: Fence) -> Fenced {
        Fenced { inner, fence }
    }
}

impl Store for Fenced {
    fn location(&self) -> String {
        self.inner.location()
    }
    fn run(&self, run_id: &str) -> Result<RunRecord, StoreError> {
        self.inner.run(run_id)
    }
    fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        self.inner.runs()
    }
    fn action(&self, run_id: &str, key: &str) -> Result<Option<ActionRecord>, StoreError> {
        self.inner.action(run_id, key)
    }
    fn actions(&self, run_id: &str) -> Result<Vec<ActionRecord>, StoreError> {
        self.inner.actions(run_id)
    }
    fn grants(&self) -> Result<Vec<GrantRecord>, StoreError> {
        self.inner.grants()
    }
    fn incident(&self, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
        self.inner.incident(id)
    }
    fn facts(&self, run_id: &str) -> Result<Vec<FactsRecord>, StoreError> {
        self.inner.facts(run_id)
    }
    fn audit_entries(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.inner.audit_entries()
    }
    fn audit_range(&self, from: u64, to: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.inner.audit_range(from, to)
    }
    fn audit_head(&self) -> Result<Option<Head>, StoreError> {
        self.inner.audit_head()
    }
    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        self.inner.apply(batch.fenced(Some(self.fence.clone())))
    }
    fn apply_guarded(
        &self,
        key: &LedgerKey,
        build: &mut (dyn FnMut(LedgerCounts) -> Batch + Send),
    ) -> Result<(), StoreError> {
        let fence = self.fence.clone();
        self.inner
            .apply_guarded(key, &mut |counts| build(counts).fenced(Some(fence.clone())))
    }
    fn flush(&self) -> StoreFuture<'_, ()> {
        self.inner.flush()
    }
    fn leases(&self) -> Option<Arc<dyn Leases>> {
        self.inner.leases()
    }
}
