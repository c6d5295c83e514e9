//! `cordon plugins list | inspect | call`.

use super::ConfigArg;
use super::{call, inspect};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum PluginsCommand {
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
    /// Run one action of a plugin in its sandbox, with the config's grants,
    /// and show the outcome, the requests it made and its restore data. It is
    /// a run like any other: decided, audited, restorable.
    Call {
        /// The plugin's name in the config.
        name: String,
        /// The action, e.g. `suspend-user`.
        action: String,
        /// The target identity's id.
        #[arg(long)]
        target: String,
        /// The target's kind (default: the first kind the action accepts).
        #[arg(long)]
        kind: Option<String>,
        /// A target attribute, `KEY=VALUE` (repeatable).
        #[arg(long = "attr", value_name = "KEY=VALUE")]
        attributes: Vec<String>,
        /// An action parameter, `KEY=VALUE` (repeatable).
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// The severity the authority model sees.
        #[arg(long, default_value = "high")]
        severity: String,
        /// The incident the call belongs to.
        #[arg(long)]
        incident: Option<String>,
        /// Plan only: the plugin reads and says what it would do.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        config: ConfigArg,
        /// Who makes the call (default: automation:cli).
        #[arg(long = "as", value_name = "PRINCIPAL")]
        principal: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `cordon plugins` command.
pub async fn dispatch(command: PluginsCommand) -> anyhow::Result<u8> {
    match command {
        PluginsCommand::List { config, json } => inspect::plugins_list(&config.config, json).await,
        PluginsCommand::Inspect { name, config, json } => {
            inspect::plugins_inspect(&config.config, &name, json).await
        }
        PluginsCommand::Call {
            name,
            action,
            target,
            kind,
            attributes,
            params,
            severity,
            incident,
            dry_run,
            config,
            principal,
            json,
        } => {
            call::call(call::CallArgs {
                config: config.config,
                plugin: name,
                action,
                target,
                kind,
                attributes,
                params,
                severity,
                incident,
                dry_run,
                json,
                principal,
            })
            .await
        }
    }
}
