//! Run reports: the JSON object of `--json` and the human summary.

use crate::authority::Decision;
use crate::identity::Identity;
use crate::plugin::RequestRecord;
use crate::store::{ActionRecord, ActionStatus, Millis, RunRecord};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

mod incident;
mod render;

pub use incident::IncidentReport;
pub use render::{html, markdown};

/// A run and its actions, as `cordon run --json` and `cordon runs show --json` print it.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run_id: String,
    pub playbook: String,
    /// `running`, `completed`, `partial` or `failed`.
    pub status: String,
    pub dry_run: bool,
    pub signal: String,
    pub incident: Option<String>,
    pub principal: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// From the start of the run to the last successful containment action.
    pub time_to_contain_ms: Option<i64>,
    pub summary: BTreeMap<String, usize>,
    pub actions: Vec<ActionReport>,
}

/// One action in a [`RunReport`].
#[derive(Debug, Clone, Serialize)]
pub struct ActionReport {
    pub step: String,
    pub plugin: String,
    pub action: String,
    pub effect: String,
    pub target: Identity,
    /// `applied`, `already-applied`, `planned`, `failed`, `denied`, `skipped` or `running`.
    pub status: String,
    pub attempts: u32,
    pub detail: String,
    pub decision: Option<Decision>,
    pub idempotency_key: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub evidence: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub restore: BTreeMap<String, String>,
    pub requests: Vec<RequestRecord>,
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
        }
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
        let widths = [
            self.actions
                .iter()
                .map(|a| a.step.len())
                .max()
                .unwrap_or(0)
                .max(4),
            self.actions
                .iter()
                .map(|a| a.action.len())
                .max()
                .unwrap_or(0)
                .max(6),
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
                a.step,
                a.action,
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

/// RFC 3339 (UTC, milliseconds) of a [`Millis`] timestamp.
pub fn rfc3339(ms: Millis) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// One line per run for `cordon runs list`.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub playbook: String,
    pub status: String,
    pub signal: String,
    pub incident: Option<String>,
    pub dry_run: bool,
    pub started_at: String,
    pub actions: usize,
}

impl RunSummary {
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
