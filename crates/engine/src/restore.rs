//! Restore runs: undoing the reversible actions of an earlier run with the
//! restore data each plugin recorded. A restore is a run of its own —
//! durable, resumable, audited — whose actions go through the same decision
//! point (which keeps restoration with the owning team).

use crate::record::NewAction;
use crate::{RunContext, action, new_run_id};
use cordon_input::Catalogue;
use cordon_store::{Batch, StoreError};
use cordon_types::audit::{Irreversible, RestoreTarget};
use cordon_types::{
    ActionRecord, ActionStatus, AuditEntry, AuditEvent, Effect, RestoreItem, RunKind, RunRecord,
    RunStatus, now_ms,
};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio::task::JoinSet;

/// How a restore action retries transient failures.
const RESTORE_RETRIES: action::Retries = action::Retries {
    count: 3,
    within: std::time::Duration::from_secs(120),
};

/// What a restore would undo, and what it cannot.
#[derive(Debug, Clone)]
pub struct RestorePlan {
    /// The run whose actions are undone.
    pub of_run: RunRecord,
    /// What will be undone.
    pub items: Vec<RestoreItem>,
    /// Applied actions that cannot be undone, with why.
    pub irreversible: Vec<(ActionRecord, String)>,
}

/// Plans undoing `actions` (applied actions of `run`, already filtered by the caller).
pub fn plan_restore(
    run: &RunRecord,
    actions: &[ActionRecord],
    plugins: &dyn Catalogue,
) -> RestorePlan {
    let mut items = Vec::new();
    let mut irreversible = Vec::new();
    for action in actions.iter().filter(|a| a.status == ActionStatus::Applied) {
        let spec = plugins
            .plugin(&action.plugin)
            .and_then(|i| i.action(&action.action));
        match spec {
            Some(spec) if spec.restore_with.is_some() => items.push(RestoreItem {
                of_action: action.key.clone(),
                step: action.step.clone(),
                plugin: action.plugin.clone(),
                action: spec.restore_with.clone().unwrap_or_default(),
                target: action.target.clone(),
                params: action.restore.clone(),
            }),
            Some(_) => irreversible.push((
                action.clone(),
                format!("`{}` cannot be undone", action.action),
            )),
            None => irreversible.push((
                action.clone(),
                format!(
                    "plugin `{}` no longer offers `{}`",
                    action.plugin, action.action
                ),
            )),
        }
    }
    RestorePlan {
        of_run: run.clone(),
        items,
        irreversible,
    }
}

/// The restore run of `plan` and the batch that records it.
pub(crate) fn record(plan: RestorePlan, principal: String) -> (RunRecord, Batch) {
    let of = plan.of_run;
    let run = RunRecord {
        run_id: new_run_id(),
        kind: RunKind::Restore {
            of_run: of.run_id.clone(),
            plan: plan.items,
        },
        playbook: of.playbook.clone(),
        playbook_path: of.playbook_path.clone(),
        playbook_source: of.playbook_source.clone(),
        signal_source: of.signal_source.clone(),
        signal_id: of.signal_id.clone(),
        incident: of.incident.clone(),
        principal,
        dry_run: false,
        status: RunStatus::Running,
        started_at: now_ms(),
        finished_at: None,
    };
    let RunKind::Restore { plan: items, .. } = &run.kind else {
        unreachable!()
    };
    let requested = AuditEvent::RestoreRequested {
        of_run: of.run_id.clone(),
        actions: items
            .iter()
            .map(|i| RestoreTarget {
                of_action: i.of_action.clone(),
                action: i.action.clone(),
                target: i.target.clone(),
            })
            .collect(),
        irreversible: plan
            .irreversible
            .iter()
            .map(|(a, why)| Irreversible {
                action_key: a.key.clone(),
                action: a.action.clone(),
                target: a.target.clone(),
                why: why.clone(),
            })
            .collect(),
    };
    let entry = AuditEntry::new(requested)
        .run(&run.run_id)
        .incident(run.incident.clone())
        .by(&run.principal);
    let batch = Batch::new().audit(entry).run(&run);
    (run, batch)
}

/// Runs every restore item not yet finished.
pub(crate) async fn run_all(
    ctx: Arc<RunContext>,
    items: Vec<RestoreItem>,
) -> Result<(), StoreError> {
    let mut tasks = JoinSet::new();
    for item in items {
        let ctx = ctx.clone();
        tasks.spawn(async move {
            let key = item_key(&ctx.run.run_id, &item.of_action);
            let previous = ctx.take_previous(&key);
            let record = match previous {
                Some(done) if done.status.is_final() => done,
                Some(interrupted) => {
                    action::decide_and_run(&ctx, interrupted, RESTORE_RETRIES).await?
                }
                None => {
                    let effect = ctx
                        .plugins
                        .plugin(&item.plugin)
                        .and_then(|i| i.action(&item.action))
                        .map(|a| a.effect)
                        .unwrap_or(Effect::Restore);
                    let mut record = NewAction {
                        key,
                        step: item.step.clone(),
                        plugin: item.plugin.clone(),
                        action: item.action.clone(),
                        effect,
                        domain: ctx
                            .authority
                            .domain(&item.plugin, &item.action, &item.target),
                        target: item.target.clone(),
                        params: item.params.clone(),
                        sources: Vec::new(),
                    }
                    .record(&ctx);
                    record
                        .evidence
                        .insert("restores".to_string(), item.of_action.clone());
                    action::decide_and_run(&ctx, record, RESTORE_RETRIES).await?
                }
            };
            ctx.emit(crate::Event::NodeFinished {
                step: record.step.clone(),
                target: record.target.clone(),
                status: record.status,
                detail: record.detail.clone(),
            });
            Ok::<(), StoreError>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|err| StoreError::Io(format!("a restore task failed: {err}")))??;
    }
    Ok(())
}

fn item_key(run_id: &str, of_action: &str) -> String {
    let digest = Sha256::digest(format!("{run_id}\0restore\0{of_action}").as_bytes());
    hex::encode(&digest[..16])
}

/// The names of plugins a restore plan needs.
pub fn plugins_of(items: &[RestoreItem]) -> Vec<String> {
    let mut names: Vec<String> = items.iter().map(|i| i.plugin.clone()).collect();
    names.sort();
    names.dedup();
    names
}
