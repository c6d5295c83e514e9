//! `cordon run` and `cordon resume`.

use super::progress::Progress;
use super::{EXIT_ACTIONS_FAILED, EXIT_AWAITING_APPROVAL, EXIT_OK};
use anyhow::{Context as _, bail};
use cordon_authority::automation_principal;
use cordon_config::Config;
use cordon_config::{Context, Models};
use cordon_engine::{RunRequest, stored_inputs};
use cordon_input::{InputError, Playbook, Signal, SourceFile};
use cordon_report::RunReport;
use cordon_store::Store;
use cordon_types::{RunKind, RunRecord, RunStatus};
use std::path::{Path, PathBuf};

pub struct RunArgs {
    pub config: PathBuf,
    pub playbook: PathBuf,
    pub signal: PathBuf,
    pub dry_run: bool,
    pub json: bool,
    pub principal: Option<String>,
}

/// `cordon run`: validate everything, then run the playbook for the signal.
pub async fn run(args: RunArgs) -> anyhow::Result<u8> {
    let config = Config::load(&args.config)?;
    let models = Models::load(&config)?;
    let playbook = Playbook::load(&args.playbook)?;
    let signal_source = SourceFile::read(&args.signal)?;
    let signal = Signal::parse(&signal_source)?;
    if let Err(reason) = playbook.trigger.accepts(&signal) {
        return Err(InputError::whole_file(
            &args.signal,
            format!(
                "the signal does not match the trigger of playbook `{}`: {reason}",
                playbook.name
            ),
        )
        .into());
    }
    let validated = Validated {
        config,
        models,
        playbook,
        signal,
        signal_text: signal_source.text,
    };
    let (ctx, run, plugins) = start(&args, validated).await?;
    let code = print_run(ctx.store.as_ref(), &run, args.json, &args.config)?;
    // After the report: a cold start left optimised code to compile for
    // the next start (once per plugin build).
    plugins.finish_optimizing();
    Ok(code)
}

/// Inputs that passed every check a file alone allows.
pub struct Validated {
    pub config: Config,
    pub models: Models,
    pub playbook: Playbook,
    pub signal: Signal,
    pub signal_text: String,
}

/// Loads the plugins the playbook names, checks it against them, and runs
/// it to its end (or until it waits for approvals); the store is opened only
/// once everything is valid.
pub async fn start(
    args: &RunArgs,
    inputs: Validated,
) -> anyhow::Result<(
    Context,
    RunRecord,
    std::sync::Arc<cordon_plugin_host::PluginHost>,
)> {
    let Validated {
        config,
        models,
        playbook,
        signal,
        signal_text,
    } = inputs;
    let plugin_names = super::plugins_used(&config, &args.config, &playbook)?;
    let plugins = std::sync::Arc::new(cordon_config::load_plugins(&config, &plugin_names).await?);
    playbook.check(plugins.as_ref())?;
    // Only now, with every input valid, is the store opened.
    let ctx = Context::with(config, models)?;

    if let Some(open) = unfinished_run_for(ctx.store.as_ref(), &playbook.name, &signal.id)? {
        bail!(
            "run {} of playbook `{}` for signal `{}` has not finished ({}); \
             continue it with `cordon resume --config {}` (or approve what it waits for) \
             instead of starting a second run",
            open.run_id,
            playbook.name,
            signal.id,
            open.status.as_str(),
            args.config.display()
        );
    }

    let principal = args
        .principal
        .clone()
        .unwrap_or_else(|| automation_principal(&playbook.owner));
    let progress = Progress::start(!args.json);
    let engine = super::local_engine(&ctx, plugins.clone())?.with_events(progress.sender());
    let run = engine
        .start(RunRequest {
            playbook,
            signal,
            signal_source: signal_text,
            dry_run: args.dry_run,
            principal,
        })
        .await
        .context("the run stopped before it finished; `cordon resume` continues it")?;
    drop(engine);
    progress.finish().await;
    Ok((ctx, run, plugins))
}

