//! The operator config (`cordon.toml`) and what it opens.
//!
//! [`Config`] is the validated file: the store's folder, the authority model
//! and inventory, the plugins (pinned by digest, with their allow-lists,
//! secrets and limits) and `[server]` ([`ServerConfig`]). [`Context`] opens
//! what a command or the service needs from it: the store, the decision
//! point, the plugins and an engine over them.

#![warn(missing_docs)]

mod config;
mod context;
pub mod notify;
pub mod server;

pub use config::{Config, Limits, Origin, PluginConfig, SecretRef, SecretSource, StoreConfig};
pub use context::{Context, ContextError, Models, load_all_plugins, load_plugins};
pub use server::{Scope, ServerConfig, TokenEntry};
