//! What people see of runs and incidents: the run report (`--json` and the
//! human summary), listings of approvals and grants, and the post-incident
//! review.

#![warn(missing_docs)]

pub use cordon_types::rfc3339;
use cordon_types::{ActionRecord, ActionStatus, FactsRecord, RunRecord};
use cordon_types::{Decision, Identity, RequestRecord};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

mod incident;
mod render;
mod terminal;
mod views;

pub use incident::{IncidentReport, plugins_of_incident, restore_table};
pub use render::{html, markdown};
pub use terminal::terminal_safe;
pub use views::{GrantView, PendingApproval};

/// A run and its actions, as `cordon run --json` and `cordon runs show --json` print it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    /// The run's unique id.
    pub run_id: String,
    /// The playbook's name.
    pub playbook: String,
    /// `running`, `completed`, `partial` or `failed`.
    pub status: String,
    /// Whether actions were only planned, not applied.
    pub dry_run: bool,
    /// The `id` of the signal the run answered.
    pub signal: String,
    /// The incident the signal belongs to, if any.
    pub incident: Option<String>,
    /// Whom the run acts as.
    pub principal: String,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// When the run finished (RFC 3339); `None` while it has not.
    pub finished_at: Option<String>,
    /// From the start of the run to the last successful containment action.
    pub time_to_contain_ms: Option<i64>,
    /// How many of the run's actions are in each status.
    pub summary: BTreeMap<String, usize>,
    /// The run's actions, in creation order.
    pub actions: Vec<ActionReport>,
    /// The identities the plugins were asked about after containment, with
    /// the requests that made; omitted when there were none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inspections: Vec<InspectionReport>,
}

/// One `inspect` of an identity in a [`RunReport`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InspectionReport {
    /// The identity asked about.
    pub target: Identity,
    /// Why the plugin could not say, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The requests made.
    pub requests: Vec<RequestRecord>,
}

/// One action in a [`RunReport`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionReport {
    /// The id of the playbook step that produced it.
    pub step: String,
    /// The plugin's name in the operator config.
    pub plugin: String,
    /// The name of the plugin action called.
    pub action: String,
    /// What the action does to its target, as the plugin declares it.
    pub effect: String,
    /// The identity the action is applied to.
    pub target: Identity,
    /// `applied`, `already-applied`, `planned`, `failed`, `denied`, `skipped` or `running`.
    pub status: String,
    /// Calls made so far (retries and resumes included).
    pub attempts: u32,
    /// A one-line description of the outcome, or of why it failed, was denied or skipped.
    pub detail: String,
    /// The authority decision, once one is recorded.
    pub decision: Option<Decision>,
    /// The idempotency key the plugin gets, derived from (run, step, target).
    pub idempotency_key: String,
    /// Facts the plugin reported; omitted when empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub evidence: BTreeMap<String, String>,
    /// What the restore action needs; omitted when empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub restore: BTreeMap<String, String>,
    /// Outbound requests of every attempt.
    pub requests: Vec<RequestRecord>,
    /// When the action reached a final state (RFC 3339); `None` until it has.
    pub finished_at: Option<String>,
}

/// Milliseconds from the run's start to its last successful state-changing action.
pub fn time_to_contain(run: &RunRecord, actions: &[ActionRecord]) -> Option<i64> {
    actions
        .iter()
        .filter(|a| {
            matches!(
                a.status,
                ActionStatus::Applied | ActionStatus::AlreadyApplied
            ) && a.effect.changes_state()
        })
        .filter_map(|a| a.finished_at)
        .max()
        .map(|done| (done - run.started_at).max(0))
}

impl RunReport {
    /// The report of a stored run.
    pub fn new(run: &RunRecord, actions: &[ActionRecord]) -> RunReport {
        let mut summary = BTreeMap::new();
        for action in actions {
            *summary
                .entry(action.status.as_str().to_string())
                .or_insert(0) += 1;
        }
        RunReport {
            run_id: run.run_id.clone(),
            playbook: run.playbook.clone(),
            status: run.status.as_str().to_string(),
            dry_run: run.dry_run,
            signal: run.signal_id.clone(),
            incident: run.incident.clone(),
            principal: run.principal.clone(),
            started_at: rfc3339(run.started_at),
            finished_at: run.finished_at.map(rfc3339),
            time_to_contain_ms: time_to_contain(run, actions),
            summary,
            actions: actions
                .iter()
                .map(|a| ActionReport {
                    step: a.step.clone(),
                    plugin: a.plugin.clone(),
                    action: a.action.clone(),
                    effect: a.effect.to_string(),
                    target: a.target.clone(),
                    status: a.status.as_str().to_string(),
                    attempts: a.attempts,
                    detail: a.detail.clone(),
                    decision: a.decision.clone(),
                    idempotency_key: a.key.clone(),
                    evidence: a.evidence.clone(),
                    restore: a.restore.clone(),
                    requests: a.requests.clone(),
                    finished_at: a.finished_at.map(rfc3339),
                })
                .collect(),
            inspections: Vec::new(),
        }
    }

