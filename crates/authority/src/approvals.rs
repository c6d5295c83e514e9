//! Answering actions that wait for approval: who may, and what is recorded.
//!
//! Every answer must come from a member of one of the approving teams the
//! decision named, as the caller authenticated — or none is recorded, and
//! the refusal is audited.

use crate::model::AuthorityModel;
use cordon_store::{Batch, Store, StoreError, StoreExt};
use cordon_types::audit::Answer;
use cordon_types::{
    ActionRecord, ActionStatus, Approval, AuditEntry, AuditEvent, Decision, Identity, RunRecord,
    now_ms,
};

/// Why an answer was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    /// The store failed; nothing was recorded.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Nothing of the run (or nothing `action` names) waits for approval.
    #[error("run {run_id} has no action {}waiting for approval", .action.as_ref().map(|a| format!("`{a}` ")).unwrap_or_default())]
    NothingWaiting {
        /// The run.
        run_id: String,
        /// The action id (or prefix) asked for.
        action: Option<String>,
    },
    /// The run is a dry run: it changes nothing, so there is nothing to
    /// approve (a dry run never waits; this is one recorded by an older
    /// Cordon).
    #[error(
        "run {run_id} is a dry run: it changes nothing and needs no approval; approve the real run of the signal"
    )]
    DryRun {
        /// The run.
        run_id: String,
    },
    /// The action id prefix matches more than one waiting action.
    #[error("`{prefix}` matches {count} actions of run {run_id}: give more of the id")]
    Ambiguous {
        /// The run.
        run_id: String,
        /// The prefix given.
        prefix: String,
        /// How many waiting actions it matches.
        count: usize,
    },
    /// The principal is in none of the approving teams (the refusal is audited).
    #[error(
        "{principal} may not answer for action {} ({action} on {target}): that takes a member of team {}",
        &.action_key[..12.min(.action_key.len())],
        .approvers.join(" or ")
    )]
    NotEntitled {
        /// Who tried.
        principal: String,
        /// The action's key.
        action_key: String,
        /// The action.
        action: String,
        /// What it acts on.
        target: Identity,
        /// The teams that may answer.
        approvers: Vec<String>,
    },
}

/// An answer to the waiting actions of one run.
#[derive(Debug, Clone)]
pub struct AnswerRequest<'a> {
    /// The run.
    pub run: &'a RunRecord,
    /// One action by id or id prefix; `None` answers every waiting action.
    pub action: Option<&'a str>,
    /// Who answers (as authenticated).
    pub principal: &'a str,
    /// Approve (or reject).
    pub approved: bool,
    /// Why, if they said.
    pub reason: Option<String>,
}

/// Every action of `run_id` that waits for an approval nobody has given.
pub fn waiting(store: &dyn Store, run_id: &str) -> Result<Vec<ActionRecord>, StoreError> {
    Ok(store
        .actions(run_id)?
        .into_iter()
        .filter(|a| a.status == ActionStatus::AwaitingApproval && a.approval.is_none())
        .collect())
}

/// Records the answer for the waiting actions it names, durably, if the
/// principal may give it; audits the refusal otherwise. Returns the answered
/// actions; the caller then resumes the run.
pub async fn answer(
    store: &dyn Store,
    model: &AuthorityModel,
    request: AnswerRequest<'_>,
) -> Result<Vec<ActionRecord>, ApprovalError> {
    let run = request.run;
    if run.dry_run {
        return Err(ApprovalError::DryRun {
            run_id: run.run_id.clone(),
        });
    }
    let chosen: Vec<ActionRecord> = waiting(store, &run.run_id)?
        .into_iter()
        .filter(|a| request.action.is_none_or(|id| a.key.starts_with(id)))
        .collect();
    if chosen.is_empty() {
        return Err(ApprovalError::NothingWaiting {
            run_id: run.run_id.clone(),
            action: request.action.map(str::to_string),
        });
    }
    if let Some(prefix) = request.action
        && chosen.len() > 1
    {
        return Err(ApprovalError::Ambiguous {
            run_id: run.run_id.clone(),
            prefix: prefix.to_string(),
            count: chosen.len(),
        });
    }
    for record in &chosen {
        let Some(Decision::NeedsApproval { approvers, .. }) = &record.decision else {
            continue;
        };
        if !approvers
            .iter()
            .any(|team| model.is_member(request.principal, team))
        {
            let refused = AuditEntry::new(AuditEvent::ApprovalRefused {
                action_key: record.key.clone(),
                approvers: approvers.clone(),
                approve: request.approved,
            })
            .run(&run.run_id)
            .incident(run.incident.clone())
            .by(request.principal);
            store.commit(Batch::new().audit(refused)).await?;
            return Err(ApprovalError::NotEntitled {
                principal: request.principal.to_string(),
                action_key: record.key.clone(),
                action: record.action.clone(),
                target: record.target.clone(),
                approvers: approvers.clone(),
            });
        }
    }
    let mut batch = Batch::new();
    let mut answered = Vec::new();
    for mut record in chosen {
        let answer = Answer {
            action_key: record.key.clone(),
            action: record.action.clone(),
            target: record.target.clone(),
            reason: request.reason.clone(),
        };
        let event = if request.approved {
            AuditEvent::ApprovalGranted(answer)
        } else {
            AuditEvent::ApprovalRejected(answer)
        };
        batch = batch.audit(
            AuditEntry::new(event)
                .run(&run.run_id)
                .incident(run.incident.clone())
                .by(request.principal),
        );
        record.approval = Some(Approval {
            approved: request.approved,
            principal: request.principal.to_string(),
            at: now_ms(),
            reason: request.reason.clone(),
        });
        batch = batch.action(&record);
        answered.push(record);
    }
    store.commit(batch).await?;
    Ok(answered)
}
