//! `cordon approvals list`, `cordon approve`, `cordon reject`.

use super::run::{plugins_of_run, print_run, resume_one};
use cordon_authority::approvals::{self, AnswerRequest};
use cordon_config::Context;
use cordon_report::PendingApproval;
use std::path::Path;

/// `cordon approvals list`: every action waiting for an approval.
pub fn list(config_path: &Path, json: bool) -> anyhow::Result<u8> {
    let ctx = Context::open(config_path)?;
    let rows = PendingApproval::all(ctx.store.as_ref())?;
    if json {
        sayln!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        say!("{}", PendingApproval::human(&rows));
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
    super::executes_here(&ctx)?;
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
