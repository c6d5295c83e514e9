//! The post-incident review: everything Cordon did for one incident.

use super::rfc3339;
use cordon_authority::AuthorityModel;
use cordon_input::Catalogue;
use cordon_store::{AuditRecord, Store, StoreError, StoreExt};
use cordon_types::audit::Answer;
use cordon_types::{
    ActionRecord, ActionStatus, AuditEvent, Decision, Identity, RunKind, RunRecord,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What each `plugin.action` of `plugins` is undone with (`None`: it cannot
/// be), as [`IncidentReport::build`] takes it.
pub fn restore_table(plugins: &dyn Catalogue) -> BTreeMap<String, Option<String>> {
    let mut table = BTreeMap::new();
    for name in plugins.names() {
        if let Some(info) = plugins.plugin(&name) {
            for action in &info.actions {
                let restore = action.restore_with.clone();
                table.insert(format!("{name}.{}", action.name), restore);
            }
        }
    }
    table
}

/// The plugins the runs of `incident` used.
pub fn plugins_of_incident(store: &dyn Store, incident: &str) -> Result<Vec<String>, StoreError> {
    let mut names = Vec::new();
    for run in store
        .runs()?
        .iter()
        .filter(|r| r.incident.as_deref() == Some(incident))
    {
        names.extend(store.actions(&run.run_id)?.into_iter().map(|a| a.plugin));
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// The report of `cordon report INCIDENT`.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentReport {
    /// The incident's id.
    pub incident: String,
    /// When the report was built (RFC 3339).
    pub generated_at: String,
    /// When and by which signal the incident was opened for incident response.
    pub opened: Option<Opened>,
    /// Every run of the incident, containment and restore.
    pub runs: Vec<RunLine>,
    /// From the start of each run to the containment of its last identity.
    pub time_to_contain_ms: Option<i64>,
    /// The abused identities of the incident's containment runs.
    pub identities: Vec<IdentityLine>,
    /// Actions waiting for an approval.
    pub pending_approvals: Vec<PendingLine>,
    /// Applied state-changing actions that can still be restored, and who may restore them.
    pub restorable: Vec<RestorableLine>,
    /// Applied actions that a restore run has undone.
    pub restored: Vec<RestoredLine>,
    /// Applied state-changing actions that have no restore action.
    pub irreversible: Vec<ActionLine>,
    /// The grants of authority given for the incident.
    pub grants: Vec<GrantLine>,
    /// The audit trail of the incident and its runs, one line per event (action intents left out).
    pub timeline: Vec<TimelineLine>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Opened {
    pub at: String,
    pub by_signal: String,
    pub severity: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunLine {
    pub run_id: String,
    pub kind: String,
    pub playbook: String,
    pub signal: String,
    pub principal: String,
    pub status: String,
    pub dry_run: bool,
    pub started_at: String,
    pub time_to_contain_ms: Option<i64>,
}

/// One abused identity (an identity of a signal of the incident).
#[derive(Debug, Clone, Serialize)]
pub struct IdentityLine {
    pub identity: Identity,
    pub run_id: String,
    pub owner: Option<String>,
    pub workload: Option<String>,
    pub issuer: Option<String>,
    pub used_by: Option<String>,
    /// `contained`, `partially contained`, `pending approval`, `not contained` or `planned only`.
    pub status: String,
    pub time_to_contain_ms: Option<i64>,
    /// `action: status` of every action taken for it.
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActionLine {
    pub run_id: String,
    pub action_id: String,
    pub step: String,
    pub action: String,
    pub target: Identity,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PendingLine {
    pub action: ActionLine,
    pub approvers: Vec<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RestorableLine {
    pub action: ActionLine,
    pub restore_with: String,
    /// Teams whose members may restore it (the owners of its domain).
    pub by: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RestoredLine {
    pub action: ActionLine,
    pub restored_by: String,
    pub restore_run: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GrantLine {
    pub id: String,
    pub principal: String,
    pub granted_by: String,
    pub created_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelineLine {
    pub at: String,
    pub kind: String,
    pub principal: Option<String>,
    pub summary: String,
}

fn line(action: &ActionRecord) -> ActionLine {
    ActionLine {
        run_id: action.run_id.clone(),
        action_id: action.key.clone(),
        step: action.step.clone(),
        action: action.action.clone(),
        target: action.target.clone(),
        detail: action.detail.clone(),
    }
}

impl IncidentReport {
    /// Builds the report of `incident` from the store. `restore_with` maps
    /// `plugin.action` to its restore action for reversible actions (from
    /// the plugins' `describe`), when plugins could be loaded.
    pub fn build(
        store: &dyn Store,
        incident: &str,
        model: Option<&AuthorityModel>,
        restore_with: &BTreeMap<String, Option<String>>,
    ) -> Result<Option<IncidentReport>, StoreError> {
        let runs: Vec<RunRecord> = store
            .runs()?
            .into_iter()
            .filter(|r| r.incident.as_deref() == Some(incident))
            .collect();
        let grants: Vec<_> = store
            .grants()?
            .into_iter()
            .filter(|g| g.incident == incident)
            .collect();
        let opened = store.incident(incident)?;
        if runs.is_empty() && grants.is_empty() && opened.is_none() {
            return Ok(None);
        }
        let run_ids: BTreeSet<String> = runs.iter().map(|r| r.run_id.clone()).collect();

        let mut actions_by_run = BTreeMap::new();
        for run in &runs {
            actions_by_run.insert(run.run_id.clone(), store.actions(&run.run_id)?);
        }
        // Which original actions a restore run undid.
        let mut restored: BTreeMap<String, (String, String)> = BTreeMap::new();
        for run in runs
            .iter()
            .filter(|r| matches!(r.kind, RunKind::Restore { .. }))
        {
            for action in &actions_by_run[&run.run_id] {
                if action.status.is_success()
                    && let Some(original) = action.evidence.get("restores")
                {
                    restored.insert(
                        original.clone(),
                        (run.principal.clone(), run.run_id.clone()),
                    );
                }
            }
        }

        let mut report = IncidentReport {
            incident: incident.to_string(),
            generated_at: rfc3339(cordon_types::now_ms()),
            opened: opened.map(|o| Opened {
                at: rfc3339(o.opened_at),
                by_signal: o.opened_by,
                severity: o.severity.to_string(),
            }),
            runs: Vec::new(),
            time_to_contain_ms: None,
            identities: Vec::new(),
            pending_approvals: Vec::new(),
            restorable: Vec::new(),
            restored: Vec::new(),
            irreversible: Vec::new(),
            grants: grants
                .iter()
                .map(|g| GrantLine {
                    id: g.id.clone(),
                    principal: g.principal.clone(),
                    granted_by: g.granted_by.clone(),
                    created_at: rfc3339(g.created_at),
                    expires_at: rfc3339(g.expires_at),
                    revoked_at: g.revoked_at.map(rfc3339),
                })
                .collect(),
            timeline: Vec::new(),
        };

        for run in &runs {
            let actions = &actions_by_run[&run.run_id];
            report.runs.push(RunLine {
                run_id: run.run_id.clone(),
                kind: match run.kind {
                    RunKind::Containment => "containment".into(),
                    RunKind::Restore { .. } => "restore".into(),
                },
                playbook: run.playbook.clone(),
                signal: run.signal_id.clone(),
                principal: run.principal.clone(),
                status: run.status.as_str().into(),
                dry_run: run.dry_run,
                started_at: rfc3339(run.started_at),
                time_to_contain_ms: super::time_to_contain(run, actions),
            });
            if run.kind != RunKind::Containment {
                continue;
            }
            report.identity_lines(store, run, actions)?;
            for action in actions {
                report.action_lines(model, restore_with, &restored, action);
            }
        }
        report.time_to_contain_ms = report
            .identities
            .iter()
            .filter(|i| i.status == "contained")
            .filter_map(|i| i.time_to_contain_ms)
            .max();

        for record in store.audit_records()? {
            let ours = record.incident.as_deref() == Some(incident)
                || record.run_id.as_ref().is_some_and(|r| run_ids.contains(r));
            if ours && record.kind != "action.intent" {
                report.timeline.push(TimelineLine {
                    at: rfc3339(record.at),
                    kind: record.kind.clone(),
                    principal: record.principal.clone(),
                    summary: summarize(&record),
                });
            }
        }
        Ok(Some(report))
    }

    fn identity_lines(
        &mut self,
        store: &dyn Store,
        run: &RunRecord,
        actions: &[ActionRecord],
    ) -> Result<(), StoreError> {
        let facts: BTreeMap<usize, _> = store
            .facts(&run.run_id)?
            .into_iter()
            .map(|f| (f.identity, f))
            .collect();
        let Ok((_, signal)) = cordon_engine::stored_inputs(run) else {
            return Ok(());
        };
        for (index, identity) in signal.identities.iter().enumerate() {
            let own: Vec<&ActionRecord> = actions
                .iter()
                .filter(|a| a.sources.contains(&index))
                .collect();
            let changing: Vec<&&ActionRecord> =
                own.iter().filter(|a| a.effect.changes_state()).collect();
            let done = |a: &&&ActionRecord| {
                matches!(
                    a.status,
                    ActionStatus::Applied | ActionStatus::AlreadyApplied
                )
            };
            let status = if changing
                .iter()
                .any(|a| a.status == ActionStatus::AwaitingApproval)
            {
                "pending approval"
            } else if run.dry_run {
                "planned only"
            } else if !changing.is_empty() && changing.iter().all(done) {
                "contained"
            } else if changing.iter().any(done) {
                "partially contained"
            } else {
                "not contained"
            };
            let time_to_contain_ms = (status == "contained")
                .then(|| changing.iter().filter_map(|a| a.finished_at).max())
                .flatten()
                .map(|done| (done - run.started_at).max(0));
            let known = facts
                .get(&index)
                .map(|f| f.facts.clone())
                .unwrap_or_default();
            self.identities.push(IdentityLine {
                identity: identity.clone(),
                run_id: run.run_id.clone(),
                owner: known.owner,
                workload: known.workload,
                issuer: known.issuer,
                used_by: known.used_by,
                status: status.into(),
                time_to_contain_ms,
                actions: own
                    .iter()
                    .map(|a| format!("{}: {}", a.action, a.status.as_str()))
                    .collect(),
            });
        }
        Ok(())
    }

    fn action_lines(
        &mut self,
        model: Option<&AuthorityModel>,
        restore_with: &BTreeMap<String, Option<String>>,
        restored: &BTreeMap<String, (String, String)>,
        action: &ActionRecord,
    ) {
        if action.status == ActionStatus::AwaitingApproval
            && let Some(Decision::NeedsApproval { approvers, reason }) = &action.decision
        {
            self.pending_approvals.push(PendingLine {
                action: line(action),
                approvers: approvers.clone(),
                reason: reason.clone(),
            });
        }
        if action.status != ActionStatus::Applied || !action.effect.changes_state() {
            return;
        }
        if let Some((by, run)) = restored.get(&action.key) {
            self.restored.push(RestoredLine {
                action: line(action),
                restored_by: by.clone(),
                restore_run: run.clone(),
            });
            return;
        }
        match restore_with.get(&format!("{}.{}", action.plugin, action.action)) {
            Some(Some(restore)) => {
                let by = match (model, &action.domain) {
                    (Some(model), Some(domain)) => model
                        .owners_of(domain)
                        .iter()
                        .map(|t| t.name.clone())
                        .collect(),
                    _ => vec!["any operator (no authority model)".to_string()],
                };
                self.restorable.push(RestorableLine {
                    action: line(action),
                    restore_with: restore.clone(),
                    by,
                });
            }
            Some(None) => self.irreversible.push(line(action)),
            // The plugin is not loaded: say nothing rather than guess.
            None => {}
        }
    }
}

/// One sentence for a timeline entry.
fn summarize(record: &AuditRecord) -> String {
    let event = match record.event() {
        Ok(event) => event,
        Err(err) => return format!("{} (unreadable: {err})", record.kind),
    };
    let run = || record.run_id.clone().unwrap_or_default();
    match event {
        AuditEvent::RunStarted {
            playbook, signal, ..
        } => format!(
            "run {} of playbook {playbook} started for signal {} ({}, {})",
            run(),
            signal.id,
            signal.kind,
            signal.severity
        ),
        AuditEvent::IncidentOpened {
            signal,
            severity,
            incident_response,
            ..
        } => format!(
            "incident opened by signal {signal} ({severity}): team {incident_response} may act in every domain"
        ),
        AuditEvent::Decision {
            action, decision, ..
        } => {
            let (verdict, why) = match &decision {
                Decision::Allowed { rule } => ("allowed", rule),
                Decision::NeedsApproval { reason, .. } => ("needs-approval", reason),
                Decision::Denied { reason } => ("denied", reason),
            };
            format!(
                "{verdict} {} on {}: {why}",
                action.action,
                action.target.label()
            )
        }
        AuditEvent::ActionIntent {
            action, attempt, ..
        } => format!(
            "attempt {attempt} of {} on {}",
            action.action,
            action.target.label()
        ),
        AuditEvent::ActionCheckpoint {
            action,
            attempt,
            evidence,
            restore,
        } => {
            let mut kept: Vec<&str> = evidence.keys().map(String::as_str).collect();
            kept.extend(restore.iter().map(String::as_str));
            format!(
                "attempt {attempt} of {} on {} kept {} before its write",
                action.action,
                action.target.label(),
                kept.join(", ")
            )
        }
        AuditEvent::ActionOutcome {
            action,
            status,
            detail,
            ..
        } => format!(
            "{} {} on {}: {detail}",
            status.as_str(),
            action.action,
            action.target.label()
        ),
        AuditEvent::ApprovalGranted(Answer { action, target, .. }) => {
            format!("approved {action} on {}", target.label())
        }
        AuditEvent::ApprovalRejected(Answer { action, target, .. }) => {
            format!("rejected {action} on {}", target.label())
        }
        AuditEvent::ApprovalRefused { action_key, .. } => {
            format!("refused an approval by a principal without the right (action {action_key})")
        }
        AuditEvent::GrantCreated {
            grant,
            to,
            expires_at,
            ..
        } => format!("commander authority granted to {to} until {expires_at} ({grant})"),
        AuditEvent::GrantRevoked { grant, from } => {
            format!("commander grant {grant} of {from} revoked")
        }
        AuditEvent::GrantRefused { to, .. } => format!("refused a commander grant to {to}"),
        AuditEvent::RestoreRequested {
            of_run, actions, ..
        } => format!(
            "restore of run {of_run} requested ({} actions)",
            actions.len()
        ),
        AuditEvent::RunFinished(end) | AuditEvent::RunPaused(end) => {
            format!("run {} {}", run(), end.status.as_str())
        }
        AuditEvent::RunInterrupted(_) => {
            format!(
                "run {} interrupted: the service stopped; it resumes on the next start",
                run()
            )
        }
        AuditEvent::AccessDenied(denied) => format!(
            "refused {} {} from {} ({}): {}",
            denied.method, denied.path, denied.from, denied.status, denied.reason
        ),
        AuditEvent::SignalSubmitted { signal, runs, from } => {
            format!(
                "signal {signal} submitted from {from} ({} runs)",
                runs.len()
            )
        }
        AuditEvent::NotificationDelivered(n) => format!(
            "notifier {} told of action {} waiting for approval ({} attempts)",
            n.notifier, n.action_key, n.attempts
        ),
        AuditEvent::NotificationFailed(n) => format!(
            "notifier {} could not be told of action {} after {} attempts: {}",
            n.notifier,
            n.action_key,
            n.attempts,
            n.error.as_deref().unwrap_or("no answer")
        ),
    }
}
