//! What every request handler shares.

use crate::auth::Authenticator;
use crate::events::CommitWatch;
use crate::limiter::Limiter;
use crate::supervisor::Supervisor;
use cordon_authority::Authority;
use cordon_config::Config;
use cordon_engine::Engine;
use cordon_input::Playbook;
use cordon_plugin_host::PluginHost;
use cordon_store::Store;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// A playbook the service may fire, with the digest of its text.
pub struct ServedPlaybook {
    /// The checked playbook.
    pub playbook: Playbook,
    /// sha256 of its file's text, so a client can tell it runs the same one.
    pub sha256: String,
}

/// The service's shared state.
pub struct AppState {
    /// The operator config.
    pub config: Config,
    /// The store, watched for durable audit records.
    pub store: Arc<dyn Store>,
    /// The same store, as the watcher.
    pub watch: Arc<CommitWatch>,
    /// The authority, when a model is configured.
    pub authority: Option<Arc<Authority>>,
    /// Every configured plugin, loaded.
    pub plugins: Arc<PluginHost>,
    /// The engine every run executes on.
    pub engine: Arc<Engine>,
    /// The runs executing now.
    pub supervisor: Arc<Supervisor>,
    /// Playbooks by name.
    pub playbooks: BTreeMap<String, ServedPlaybook>,
    /// Credential verification.
    pub auth: Authenticator,
    /// Per-caller rate limits.
    pub limiter: Limiter,
    /// Prometheus metrics.
    pub metrics: crate::metrics::Metrics,
    /// False until unfinished runs were resumed; false again while stopping.
    pub ready: AtomicBool,
    /// Set when the service stops: live event streams end.
    pub stopping: tokio::sync::watch::Sender<bool>,
}
