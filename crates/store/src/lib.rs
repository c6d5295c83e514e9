//! Cordon's durable state behind one [`Store`] trait.
//!
//! There is one write path: [`StoreExt::commit`] applies a [`Batch`] — audit
//! events, record upserts and blast-radius charges — atomically, and returns
//! once it is durable. Concurrent commits share one flush (group commit), so
//! a run with many actions in flight does not pay one fsync per write.
//! [`Store::apply_guarded`] reads the blast-radius ledger and applies the
//! batch built from it in the same transaction, so two deciders can never
//! both pass a cap.
//!
//! Backends: [`SledStore`] (embedded, the default) and [`MemoryStore`]
//! (tests). [`conformance`] holds the checks every backend must pass.

#![warn(missing_docs)]

pub mod audit;
mod batch;
pub mod conformance;
pub mod crosscheck;
mod disk_sync;
mod error;
pub mod failing;
mod fenced;
mod journal;
pub mod lease;
pub mod ledger;
mod memory;
mod sled_backend;

pub use audit::{Anchor, AuditRecord, Verification};
pub use batch::{Batch, Charge, LedgerCounts, LedgerKey};
pub use disk_sync::SyncMode;
pub use error::StoreError;
pub use fenced::Fenced;
pub use lease::{Fence, Lease, Leases, NewLease, Notice, OpenSignal};
pub use memory::MemoryStore;
pub use sled_backend::SledStore;

use cordon_types::{ActionRecord, FactsRecord, GrantRecord, IncidentRecord, RunRecord};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

#[doc(hidden)]
pub use cordon_types as __types;

/// Implements a [`Store`]'s reads (and [`Store::location`]) by passing them
/// to the store in the field `$inner`: for wrappers that change only how
/// writes go, such as [`Fenced`].
#[macro_export]
macro_rules! forward_reads {
    ($inner:ident) => {
        fn location(&self) -> String {
            self.$inner.location()
        }
        fn run(&self, run_id: &str) -> Result<$crate::__types::RunRecord, $crate::StoreError> {
            self.$inner.run(run_id)
        }
        fn runs(&self) -> Result<Vec<$crate::__types::RunRecord>, $crate::StoreError> {
            self.$inner.runs()
        }
        fn action(
            &self,
            run_id: &str,
            key: &str,
        ) -> Result<Option<$crate::__types::ActionRecord>, $crate::StoreError> {
            self.$inner.action(run_id, key)
        }
        fn actions(
            &self,
            run_id: &str,
        ) -> Result<Vec<$crate::__types::ActionRecord>, $crate::StoreError> {
            self.$inner.actions(run_id)
        }
        fn grants(&self) -> Result<Vec<$crate::__types::GrantRecord>, $crate::StoreError> {
            self.$inner.grants()
        }
        fn incident(
            &self,
            id: &str,
        ) -> Result<Option<$crate::__types::IncidentRecord>, $crate::StoreError> {
            self.$inner.incident(id)
        }
        fn facts(
            &self,
            run_id: &str,
        ) -> Result<Vec<$crate::__types::FactsRecord>, $crate::StoreError> {
            self.$inner.facts(run_id)
        }
        fn audit_entries(&self) -> Result<Vec<(u64, Vec<u8>)>, $crate::StoreError> {
            self.$inner.audit_entries()
        }
        fn audit_range(
            &self,
            from: u64,
            to: u64,
        ) -> Result<Vec<(u64, Vec<u8>)>, $crate::StoreError> {
            self.$inner.audit_range(from, to)
        }
        fn audit_head(&self) -> Result<Option<$crate::audit::Head>, $crate::StoreError> {
            self.$inner.audit_head()
        }
    };
}

/// A future a [`Store`] returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Durable state: runs, their actions, commander grants, incidents, facts
/// and the hash-chained audit log.
///
/// Writes go through [`Store::apply`] (atomic) and become durable with the
/// next [`Store::flush`]; callers use [`StoreExt::commit`], which does both.
pub trait Store: Send + Sync {
    /// Where the store lives, for messages (a path or a URL without credentials).
    fn location(&self) -> String;

    /// The run with `run_id`, or [`StoreError::NoSuchRun`].
    fn run(&self, run_id: &str) -> Result<RunRecord, StoreError>;

    /// Every run, oldest first.
    fn runs(&self) -> Result<Vec<RunRecord>, StoreError>;

    /// One action of a run, by key.
    fn action(&self, run_id: &str, key: &str) -> Result<Option<ActionRecord>, StoreError>;

    /// Every action of a run, in creation order (`seq`).
    fn actions(&self, run_id: &str) -> Result<Vec<ActionRecord>, StoreError>;

    /// Every commander grant, oldest first.
    fn grants(&self) -> Result<Vec<GrantRecord>, StoreError>;

    /// The incident called `id`, if a signal opened it.
    fn incident(&self, id: &str) -> Result<Option<IncidentRecord>, StoreError>;

    /// What is known about each signal identity of a run, by identity index.
    fn facts(&self, run_id: &str) -> Result<Vec<FactsRecord>, StoreError>;

    /// The audit log as stored: each entry's key and its bytes, in key order.
    /// [`audit::verify`] checks it; [`StoreExt::audit_records`] decodes it.
    fn audit_entries(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;

    /// The audit entries with `seq` in `from..=to`, in order: what a reader
    /// that has seen up to `from - 1` reads next, up to a head it knows is
    /// committed.
    fn audit_range(&self, from: u64, to: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        Ok(self
            .audit_entries()?
            .into_iter()
            .filter(|(seq, _)| (from..=to).contains(seq))
            .collect())
    }

    /// The recorded head of the audit log (its last seq and hash), if any.
    fn audit_head(&self) -> Result<Option<audit::Head>, StoreError>;

    /// Applies `batch` atomically: all of it or none. Durable after the next
    /// [`Store::flush`].
    fn apply(&self, batch: Batch) -> Result<(), StoreError>;

    /// In one transaction: reads the blast-radius ledger for `key`, builds
    /// the batch from what it holds, and applies it.
    fn apply_guarded(
        &self,
        key: &LedgerKey,
        build: &mut (dyn FnMut(LedgerCounts) -> Batch + Send),
    ) -> Result<(), StoreError>;

    /// Makes everything applied before this call durable. Concurrent callers
    /// share flushes.
    fn flush(&self) -> StoreFuture<'_, ()>;

    /// The run leases of a store that several processes share; `None` for
    /// a store one process holds (the embedded backends).
    fn leases(&self) -> Option<Arc<dyn Leases>> {
        None
    }
}

/// What every [`Store`] offers on top of its primitives.
pub trait StoreExt: Store {
    /// Applies `batch` atomically and returns once it is durable.
    fn commit(&self, batch: Batch) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            self.apply(batch)?;
            self.flush().await
        }
    }

    /// Every audit record, in order.
    fn audit_records(&self) -> Result<Vec<AuditRecord>, StoreError> {
        self.audit_entries()?
            .into_iter()
            .map(|(seq, bytes)| audit::decode(seq, &bytes))
            .collect()
    }

    /// Recomputes the audit chain; names the first broken record.
    fn verify_audit(&self) -> Result<Verification, StoreError> {
        Ok(audit::verify(&self.audit_entries()?, self.audit_head()?))
    }
}

impl<T: Store + ?Sized> StoreExt for T {}
