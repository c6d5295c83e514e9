//! What the store keeps: runs and the actions they took.

use crate::authority::Decision;
use crate::identity::{Effect, Identity};
use crate::plugin::RequestRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// Now, in [`Millis`].
pub fn now_ms() -> Millis {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as Millis
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// Started and not finished (or interrupted: `cordon resume` continues it).
    Running,
    /// Every action applied, already applied or planned.
    Completed,
    /// Some actions succeeded, some did not.
    Partial,
    /// No action succeeded.
    Failed,
    /// Some actions wait for an approval; `cordon approve` continues the run.
    AwaitingApproval,
}

impl RunStatus {
    /// Whether the run has ended (a run awaiting approval has not).
    pub fn is_finished(self) -> bool {
        !matches!(self, RunStatus::Running | RunStatus::AwaitingApproval)
    }

    /// The kebab-case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
            RunStatus::AwaitingApproval => "awaiting-approval",
        }
    }
}

/// What a run does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum RunKind {
    /// A playbook run for a signal.
    #[default]
    Containment,
    /// Undoing actions of an earlier run (`cordon restore`).
    Restore {
        /// The run whose actions are undone.
        of_run: String,
        /// What to undo, fixed when the restore was asked for.
        plan: Vec<RestoreItem>,
    },
}

/// One action a restore run undoes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreItem {
    /// The key of the action being undone.
    pub of_action: String,
    pub step: String,
    pub plugin: String,
    /// The restore action (`restore-with` of the original).
    pub action: String,
    pub target: Identity,
    pub params: BTreeMap<String, String>,
}

/// One execution of a playbook for one signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    #[serde(default)]
    pub kind: RunKind,
    pub playbook: String,
    /// Where the playbook was read from, and its full text: a run resumes
    /// from this text, not from the file, which may have changed.
    pub playbook_path: String,
    pub playbook_source: String,
    /// The signal's JSON, as received.
    pub signal_source: String,
    pub signal_id: String,
    pub incident: Option<String>,
    /// Whom the run acts as.
    pub principal: String,
    pub dry_run: bool,
    pub status: RunStatus,
    pub started_at: Millis,
    pub finished_at: Option<Millis>,
}

/// Where an action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionStatus {
    /// Decided and about to be called, or called with no outcome recorded
    /// yet. An action found `running` on resume is called again with the
    /// same idempotency key.
    Running,
    Applied,
    AlreadyApplied,
    Planned,
    Failed,
    Denied,
    /// Not run because an action it needs did not succeed, or the run aborted.
    Skipped,
    /// Waits for an approval (the decision says by whom).
    AwaitingApproval,
}

impl ActionStatus {
    /// Whether the action has reached its final state.
    pub fn is_final(self) -> bool {
        !matches!(self, ActionStatus::Running | ActionStatus::AwaitingApproval)
    }

    /// Whether the action did what it should (or would, in a dry run).
    pub fn is_success(self) -> bool {
        matches!(
            self,
            ActionStatus::Applied | ActionStatus::AlreadyApplied | ActionStatus::Planned
        )
    }

    /// The kebab-case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Running => "running",
            ActionStatus::Applied => "applied",
            ActionStatus::AlreadyApplied => "already-applied",
            ActionStatus::Planned => "planned",
            ActionStatus::Failed => "failed",
            ActionStatus::Denied => "denied",
            ActionStatus::Skipped => "skipped",
            ActionStatus::AwaitingApproval => "awaiting-approval",
        }
    }
}

/// One plugin action of a run, on one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    pub run_id: String,
    /// Derived from (run, step, target); the idempotency key the plugin gets.
    pub key: String,
    /// Creation order within the run.
    pub seq: u64,
    pub step: String,
    pub plugin: String,
    pub action: String,
    pub effect: Effect,
    pub target: Identity,
    pub params: BTreeMap<String, String>,
    /// Indices of the signal identities that led to this action.
    pub sources: Vec<usize>,
    /// The authority decision, recorded before anything executes.
    pub decision: Option<Decision>,
    /// The containment domain the authority model put the action in.
    #[serde(default)]
    pub domain: Option<String>,
    /// The answer to a `needs-approval` decision.
    #[serde(default)]
    pub approval: Option<Approval>,
    pub status: ActionStatus,
    /// Calls made so far (retries and resumes included).
    pub attempts: u32,
    pub detail: String,
    pub evidence: BTreeMap<String, String>,
    /// What the restore action needs.
    pub restore: BTreeMap<String, String>,
    /// Outbound requests of every attempt.
    pub requests: Vec<RequestRecord>,
    pub created_at: Millis,
    pub finished_at: Option<Millis>,
}

/// An answer to an action that needed approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub approved: bool,
    pub principal: String,
    pub at: Millis,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Temporary cross-domain authority for an incident commander.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    pub id: String,
    pub incident: String,
    /// Who receives the authority.
    pub principal: String,
    pub granted_by: String,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub revoked_at: Option<Millis>,
    pub revoked_by: Option<String>,
}

impl GrantRecord {
    /// Whether the grant gives authority at `now`.
    pub fn is_active(&self, now: Millis) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// An incident, opened by a signal at or above incident response's severity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentRecord {
    pub id: String,
    pub opened_at: Millis,
    /// The signal that opened it.
    pub opened_by: String,
    pub severity: crate::signal::Severity,
}

/// What is known about one signal identity of a run: the inventory merged
/// with the plugin's `inspect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactsRecord {
    pub run_id: String,
    /// Index of the identity in the run's signal.
    pub identity: usize,
    pub target: Identity,
    pub facts: crate::plugin::contract::IdentityFacts,
    /// Where the facts came from: `inventory`, `plugin`, or both.
    pub sources: Vec<String>,
    /// Why the plugin could not say, if it could not.
    pub error: Option<String>,
}