    /// Adds the run's inspections (those that made requests or failed).
    pub fn with_facts(mut self, facts: &[FactsRecord]) -> RunReport {
        self.inspections = facts
            .iter()
            .filter(|f| !f.requests.is_empty() || f.error.is_some())
            .map(|f| InspectionReport {
                target: f.target.clone(),
                error: f.error.clone(),
                requests: f.requests.clone(),
            })
            .collect();
        self
    }

    /// A readable summary for a terminal.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let mode = if self.dry_run {
            " (dry run: nothing was changed)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "Run {} · playbook {} · {}{mode}",
            self.run_id, self.playbook, self.status
        );
        let _ = writeln!(
            out,
            "Signal {}{} · acting as {}",
            self.signal,
            self.incident
                .as_ref()
                .map(|i| format!(" · incident {i}"))
                .unwrap_or_default(),
            self.principal
        );
        if self.actions.is_empty() {
            let _ = writeln!(
                out,
                "\nNo identity in the signal matched a step: nothing to do."
            );
            return out;
        }
        // Every width is bounded: they come from stored records, and a
        // width past the formatter's limit would panic.
        let widths = [
            self.actions
                .iter()
                .map(|a| a.step.chars().count())
                .max()
                .unwrap_or(0)
                .clamp(4, 32),
            self.actions
                .iter()
                .map(|a| a.action.chars().count())
                .max()
                .unwrap_or(0)
                .clamp(6, 32),
            self.actions
                .iter()
                .map(|a| a.target.to_string().len())
                .max()
                .unwrap_or(0)
                .clamp(6, 48),
            15,
        ];
        let _ = writeln!(
            out,
            "\n{:w0$}  {:w1$}  {:w2$}  {:w3$}  DETAIL",
            "STEP",
            "ACTION",
            "TARGET",
            "STATUS",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        );
        for a in &self.actions {
            let _ = writeln!(
                out,
                "{:w0$}  {:w1$}  {:w2$}  {:w3$}  {}",
                truncate(&a.step, widths[0]),
                truncate(&a.action, widths[1]),
                truncate(&a.target.to_string(), widths[2]),
                a.status,
                a.detail,
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3]
            );
        }
        let counts: Vec<String> = self
            .summary
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        let _ = writeln!(
            out,
            "\n{} actions: {}",
            self.actions.len(),
            counts.join(", ")
        );
        match self.time_to_contain_ms {
            Some(ms) => {
                let _ = writeln!(out, "Time to contain: {:.3} s", ms as f64 / 1000.0);
            }
            None if self.dry_run => {}
            None => {
                let _ = writeln!(out, "Nothing was contained.");
            }
        }
        out
    }
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// One line per run for `cordon runs list`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run's unique id.
    pub run_id: String,
    /// The playbook's name.
    pub playbook: String,
    /// `running`, `completed`, `partial` or `failed`.
    pub status: String,
    /// The `id` of the signal the run answered.
    pub signal: String,
    /// The incident the signal belongs to, if any.
    pub incident: Option<String>,
    /// Whether actions were only planned, not applied.
    pub dry_run: bool,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// How many actions the run has.
    pub actions: usize,
}

impl RunSummary {
    /// The summary of a stored run that has `actions` actions.
    pub fn new(run: &RunRecord, actions: usize) -> RunSummary {
        RunSummary {
            run_id: run.run_id.clone(),
            playbook: run.playbook.clone(),
            status: run.status.as_str().to_string(),
            signal: run.signal_id.clone(),
            incident: run.incident.clone(),
            dry_run: run.dry_run,
            started_at: rfc3339(run.started_at),
            actions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RunReport;
    use cordon_store::conformance::{sample_action, sample_run};

    #[test]
    fn names_too_long_for_a_column_are_cut_never_a_panic() {
        // Records a store may hold from before ids were bounded: a column
        // width past the formatter's limit (65,535) used to panic.
        let mut action = sample_action("r", "k", 0);
        action.step = "s".repeat(70_000);
        action.action = "a".repeat(70_000);
        let text = RunReport::new(&sample_run("r", 1), &[action]).human();
        let row = text
            .lines()
            .find(|l| l.starts_with("sss"))
            .expect("the action's row");
        assert!(row.chars().count() < 200, "{} characters", row.len());
        assert!(row.contains('…'), "{row}");
    }
}
