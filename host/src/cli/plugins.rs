//! `cordon plugins list | compile | inspect | call | new` (also spelled `cordon plugin …`).

use super::ConfigArg;
use super::{call, inspect, scaffold};
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
    /// Compile every configured plugin's optimised code into the cache now
    /// (a deployment step: without it, the first start runs baseline code
    /// and optimises in the background), then list them like `list`.
    Compile {
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
    Call(call::CallArgs),
    /// Create a new provider plugin and a simulator of its API, in a
    /// repository of their own, that build and pass their tests as generated.
    New(scaffold::NewArgs),
}

/// Runs a `cordon plugins` command.
pub async fn dispatch(command: PluginsCommand) -> anyhow::Result<u8> {
    match command {
        PluginsCommand::List { config, json } => {
            inspect::plugins_list(&config.config, json, false).await
        }
        PluginsCommand::Compile { config, json } => {
            inspect::plugins_list(&config.config, json, true).await
        }
        PluginsCommand::Inspect { name, config, json } => {
            inspect::plugins_inspect(&config.config, &name, json).await
        }
        PluginsCommand::Call(args) => call::call(args).await,
        PluginsCommand::New(args) => scaffold::new(args),
    }
}
