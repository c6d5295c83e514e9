//! Listings people read: runs, the approvals queue and commander grants.
//! The CLI prints them from a local store or from a server's answers, so
//! both show the same thing.

use crate::RunSummary;
use cordon_store::{Store, StoreError};
use cordon_types::{ActionStatus, Decision, GrantRecord, Identity, rfc3339};
use serde::{Deserialize, Serialize};

/// One action waiting for an approval, and who may give it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingApproval {
    /// The run it belongs to.
    pub run_id: String,
    /// The run's incident.
    pub incident: Option<String>,
    /// The action's id (its idempotency key).
    pub action_id: String,
    /// The playbook step.
    pub step: String,
    /// The plugin.
    pub plugin: String,
    /// The plugin action.
    pub action: String,
    /// What the action does.
    pub effect: String,
    /// The domain of the action's target.
    pub domain: Option<String>,
    /// What it acts on.
    pub target: Identity,
    /// Teams any of whose members may approve.
    pub approvers: Vec<String>,
    /// Why an approval is needed.
    pub reason: String,
    /// Whom the run acts as.
    pub requested_by: String,
}

impl PendingApproval {
    /// Every action waiting for an approval, oldest run first.
    pub fn all(store: &dyn Store) -> Result<Vec<PendingApproval>, StoreError> {
        let mut rows = Vec::new();
        for run in store
            .runs()?
            .into_iter()
            .filter(|r| !r.status.is_finished())
        {
            for action in store.actions(&run.run_id)? {
                if let (
                    ActionStatus::AwaitingApproval,
                    Some(Decision::NeedsApproval { approvers, reason }),
                ) = (action.status, &action.decision)
                {
                    rows.push(PendingApproval {
                        run_id: run.run_id.clone(),
                        incident: run.incident.clone(),
                        action_id: action.key.clone(),
                        step: action.step.clone(),
                        plugin: action.plugin.clone(),
                        action: action.action.clone(),
                        effect: action.effect.to_string(),
                        domain: action.domain.clone(),
                        target: action.target.clone(),
                        approvers: approvers.clone(),
                        reason: reason.clone(),
                        requested_by: run.principal.clone(),
                    });
                }
            }
        }
        Ok(rows)
    }

    /// The queue as `cordon approvals list` prints it.
    pub fn human(rows: &[PendingApproval]) -> String {
        if rows.is_empty() {
            return "Nothing waits for approval.\n".to_string();
        }
        rows.iter()
            .map(|row| {
                format!(
                    "{} {} · {} {} on {} · approvers: team {} · {}\n",
                    row.run_id,
                    prefix(&row.action_id, 12),
                    row.plugin,
                    row.action,
                    row.target.label(),
                    row.approvers.join(" or "),
                    row.reason
                )
            })
            .collect()
    }
}

fn prefix(text: &str, chars: usize) -> &str {
    text.char_indices()
        .nth(chars)
        .map_or(text, |(end, _)| &text[..end])
}

/// A commander grant as listings show it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GrantView {
    /// The grant's id.
    pub id: String,
    /// The incident it is for.
    pub incident: String,
    /// Who is incident commander.
    pub principal: String,
    /// Who granted it.
    pub granted_by: String,
    /// When it expires (RFC 3339).
    pub expires_at: String,
    /// When it was revoked (RFC 3339), if it was.
    pub revoked_at: Option<String>,
    /// Who revoked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
    /// Whether it is in force now.
    pub active: bool,
}

impl GrantView {
    /// The view of `grant` at `now` (ms since the epoch).
    pub fn new(grant: &GrantRecord, now: i64) -> GrantView {
        GrantView {
            id: grant.id.clone(),
            incident: grant.incident.clone(),
            principal: grant.principal.clone(),
            granted_by: grant.granted_by.clone(),
            expires_at: rfc3339(grant.expires_at),
            revoked_at: grant.revoked_at.map(rfc3339),
            revoked_by: grant.revoked_by.clone(),
            active: grant.is_active(now),
        }
    }

    /// The grants as `cordon grant list` prints them.
    pub fn human(grants: &[GrantView]) -> String {
        if grants.is_empty() {
            return "No commander grants.\n".to_string();
        }
        grants
            .iter()
            .map(|g| {
                let state = if g.revoked_at.is_some() {
                    format!("revoked by {}", g.revoked_by.clone().unwrap_or_default())
                } else if g.active {
                    format!("active until {}", g.expires_at)
                } else {
                    format!("expired at {}", g.expires_at)
                };
                format!(
                    "{} · {} commands {} · granted by {} · {state}\n",
                    g.id, g.principal, g.incident, g.granted_by
                )
            })
            .collect()
    }
}

impl RunSummary {
    /// Every stored run, oldest first.
    pub fn all(store: &dyn Store) -> Result<Vec<RunSummary>, StoreError> {
        store
            .runs()?
            .iter()
            .map(|run| Ok(RunSummary::new(run, store.actions(&run.run_id)?.len())))
            .collect()
    }

    /// The runs as `cordon runs list` prints them.
    pub fn human(runs: &[RunSummary]) -> String {
        if runs.is_empty() {
            return "No runs yet.\n".to_string();
        }
        let mut out = format!(
            "{:38}  {:28}  {:10}  {:>7}  STARTED\n",
            "RUN", "PLAYBOOK", "STATUS", "ACTIONS"
        );
        for s in runs {
            let dry = if s.dry_run { " (dry run)" } else { "" };
            out.push_str(&format!(
                "{:38}  {:28}  {:10}  {:>7}  {}{dry}\n",
                s.run_id, s.playbook, s.status, s.actions, s.started_at
            ));
        }
        out
    }
}
