//! What the store keeps: runs and the actions they took.

use crate::contract::IdentityFacts;
use crate::decision::Decision;
use crate::identity::{Effect, Identity};
use crate::request::RequestRecord;
use crate::severity::Severity;
use crate::time::Millis;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// The playbook step of the action being undone.
    pub step: String,
    /// The plugin (by its name in the operator config) that runs the restore action.
    pub plugin: String,
    /// The restore action (`restore-with` of the original).
    pub action: String,
    /// The identity the undone action was applied to.
    pub target: Identity,
    /// Parameters for the restore action: the undone action's `restore` data.
    pub params: BTreeMap<String, String>,
}

/// One execution of a playbook for one signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's unique id.
    pub run_id: String,
    /// Whether this is a containment run or a restore run.
    #[serde(default)]
    pub kind: RunKind,
    /// The playbook's name.
    pub playbook: String,
    /// Where the playbook was read from, and its full text: a run resumes
    /// from this text, not from the file, which may have changed.
    pub playbook_path: String,
    /// The playbook's full text when the run started.
    pub playbook_source: String,
    /// The signal's JSON, as received.
    pub signal_source: String,
    /// The signal's `id`.
    pub signal_id: String,
    /// The incident the signal belongs to, if any.
    pub incident: Option<String>,
    /// Whom the run acts as.
    pub principal: String,
    /// Whether actions are only planned, not applied.
    pub dry_run: bool,
    /// Where the run stands.
    pub status: RunStatus,
    /// When the run started.
    pub started_at: Millis,
    /// When the run finished; `None` while it has not.
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
    /// The plugin changed the provider's state.
    Applied,
    /// The provider was already in the wanted state.
    AlreadyApplied,
    /// Dry run: the action would have been applied.
    Planned,
    /// The plugin call failed, or the step's target or parameters could not be computed.
    Failed,
    /// The authority model denied it, or an approver rejected it.
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
    /// The run the action belongs to.
    pub run_id: String,
    /// Derived from (run, step, target); the idempotency key the plugin gets.
    pub key: String,
    /// Creation order within the run.
    pub seq: u64,
    /// The id of the playbook step that produced it.
    pub step: String,
    /// The plugin's name in the operator config.
    pub plugin: String,
    /// The name of the plugin action called.
    pub action: String,
    /// What the action does to its target, as the plugin declares it.
    pub effect: Effect,
    /// The identity the action is applied to.
    pub target: Identity,
    /// The action's parameters, templates resolved.
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
    /// Where the action stands.
    pub status: ActionStatus,
    /// Calls made so far (retries and resumes included).
    pub attempts: u32,
    /// A one-line description of the outcome or of why it failed, was denied or skipped.
    pub detail: String,
    /// Facts the plugin reported; later steps read them as `steps.<id>.evidence.<key>`.
    pub evidence: BTreeMap<String, String>,
    /// What the restore action needs.
    pub restore: BTreeMap<String, String>,
    /// Outbound requests of every attempt.
    pub requests: Vec<RequestRecord>,
    /// When the action was recorded.
    pub created_at: Millis,
    /// When the action reached a final state; `None` until it has.
    pub finished_at: Option<Millis>,
}

/// An answer to an action that needed approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Whether the action was approved (`false`: rejected).
    pub approved: bool,
    /// Who answered.
    pub principal: String,
    /// When the answer was given.
    pub at: Millis,
    /// Why the approver answered so, if they said.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Temporary cross-domain authority for an incident commander.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    /// The grant's unique id (`grant-…`).
    pub id: String,
    /// The incident the authority is for.
    pub incident: String,
    /// Who receives the authority.
    pub principal: String,
    /// Who gave the grant.
    pub granted_by: String,
    /// When the grant was given.
    pub created_at: Millis,
    /// When the grant stops giving authority.
    pub expires_at: Millis,
    /// When the grant was revoked, if it was.
    pub revoked_at: Option<Millis>,
    /// Who revoked the grant, if anyone did.
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
    /// The incident's id, as named by the signal.
    pub id: String,
    /// When the incident was opened.
    pub opened_at: Millis,
    /// The signal that opened it.
    pub opened_by: String,
    /// The severity of the signal that opened it.
    pub severity: Severity,
}

/// What is known about one signal identity of a run: the inventory merged
/// with the plugin's `inspect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactsRecord {
    /// The run the facts were gathered for.
    pub run_id: String,
    /// Index of the identity in the run's signal.
    pub identity: usize,
    /// The identity the facts are about.
    pub target: Identity,
    /// What the inventory and the plugin know about it.
    pub facts: IdentityFacts,
    /// Where the facts came from: `inventory`, `plugin`, or both.
    pub sources: Vec<String>,
    /// Why the plugin could not say, if it could not.
    pub error: Option<String>,
    /// The requests the plugin's `inspect` made, rate-limited tries included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<crate::RequestRecord>,
}
