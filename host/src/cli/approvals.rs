//! `cordon approvals list`, `cordon approve`, `cordon reject`.

use super::context::Context;
use super::run::{plugins_of_run, print_run, resume_one};
use cordon_authority::approvals::{self, AnswerRequest};
use cordon_types::{ActionStatus, Decision};
use serde_json::json;
use std::path::Path;

/// `cordon approvals list`: every action waiting for an approval.
pub fn list(config_path: &Path, json: bool) -> anyhow::Result<u8> {
    let ctx = Context::open(config_path)?;
    let mut rows = Vec::new();
    let mut lines = Vec::new();
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
                lines.push(format!(
                    "{} {} · {} {} on {} · approvers: team {} · {}",
                    run.run_id,
                    &action.key[..12.min(action.key.len())],
                    action.plugin,
                    action.action,
                    action.target.label(),
                    approvers.join(" or "),
                    reason
                ));
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
    } else if lines.is_empty() {
        println!("Nothing waits for approval.");
    } else {
        for line in lines {
            println!("{line}");
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
    approvals::answer(
        ctx.store.as_ref(),
        authority.model(),
        AnswerRequest {
            run: &run,
            action,
            principal,
            approved,
            reason,
        },
    )
    .await?;
    let plugins = ctx.plugins(&plugins_of_run(&run)?).await?;
    let (finished, _) = resume_one(&ctx, plugins, run_id, json).await?;
    print_run(ctx.store.as_ref(), &finished, json, config_path)
}
