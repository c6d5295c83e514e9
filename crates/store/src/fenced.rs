//! A store seen through a run's lease: every write carries its fence.

use crate::{Batch, Fence, Leases, LedgerCounts, LedgerKey, Store, StoreError, StoreFuture};
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
    crate::forward_reads!(inner);

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
