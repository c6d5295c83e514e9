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
}

impl RunStatus {
    /// Whether the run has ended.
    pub fn is_finished(self) -> bool {
        self != RunStatus::Running
    }

    /// The kebab-case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
        }
    }
}

/// One execution of a playbook for one signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
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
}

impl ActionStatus {
    /// Whether the action has reached its final state.
    pub fn is_final(self) -> bool {
        self != ActionStatus::Running
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
