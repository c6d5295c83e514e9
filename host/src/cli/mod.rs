//! The `cordon` command line.
//!
//! Handlers are thin: they read inputs, call the library, and print. Exit
//! codes: 0 every action applied/already applied/planned; 2 invalid input
//! (config, playbook, signal, plugin pinning) with nothing executed; 3 the run
//! ended with failed, denied or skipped actions; 1 anything else.

mod inspect;
mod progress;
mod run;

use crate::config::Config;
use crate::diagnostic::{InputError, InputErrors};
use crate::playbook::Playbook;
use crate::plugin::LoadError;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit code: every action succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: an unexpected failure.
pub const EXIT_ERROR: u8 = 1;
/// Exit code: invalid input, nothing executed.
pub const EXIT_INVALID_INPUT: u8 = 2;
/// Exit code: the run ended with actions that did not succeed.
pub const EXIT_ACTIONS_FAILED: u8 = 3;

#[derive(Parser)]
#[command(
    name = "cordon",
    version,
    about = "Contain identity abuse: run playbooks whose steps call sandboxed provider plugins."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The operator config, shared by every command.
#[derive(clap::Args, Clone)]
struct ConfigArg {
    /// The operator config file.
    #[arg(long, default_value = "cordon.toml")]
    config: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Run a playbook for a signal.
    Run {
        #[command(flatten)]
        config: ConfigArg,
        /// The playbook file (TOML).
        #[arg(long)]
        playbook: PathBuf,
        /// The signal file (JSON).
        #[arg(long)]
        signal: PathBuf,
        /// Ask plugins for a plan; change nothing at any provider.
        #[arg(long)]
        dry_run: bool,
        /// Print one JSON object instead of progress and a summary.
        #[arg(long)]
        json: bool,
        /// The principal to act as (default: the automation principal of the
        /// playbook's owner team).
        #[arg(long = "as", value_name = "PRINCIPAL")]
        principal: Option<String>,
    },
    /// Continue every run that was interrupted.
    Resume {
        #[command(flatten)]
        config: ConfigArg,
        /// Print a JSON list of run reports.
        #[arg(long)]
        json: bool,
    },
    /// Inspect stored runs.
    Runs {
        #[command(subcommand)]
        command: RunsCommand,
    },
    /// Inspect configured plugins.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// Work with playbooks.
    Playbook {
        #[command(subcommand)]
        command: PlaybookCommand,
    },
}

#[derive(Subcommand)]
enum RunsCommand {
    /// List runs, oldest first.
    List {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        json: bool,
    },
    /// Show one run and its actions.
    Show {
        run_id: String,
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PluginsCommand {
    /// Load every configured plugin and list what it offers.
    List {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        json: bool,
    },
    /// Show one plugin's actions, settings and limits.
    Inspect {
        name: String,
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PlaybookCommand {
    /// Validate a playbook against the configured plugins, changing nothing.
    Check {
        file: PathBuf,
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// Parses arguments, runs the command, and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let result = runtime.block_on(dispatch(cli.command));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let code = exit_code_of(&err);
            if code == EXIT_INVALID_INPUT {
                eprintln!("error: invalid input, nothing was executed:");
                eprintln!("{err:#}");
            } else {
                eprintln!("error: {err:#}");
            }
            ExitCode::from(code)
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Run {
            config,
            playbook,
            signal,
            dry_run,
            json,
            principal,
        } => {
            run::run(run::RunArgs {
                config: config.config,
                playbook,
                signal,
                dry_run,
                json,
                principal,
            })
            .await
        }
        Command::Resume { config, json } => run::resume(&config.config, json).await,
        Command::Runs { command } => match command {
            RunsCommand::List { config, json } => inspect::runs_list(&config.config, json),
            RunsCommand::Show {
                run_id,
                config,
                json,
            } => inspect::runs_show(&config.config, &run_id, json),
        },
        Command::Plugins { command } => match command {
            PluginsCommand::List { config, json } => {
                inspect::plugins_list(&config.config, json).await
            }
            PluginsCommand::Inspect { name, config, json } => {
                inspect::plugins_inspect(&config.config, &name, json).await
            }
        },
        Command::Playbook { command } => match command {
            PlaybookCommand::Check { file, config } => {
                inspect::playbook_check(&config.config, &file).await
            }
        },
    }
}

/// The plugins a playbook uses, or an error for each one the config lacks.
fn plugins_used(
    config: &Config,
    config_path: &Path,
    playbook: &Playbook,
) -> Result<Vec<String>, InputErrors> {
    let mut errors = InputErrors::default();
    for step in playbook
        .steps
        .iter()
        .filter(|s| config.plugin(&s.plugin).is_none())
    {
        errors.push(step.error(
            &playbook.source,
            "plugin",
            format!(
                "no plugin `{}` in {} (configured: {})",
                step.plugin,
                config_path.display(),
                config.plugins.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    errors.into_result(playbook.steps.iter().map(|s| s.plugin.clone()).collect())
}

fn exit_code_of(err: &anyhow::Error) -> u8 {
    let invalid = err.chain().any(|cause| {
        cause.is::<InputErrors>()
            || cause.is::<InputError>()
            || matches!(
                cause.downcast_ref::<LoadError>(),
                Some(
                    LoadError::Config(_)
                        | LoadError::DigestMismatch { .. }
                        | LoadError::Unreadable { .. }
                        | LoadError::Invalid { .. }
                )
            )
    });
    if invalid {
        EXIT_INVALID_INPUT
    } else {
        EXIT_ERROR
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
