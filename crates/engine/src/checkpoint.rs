//! Keeping what a plugin read before a write: the plugin's `checkpoint`
//! call commits its evidence and restore data with the action's record and
//! an `action.checkpoint` audit event, durably, before the plugin goes on.
//! A process killed after the write then resumes with them, even though the
//! provider can no longer say (a revoked Vault token's entity).

use crate::RunContext;
use cordon_plugin_host::{Checkpoint, Kept};
use cordon_store::{Batch, Store, StoreExt};
use cordon_types::{ActionRecord, ActionRef, AuditEntry, AuditEvent};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// The checkpoints of one attempt of one action.
pub(crate) struct ActionCheckpoint {
    store: Arc<dyn Store>,
    /// The run's incident and principal, for the audit events.
    incident: Option<String>,
    principal: String,
    /// The action as committed with its intent, plus what was kept so far.
    record: Mutex<ActionRecord>,
}

impl ActionCheckpoint {
    /// For the attempt whose intent `record` was just committed with.
    pub(crate) fn new(ctx: &RunContext, record: &ActionRecord) -> Arc<ActionCheckpoint> {
        Arc::new(ActionCheckpoint {
            store: ctx.store.clone(),
            incident: ctx.run.incident.clone(),
            principal: ctx.run.principal.clone(),
            record: Mutex::new(record.clone()),
        })
    }

    /// Adds what the attempt kept to `record` (the outcome's own evidence
    /// and restore data, added after this, take precedence).
    pub(crate) fn merge_into(&self, record: &mut ActionRecord) {
        let kept = self.record.lock().unwrap_or_else(|e| e.into_inner());
        for (key, value) in &kept.evidence {
            record
                .evidence
                .entry(key.clone())
                .or_insert_with(|| value.clone());
        }
        for (key, value) in &kept.restore {
            record
                .restore
                .entry(key.clone())
                .or_insert_with(|| value.clone());
        }
    }
}

impl Checkpoint for ActionCheckpoint {
    fn keep(&self, kept: Kept) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            let batch = {
                let mut record = self.record.lock().unwrap_or_else(|e| e.into_inner());
                record.evidence.extend(kept.evidence.clone());
                record.restore.extend(kept.restore.clone());
                let event = AuditEvent::ActionCheckpoint {
                    action: ActionRef::from(&*record),
                    attempt: record.attempts,
                    evidence: kept.evidence,
                    restore: kept.restore.into_keys().collect(),
                };
                let entry = AuditEntry::new(event)
                    .run(&record.run_id)
                    .incident(self.incident.clone())
                    .by(&self.principal);
                Batch::new().audit(entry).action(&record)
            };
            self.store
                .commit(batch)
                .await
                .map_err(|err| err.to_string())
        })
    }
}
