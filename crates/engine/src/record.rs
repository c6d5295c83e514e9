//! Building action records and the audit events about them — once, for
//! containment nodes, skipped nodes and restore items alike — and
//! committing an action's state with its audit event.

use crate::RunContext;
use cordon_store::{Batch, StoreError, StoreExt};
use cordon_types::audit::AuditedRequest;
use cordon_types::{
    ActionRecord, ActionRef, ActionStatus, AuditEntry, AuditEvent, Effect, Identity, now_ms,
};
use std::collections::BTreeMap;

/// What a new action record is about.
pub(crate) struct NewAction {
    pub key: String,
    pub step: String,
    pub plugin: String,
    pub action: String,
    pub effect: Effect,
    pub target: Identity,
    pub params: BTreeMap<String, String>,
    pub sources: Vec<usize>,
    pub domain: Option<String>,
}

impl NewAction {
    /// The record of an action not yet decided or called.
    pub fn record(self, ctx: &RunContext) -> ActionRecord {
        ActionRecord {
            run_id: ctx.run.run_id.clone(),
            key: self.key,
            seq: ctx.seq(),
            step: self.step,
            plugin: self.plugin,
            action: self.action,
            effect: self.effect,
            target: self.target,
            params: self.params,
            sources: self.sources,
            decision: None,
            domain: self.domain,
            approval: None,
            status: ActionStatus::Running,
            attempts: 0,
            detail: String::new(),
            evidence: BTreeMap::new(),
            restore: BTreeMap::new(),
            requests: Vec::new(),
            created_at: now_ms(),
            finished_at: None,
        }
    }
}

/// An audit entry about `record`, as the run's principal.
pub(crate) fn entry(ctx: &RunContext, event: AuditEvent) -> AuditEntry {
    AuditEntry::new(event)
        .run(&ctx.run.run_id)
        .incident(ctx.run.incident.clone())
        .by(&ctx.run.principal)
}

/// The `action.outcome` event of a finished record; `full` adds its
/// evidence and requests (for actions whose plugin was called).
pub(crate) fn outcome(record: &ActionRecord, full: bool) -> AuditEvent {
    AuditEvent::ActionOutcome {
        action: ActionRef::from(record),
        status: record.status,
        detail: record.detail.clone(),
        attempts: record.attempts,
        evidence: full.then(|| record.evidence.clone()),
        restore: full.then(|| record.restore.clone()),
        requests: full.then(|| {
            record
                .requests
                .iter()
                .map(|r| AuditedRequest {
                    method: r.method.clone(),
                    origin: r.origin.clone(),
                    path: r.path.clone(),
                    status: r.status,
                    denied: r.denied,
                })
                .collect()
        }),
    }
}

/// Commits `record` together with `event`, durably.
pub(crate) async fn commit(
    ctx: &RunContext,
    record: &ActionRecord,
    event: Option<AuditEvent>,
) -> Result<(), StoreError> {
    let mut batch = Batch::new().action(record);
    if let Some(event) = event {
        batch = batch.audit(entry(ctx, event));
    }
    ctx.store.commit(batch).await
}

/// Ends `record` with `status` and `detail` without calling its plugin, durably.
pub(crate) async fn settle(
    ctx: &RunContext,
    mut record: ActionRecord,
    status: ActionStatus,
    detail: String,
) -> Result<ActionRecord, StoreError> {
    record.status = status;
    record.detail = detail;
    record.finished_at = Some(now_ms());
    commit(ctx, &record, Some(outcome(&record, false))).await?;
    Ok(record)
}
