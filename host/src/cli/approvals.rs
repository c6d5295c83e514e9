//! `cordon approvals list`, `cordon approve`, `cordon reject`.

use super::context::Context;
use super::run::{plugins_of_run, print_run, resume_one};
use crate::audit::AuditEvent;
use crate::authority::Decision;
use crate::store::{ActionRecord, ActionStatus, Approval, now_ms};
use anyhow::bail;
use serde_json::json;
use std::path::Path;

/// `cordon approvals list`: every action waiting for an approval.
pub fn list(config_path: &Path, json: bool) -> anyhow::Result<u8> {
    let ctx = Context::open(config_path)?;
    let mut rows = Vec::new();
    for run in ctx
        .store
        .runs()?
        .into_iter()
        .filter(|r| !r.status.is_finished())
    {
        for action in ctx.store.actions(&run.run_id)? {
            if let (
                ActionStatus::AwaitingApproval,
                Some(Decision::NeedsApproval { approvers, reason }),
            ) = (action.status, &action.decision)
            {
                rows.push(json!({
                    "run_id": run.run_id, "incident": run.incident, "action_id": action.key,
                    "step": action.step, "plugin": action.plugin, "action": action.action,
                    "effect": action.effect, "domain": action.domain, "target": action.target,
                    "approvers": approvers, "reason": reason, "requested_by": run.principal,
                }));
            }
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if rows.is_empty() {
        println!("Nothing waits for approval.");
    } else {
        for row in &rows {
            println!(
                "{} {} · {} {} on {} · approvers: team {} · {}",
                row["run_id"].as_str().unwrap_or_default(),
                &row["action_id"].as_str().unwrap_or_default()[..12],
                row["plugin"].as_str().unwrap_or_default(),
                row["action"].as_str().unwrap_or_default(),
                crate::identity::Identity::label(&serde_json::from_value(row["target"].clone())?),
                row["approvers"]
                    .as_array()
                    .map(|a| a
                        .iter()
                        .filter_map(|v| v.as_str())
                        .collect::<Vec<_>>()
                        .join(" or "))
                    .unwrap_or_default(),
                row["reason"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(super::EXIT_OK)
}

/// `cordon approve` / `cordon reject`: answer the waiting actions of a run
/// (all of them, or the one `--action` names by id or id prefix), then
/// continue the run.
pub async fn answer(
    config_path: &Path,
    run_id: &str,
    action: Option<&str>,
    principal: &str,
    approved: bool,
    reason: Option<String>,
    json: bool,
) -> anyhow::Result<u8> {
    let ctx = Context::open(config_path)?;
    let authority = ctx.require_authority(if approved { "approve" } else { "reject" })?;
    let run = ctx.store.run(run_id)?;
    let waiting: Vec<ActionRecord> = ctx
        .store
        .actions(run_id)?
        .into_iter()
        .filter(|a| a.status == ActionStatus::AwaitingApproval && a.approval.is_none())
        .filter(|a| action.is_none_or(|id| a.key.starts_with(id)))
        .collect();
    if waiting.is_empty() {
        bail!(
            "run {run_id} has no action {}waiting for approval",
            action.map(|a| format!("`{a}` ")).unwrap_or_default()
        );
    }
    if action.is_some() && waiting.len() > 1 {
        bail!(
            "`{}` matches {} actions of run {run_id}: give more of the id",
            action.unwrap_or_default(),
            waiting.len()
        );
    }

    // Every answer must come from someone with the right, or none is recorded.
    for record in &waiting {
        let Some(Decision::NeedsApproval { approvers, .. }) = &record.decision else {
            continue;
        };
        if !approvers
            .iter()
            .any(|team| authority.model().is_member(principal, team))
        {
            ctx.store.audit(AuditEvent {
                kind: "approval.refused",
                run_id: Some(run.run_id.clone()),
                incident: run.incident.clone(),
                principal: Some(principal.to_string()),
                data: json!({ "action_key": record.key, "approvers": approvers, "approve": approved }),
            })?;
            ctx.store.sync().await?;
            bail!(
                "{principal} may not answer for action {} ({} on {}): that takes a member of team {}",
                &record.key[..12],
                record.action,
                record.target,
                approvers.join(" or ")
            );
        }
    }
    for mut record in waiting {
        ctx.store.audit(AuditEvent {
            kind: if approved { "approval.granted" } else { "approval.rejected" },
            run_id: Some(run.run_id.clone()),
            incident: run.incident.clone(),
            principal: Some(principal.to_string()),
            data: json!({
                "action_key": record.key, "action": record.action, "target": record.target, "reason": reason,
            }),
        })?;
        record.approval = Some(Approval {
            approved,
            principal: principal.to_string(),
            at: now_ms(),
            reason: reason.clone(),
        });
        ctx.store.put_action(&record)?;
    }
    ctx.store.sync().await?;

    let plugins = ctx.plugins(&plugins_of_run(&run)?).await?;
    let (finished, _) = resume_one(&ctx, plugins, run_id, json).await?;
    print_run(&ctx.store, &finished, json, config_path)
}
