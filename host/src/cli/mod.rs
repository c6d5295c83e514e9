//! The `cordon` command line.
//!
//! Handlers are thin: they read inputs, call the library, and print. Exit
//! codes: 0 every action applied/already applied/planned; 2 invalid input
//! (config, playbook, signal, plugin pinning) with nothing executed; 3 the run
//! ended with failed, denied or skipped actions; 4 the run waits for
//! approvals; 1 anything else.

/// `print!`, with control characters escaped (see [`cordon_report::terminal_safe`]):
/// everything the CLI prints may hold text from signals and providers.
macro_rules! say {
    ($($arg:tt)*) => {
        print!("{}", cordon_report::terminal_safe(&format!($($arg)*)))
    };
}

/// `println!`, with control characters escaped.
macro_rules! sayln {
    () => {
        println!()
    };
    ($($arg:tt)*) => {
        println!("{}", cordon_report::terminal_safe(&format!($($arg)*)))
    };
}

/// `eprintln!`, with control characters escaped.
macro_rules! warnln {
    ($($arg:tt)*) => {
        eprintln!("{}", cordon_report::terminal_safe(&format!($($arg)*)))
    };
}

mod approvals;
mod audit;
mod call;
mod grants;
mod inspect;
mod plugins;
mod progress;
mod remote;
mod report;
mod restore;
mod run;
mod scaffold;
mod serve;

use clap::{Parser, Subcommand};
use cordon_config::Config;
use cordon_input::{InputError, InputErrors, Playbook};
use cordon_plugin_host::LoadError;
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
/// Exit code: the run waits for approvals.
pub const EXIT_AWAITING_APPROVAL: u8 = 4;

