//! `cordon restore RUN [--step S] [--target T] --as P`.

use super::EXIT_OK;
use super::progress::Progress;
use super::run::print_run;
use anyhow::{Context as _, bail};
use cordon_config::Context;
use cordon_engine::plan_restore;
use cordon_types::RunKind;
use std::path::Path;

pub async fn restore(
    config_path: &Path,
    run_id: &str,
    step: Option<&str>,
    target: Option<&str>,
    principal: &str,
    json: bool,
) -> anyhow::Result<u8> {
    let ctx = Context::open(config_path)?;
    let run = ctx.store.run(run_id)?;
    if run.kind != RunKind::Containment {
        bail!("run {run_id} is itself a restore run; restore the containment run it undid");
    }
    let actions: Vec<_> = ctx
        .store
        .actions(run_id)?
        .into_iter()
        .filter(|a| step.is_none_or(|s| a.step == s))
        .filter(|a| target.is_none_or(|t| a.target.id == t || a.target.label() == t))
        .collect();
    if actions.is_empty() {
        bail!("run {run_id} has no action matching the given --step/--target");
    }
    let mut names: Vec<String> = actions.iter().map(|a| a.plugin.clone()).collect();
    names.sort();
    names.dedup();
    let plugins = ctx.plugins(&names).await?;
    let plan = plan_restore(&run, &actions, plugins.as_ref());
    let irreversible = plan.irreversible.clone();
    if !json && !irreversible.is_empty() {
        sayln!("Cannot be undone:");
        for (action, why) in &irreversible {
            sayln!(
                "  {} {} on {}: {why}",
                action.step,
                action.action,
                action.target
            );
        }
        sayln!();
    }
    if plan.items.is_empty() {
        if json {
            sayln!(
                "{}",
                serde_json::json!({ "restored": null, "irreversible": irreversible.len() })
            );
        } else {
            sayln!("Nothing to restore in run {run_id}: no applied, reversible action matches.");
        }
        return Ok(EXIT_OK);
    }
    let progress = Progress::start(!json);
    let engine = super::local_engine(&ctx, plugins)?.with_events(progress.sender());
    let restored = engine
        .restore(plan, principal.to_string())
        .await
        .context("the restore stopped before it finished; `cordon resume` continues it")?;
    drop(engine);
    progress.finish().await;
    print_run(ctx.store.as_ref(), &restored, json, config_path)
}
