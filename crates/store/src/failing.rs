//! A store that fails on demand, for testing that callers fail closed.

use crate::audit::Head;
use crate::batch::{Batch, LedgerCounts, LedgerKey};
use crate::{Store, StoreError, StoreFuture};
use cordon_types::{ActionRecord, FactsRecord, GrantRecord, IncidentRecord, RunRecord};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// An operation a [`FailingStore`] can be told to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    /// Reading runs.
    Runs,
    /// Reading actions.
    Actions,
    /// Reading grants.
    Grants,
    /// Reading incidents.
    Incidents,
    /// Reading facts.
    Facts,
    /// Reading the audit log.
    AuditRead,
    /// Reading the ledger (a guarded apply).
    Ledger,
    /// Any write.
    Write,
}

/// Wraps a store; every operation in the failing set returns an I/O error
/// (which may pass) or a corrupt-record error (which will not).
pub struct FailingStore {
    inner: Arc<dyn Store>,
    failing: Mutex<BTreeMap<Op, bool>>,
}

impl FailingStore {
    /// Wraps `inner`, failing nothing yet.
    pub fn new(inner: Arc<dyn Store>) -> FailingStore {
        FailingStore {
            inner,
            failing: Mutex::new(BTreeMap::new()),
        }
    }

    /// Makes `op` fail from now on, as a store that cannot be reached.
    pub fn fail(&self, op: Op) {
        self.failing.lock().expect("failing set").insert(op, false);
    }

    /// Makes `op` fail from now on, as a store holding an unreadable record.
    pub fn corrupt(&self, op: Op) {
        self.failing.lock().expect("failing set").insert(op, true);
    }

    /// Makes `op` succeed again.
    pub fn heal(&self, op: Op) {
        self.failing.lock().expect("failing set").remove(&op);
    }

    fn check(&self, op: Op) -> Result<(), StoreError> {
        match self.failing.lock().expect("failing set").get(&op) {
            None => Ok(()),
            Some(false) => Err(StoreError::Io(format!("injected failure ({op:?})"))),
            Some(true) => Err(StoreError::Corrupt {
                key: format!("{op:?}"),
                message: format!("injected failure ({op:?})"),
            }),
        }
    }
}

impl Store for FailingStore {
    fn location(&self) -> String {
        format!("failing({})", self.inner.location())
    }

    fn run(&self, run_id: &str) -> Result<RunRecord, StoreError> {
        self.check(Op::Runs)?;
        self.inner.run(run_id)
    }

    fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        self.check(Op::Runs)?;
        self.inner.runs()
    }

    fn action(&self, run_id: &str, key: &str) -> Result<Option<ActionRecord>, StoreError> {
        self.check(Op::Actions)?;
        self.inner.action(run_id, key)
    }

    fn actions(&self, run_id: &str) -> Result<Vec<ActionRecord>, StoreError> {
        self.check(Op::Actions)?;
        self.inner.actions(run_id)
    }

    fn grants(&self) -> Result<Vec<GrantRecord>, StoreError> {
        self.check(Op::Grants)?;
        self.inner.grants()
    }

    fn incident(&self, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
        self.check(Op::Incidents)?;
        self.inner.incident(id)
    }

    fn facts(&self, run_id: &str) -> Result<Vec<FactsRecord>, StoreError> {
        self.check(Op::Facts)?;
        self.inner.facts(run_id)
    }

    fn audit_entries(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.check(Op::AuditRead)?;
        self.inner.audit_entries()
    }

    fn audit_range(&self, from: u64, to: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.check(Op::AuditRead)?;
        self.inner.audit_range(from, to)
    }

    fn audit_head(&self) -> Result<Option<Head>, StoreError> {
        self.check(Op::AuditRead)?;
        self.inner.audit_head()
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        self.check(Op::Write)?;
        self.inner.apply(batch)
    }

    fn apply_guarded(
        &self,
        key: &LedgerKey,
        build: &mut (dyn FnMut(LedgerCounts) -> Batch + Send),
    ) -> Result<(), StoreError> {
        self.check(Op::Ledger)?;
        self.check(Op::Write)?;
        self.inner.apply_guarded(key, build)
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        self.inner.flush()
    }
}