/// `cordon resume`: continue every run that was interrupted (or whose
/// approvals were answered).
pub async fn resume(config_path: &Path, json: bool) -> anyhow::Result<u8> {
    let ctx = Context::open(config_path)?;
    let unfinished: Vec<RunRecord> = ctx
        .store
        .runs()?
        .into_iter()
        .filter(|r| !r.status.is_finished())
        .collect();
    if unfinished.is_empty() {
        if json {
            sayln!("[]");
        } else {
            sayln!("No interrupted runs: nothing to resume.");
        }
        return Ok(EXIT_OK);
    }
    let mut plugin_names = Vec::new();
    for run in &unfinished {
        plugin_names.extend(plugins_of_run(run)?);
    }
    let plugins = ctx.plugins(&plugin_names).await?;

    let mut reports = Vec::new();
    let mut code = EXIT_OK;
    for run in unfinished {
        if !json {
            warnln!("Resuming run {} of playbook {}", run.run_id, run.playbook);
        }
        let (finished, report) = resume_one(&ctx, plugins.clone(), &run.run_id, json).await?;
        code = code.max(exit_code(&finished));
        if json {
            reports.push(report);
        } else {
            say!("{}", report.human());
        }
    }
    if json {
        sayln!("{}", serde_json::to_string_pretty(&reports)?);
    }
    plugins.finish_optimizing();
    Ok(code)
}

/// Resumes one run with progress shown unless `quiet`.
pub async fn resume_one(
    ctx: &Context,
    plugins: std::sync::Arc<cordon_plugin_host::PluginHost>,
    run_id: &str,
    quiet: bool,
) -> anyhow::Result<(RunRecord, RunReport)> {
    let progress = Progress::start(!quiet);
    let engine = super::local_engine(ctx, plugins)?.with_events(progress.sender());
    let finished = engine
        .resume(run_id)
        .await
        .with_context(|| format!("resuming run {run_id}"))?;
    drop(engine);
    progress.finish().await;
    let actions = ctx.store.actions(&finished.run_id)?;
    let facts = ctx.store.facts(&finished.run_id)?;
    Ok((
        finished.clone(),
        RunReport::new(&finished, &actions).with_facts(&facts),
    ))
}

/// The plugins a stored run needs.
pub fn plugins_of_run(run: &RunRecord) -> anyhow::Result<Vec<String>> {
    Ok(match &run.kind {
        RunKind::Containment => {
            let (playbook, _) =
                stored_inputs(run).with_context(|| format!("run {}", run.run_id))?;
            playbook.steps.iter().map(|s| s.plugin.clone()).collect()
        }
        RunKind::Restore { plan, .. } => cordon_engine::plugins_of(plan),
    })
}

/// The real run of `playbook` for `signal_id` that has not finished, if any.
/// Dry runs never wait, so they never block a real run.
fn unfinished_run_for(
    store: &dyn Store,
    playbook: &str,
    signal_id: &str,
) -> anyhow::Result<Option<RunRecord>> {
    Ok(store.runs()?.into_iter().find(|r| {
        !r.status.is_finished()
            && !r.dry_run
            && r.kind == RunKind::Containment
            && r.playbook == playbook
            && r.signal_id == signal_id
    }))
}

/// Prints a run's report and returns its exit code.
pub fn print_run(
    store: &dyn Store,
    run: &RunRecord,
    json: bool,
    config: &Path,
) -> anyhow::Result<u8> {
    let actions = store.actions(&run.run_id)?;
    let report = RunReport::new(run, &actions).with_facts(&store.facts(&run.run_id)?);
    if json {
        sayln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        say!("{}", report.human());
        if run.status == RunStatus::AwaitingApproval {
            sayln!(
                "\nThe run waits for approvals: `cordon approvals list --config {0}`, then \
                 `cordon approve {1} --as YOU --config {0}` (or `cordon reject …`).",
                config.display(),
                run.run_id
            );
        }
    }
    Ok(exit_code(run))
}

/// The exit code a run maps to.
pub fn exit_code(run: &RunRecord) -> u8 {
    match run.status {
        RunStatus::Completed => EXIT_OK,
        RunStatus::AwaitingApproval => EXIT_AWAITING_APPROVAL,
        _ => EXIT_ACTIONS_FAILED,
    }
}

/// The exit code a run's status name (as reports carry it) maps to.
pub fn exit_code_of_status(status: &str) -> u8 {
    match status {
        "completed" => EXIT_OK,
        "awaiting-approval" => EXIT_AWAITING_APPROVAL,
        _ => EXIT_ACTIONS_FAILED,
    }
}
