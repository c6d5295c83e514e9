//! `cordon run` and `cordon resume`.

use super::progress::Progress;
use super::{EXIT_ACTIONS_FAILED, EXIT_OK};
use crate::authority::AllowAll;
use crate::config::Config;
use crate::diagnostic::{InputError, SourceFile};
use crate::engine::{Engine, RunRequest, stored_inputs};
use crate::playbook::Playbook;
use crate::plugin::PluginHost;
use crate::report::RunReport;
use crate::signal::Signal;
use crate::store::{RunRecord, RunStatus, Store};
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

    let plugin_names = super::plugins_used(&config, &args.config, &playbook)?;
    let plugins = Arc::new(PluginHost::load(&config, Some(&plugin_names)).await?);
    playbook.check(plugins.as_ref())?;

    let store = Arc::new(Store::open(&config.store_path)?);
    if let Some(open) = unfinished_run_for(&store, &playbook.name, &signal.id)? {
        bail!(
            "run {} of playbook `{}` for signal `{}` was interrupted and has not finished; \
             continue it with `cordon resume --config {}` instead of starting a second run",
            open.run_id,
            playbook.name,
            signal.id,
            args.config.display()
        );
    }

    let principal = args
        .principal
        .clone()
        .unwrap_or_else(|| format!("automation:{}", playbook.owner));
    let progress = Progress::start(!args.json);
    let engine =
        Engine::new(plugins, store.clone(), Arc::new(AllowAll)).with_events(progress.sender());
    let run = engine
        .start(RunRequest {
            playbook,
            signal,
            signal_source: signal_source.text,
            dry_run: args.dry_run,
            principal,
        })
        .await
        .context("the run stopped before it finished; `cordon resume` continues it")?;
    drop(engine);
    progress.finish().await;
    print_run(&store, &run, args.json)
}

/// `cordon resume`: continue every unfinished run.
pub async fn resume(config_path: &Path, json: bool) -> anyhow::Result<u8> {
    let config = Config::load(config_path)?;
    let store = Arc::new(Store::open(&config.store_path)?);
    let unfinished: Vec<RunRecord> = store
        .runs()?
        .into_iter()
        .filter(|r| !r.status.is_finished())
        .collect();
    if unfinished.is_empty() {
        if json {
            println!("[]");
        } else {
            println!("No interrupted runs: nothing to resume.");
        }
        return Ok(EXIT_OK);
    }

    let mut plugin_names = Vec::new();
    for run in &unfinished {
        let (playbook, _) = stored_inputs(run).with_context(|| format!("run {}", run.run_id))?;
        plugin_names.extend(playbook.steps.iter().map(|s| s.plugin.clone()));
    }
    let plugins = Arc::new(PluginHost::load(&config, Some(&plugin_names)).await?);

    let mut reports = Vec::new();
    let mut code = EXIT_OK;
    for run in unfinished {
        let progress = Progress::start(!json);
        let engine = Engine::new(plugins.clone(), store.clone(), Arc::new(AllowAll))
            .with_events(progress.sender());
        if !json {
            eprintln!("Resuming run {} of playbook {}", run.run_id, run.playbook);
        }
        let finished = engine
            .resume(&run.run_id)
            .await
            .with_context(|| format!("resuming run {}", run.run_id))?;
        drop(engine);
        progress.finish().await;
        let actions = store.actions(&finished.run_id)?;
        let report = RunReport::new(&finished, &actions);
        code = code.max(exit_code(&finished));
        if json {
            reports.push(report);
        } else {
            print!("{}", report.human());
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(code)
}

fn unfinished_run_for(
    store: &Store,
    playbook: &str,
    signal_id: &str,
) -> anyhow::Result<Option<RunRecord>> {
    Ok(store
        .runs()?
        .into_iter()
        .find(|r| !r.status.is_finished() && r.playbook == playbook && r.signal_id == signal_id))
}

fn print_run(store: &Store, run: &RunRecord, json: bool) -> anyhow::Result<u8> {
    let actions = store.actions(&run.run_id)?;
    let report = RunReport::new(run, &actions);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.human());
    }
    Ok(exit_code(run))
}

/// The exit code a finished run maps to.
pub fn exit_code(run: &RunRecord) -> u8 {
    match run.status {
        RunStatus::Completed => EXIT_OK,
        _ => EXIT_ACTIONS_FAILED,
    }
}