#[derive(Parser)]
#[command(
    name = "cordon",
    version,
    about = "Contain identity abuse: run playbooks whose steps call sandboxed provider plugins."
)]
struct Cli {
    /// The `cordon serve` to talk to (default: `CORDON_ADDR`; none: the local
    /// store). Authenticates with the API token in `CORDON_TOKEN`.
    #[arg(long, global = true, value_name = "URL")]
    server: Option<String>,
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
    /// Run the responder service: the /v1 API, live events, and every run.
    Serve {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// API tokens for the service.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
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
    /// Inspect, call and create plugins.
    #[command(alias = "plugin")]
    Plugins {
        #[command(subcommand)]
        command: plugins::PluginsCommand,
    },
    /// Work with playbooks.
    Playbook {
        #[command(subcommand)]
        command: PlaybookCommand,
    },
    /// Actions waiting for an approval.
    Approvals {
        #[command(subcommand)]
        command: ApprovalsCommand,
    },
    /// Approve the waiting actions of a run (or one of them), then continue it.
    Approve(AnswerArgs),
    /// Reject the waiting actions of a run (or one of them), then continue it.
    Reject(AnswerArgs),
    /// Incident commander grants.
    Grant {
        #[command(subcommand)]
        command: GrantCommand,
    },
    /// Undo the reversible actions of a run (owners of the identity's domain only).
    Restore {
        run_id: String,
        #[command(flatten)]
        config: ConfigArg,
        /// Only the actions of this step.
        #[arg(long)]
        step: Option<String>,
        /// Only the actions on this target (id or provider:kind:id).
        #[arg(long)]
        target: Option<String>,
        /// Who restores (local store only; a server acts as the token's principal).
        #[arg(long = "as", value_name = "PRINCIPAL")]
        principal: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Post-incident review of everything done for an incident.
    Report {
        incident: String,
        #[command(flatten)]
        config: ConfigArg,
        /// md, json or html (one self-contained file).
        #[arg(long, default_value = "md")]
        format: String,
        /// Write to this file instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct AnswerArgs {
    run_id: String,
    #[command(flatten)]
    config: ConfigArg,
    /// One action (its id, or a unique prefix of it); default: every waiting action.
    #[arg(long)]
    action: Option<String>,
    /// Who answers; must be a member of a team the decision names (local
    /// store only; a server acts as the token's principal).
    #[arg(long = "as", value_name = "PRINCIPAL")]
    principal: Option<String>,
    #[arg(long)]
    reason: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum ApprovalsCommand {
    /// Every action waiting for an approval, and who may give it.
    List {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum GrantCommand {
    /// Grant temporary cross-domain authority for one incident.
    Commander {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        incident: String,
        /// Who becomes incident commander.
        #[arg(long)]
        principal: String,
        /// How long, e.g. 2h, 30m (at most the model's max_ttl).
        #[arg(long)]
        ttl: String,
        /// Who grants; must be a member of a granting team (local store only).
        #[arg(long = "as", value_name = "PRINCIPAL")]
        granter: Option<String>,
    },
    /// Revoke a commander grant before it expires.
    Revoke {
        grant_id: String,
        #[command(flatten)]
        config: ConfigArg,
        /// Who revokes (local store only).
        #[arg(long = "as", value_name = "PRINCIPAL")]
        principal: Option<String>,
    },
    /// Every commander grant.
    List {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Make a new API token: prints it once, and the config entry (its hash).
    Create {
        /// The token's id (its public name in logs and the audit log).
        #[arg(long)]
        id: String,
        /// The principal the token authenticates.
        #[arg(long)]
        principal: String,
        /// What it may do: signals, read, respond (repeatable; default read and respond).
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain and name the first broken record, check the
    /// runs, actions and grants against it, and check it still holds every
    /// anchor given (records deleted or rewritten since it was taken).
    Verify {
        #[command(flatten)]
        config: ConfigArg,
        /// An anchor `SEQ:HASH`, as `cordon audit head` printed it (repeatable).
        #[arg(long = "anchor", value_name = "SEQ:HASH")]
        anchors: Vec<String>,
        /// A file of anchors, one JSON object per line, as `cordon serve`
        /// appends them (`[server] audit_anchors`).
        #[arg(long = "anchors", value_name = "FILE")]
        anchors_file: Option<PathBuf>,
    },
    /// Print the chain's head, `SEQ:HASH`: keep it outside the store, and
    /// give it to `verify --anchor` later.
    Head {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        json: bool,
    },
    /// Stream every record.
    Export {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long, default_value = "jsonl")]
        format: String,
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
            warnln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let result = runtime.block_on(async {
        match remote::Remote::from_env(cli.server)? {
            Some(remote) => remote::dispatch(&remote, cli.command).await,
            None => dispatch(cli.command).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let code = match err.downcast_ref::<remote::Refused>() {
                Some(refused) => refused.exit_code(),
                None => exit_code_of(&err),
            };
            if code == EXIT_INVALID_INPUT {
                warnln!("error: invalid input, nothing was executed:");
                warnln!("{err:#}");
            } else {
                warnln!("error: {err:#}");
            }
            ExitCode::from(code)
        }
    }
}

/// The engine a CLI command executes runs on — refused when replicas share
/// the store: a run executed outside `cordon serve` holds no lease, so a
/// replica could execute it at the same time.
fn local_engine(
    ctx: &cordon_config::Context,
    plugins: std::sync::Arc<cordon_plugin_host::PluginHost>,
) -> anyhow::Result<cordon_engine::Engine> {
    executes_here(ctx)?;
    Ok(ctx.engine(plugins))
}

/// Refuses a command that would execute runs here while replicas share the
/// store (see [`local_engine`]); called before it changes anything.
fn executes_here(ctx: &cordon_config::Context) -> anyhow::Result<()> {
    if ctx.config.store.lease().is_some() {
        anyhow::bail!(
            "{}: [store] replicas = true: runs execute in `cordon serve` replicas, under leases; \
             send the signal (or the approval, or the restore) to a replica with --server instead",
            ctx.config.path.display()
        );
    }
    Ok(())
}

/// The principal a local command acts as: the one `--as` names.
fn local_principal(principal: Option<String>) -> anyhow::Result<String> {
    principal.ok_or_else(|| {
        anyhow::anyhow!(
            "--as PRINCIPAL is required on a local store (against a server, the API token says who you are)"
        )
    })
}

async fn dispatch(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Serve { config } => serve::serve(&config.config).await,
        Command::Token {
            command:
                TokenCommand::Create {
                    id,
                    principal,
                    scopes,
                },
        } => serve::create_token(&id, &principal, &scopes),
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
        Command::Plugins { command } => plugins::dispatch(command).await,
        Command::Playbook { command } => match command {
            PlaybookCommand::Check { file, config } => {
                inspect::playbook_check(&config.config, &file).await
            }
        },
        Command::Approvals { command } => match command {
            ApprovalsCommand::List { config, json } => approvals::list(&config.config, json),
        },
        Command::Approve(args) => answer(args, true).await,
        Command::Reject(args) => answer(args, false).await,
        Command::Grant { command } => match command {
            GrantCommand::Commander {
                config,
                incident,
                principal,
                ttl,
                granter,
            } => {
                let granter = local_principal(granter)?;
                grants::commander(&config.config, &incident, &principal, &ttl, &granter).await
            }
            GrantCommand::Revoke {
                grant_id,
                config,
                principal,
            } => grants::revoke(&config.config, &grant_id, &local_principal(principal)?).await,
            GrantCommand::List { config, json } => grants::list(&config.config, json),
        },
        Command::Restore {
            run_id,
            config,
            step,
            target,
            principal,
            json,
        } => {
            restore::restore(
                &config.config,
                &run_id,
                step.as_deref(),
                target.as_deref(),
                &local_principal(principal)?,
                json,
            )
            .await
        }
        Command::Audit { command } => match command {
            AuditCommand::Verify {
                config,
                anchors,
                anchors_file,
            } => audit::verify(&config.config, &anchors, anchors_file.as_deref()),
            AuditCommand::Head { config, json } => audit::head(&config.config, json),
            AuditCommand::Export { config, format } => audit::export(&config.config, &format),
        },
        Command::Report {
            incident,
            config,
            format,
            output,
        } => report::report(&config.config, &incident, &format, output.as_deref()).await,
    }
}

async fn answer(args: AnswerArgs, approved: bool) -> anyhow::Result<u8> {
    approvals::answer(
        &args.config.config,
        &args.run_id,
        args.action.as_deref(),
        &local_principal(args.principal)?,
        approved,
        args.reason,
        args.json,
    )
    .await
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
                cause.downcast_ref::<cordon_service::ServeError>(),
                Some(
                    cordon_service::ServeError::Input(_)
                        | cordon_service::ServeError::Tls(_)
                        | cordon_service::ServeError::Notifier(_)
                )
            )
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
