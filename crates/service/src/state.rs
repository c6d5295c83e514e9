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
use cordon_types::RunRecord;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// A playbook the service may fire, with the digest of its text.
pub struct ServedPlaybook {
    /// The checked playbook.
    pub playbook: Playbook,
    /// sha256 of its file's text, so a client can tell it runs the same one.
    pub sha256: String,
}

/// The run each (playbook, signal id) answers with: its unfinished run, or
/// one that finished within the deduplication window. So one signal never
/// starts two runs of a playbook — not even when it is submitted twice at
/// once, nor when a detector delivers it again soon after. Each key has its
/// own lock; different signals start in parallel.
#[derive(Default)]
pub struct OpenRuns {
    by_signal: std::sync::Mutex<HashMap<(String, String), Slot>>,
    /// How long a finished run still answers for its signal, in ms.
    window_ms: i64,
}

/// The run id an (playbook, signal id) has open, behind its own lock.
pub type Slot = Arc<tokio::sync::Mutex<Option<String>>>;

impl OpenRuns {
    /// Indexes the real containment runs of `store` that answer for their
    /// signal: unfinished, or finished less than `window_ms` ago.
    pub fn of(store: &dyn Store, window_ms: u64) -> Result<OpenRuns, cordon_store::StoreError> {
        let open = OpenRuns {
            window_ms: i64::try_from(window_ms).unwrap_or(i64::MAX),
            ..OpenRuns::default()
        };
        let now = cordon_types::now_ms();
        // Oldest first: a later run takes the place of an earlier finished
        // one, never of an unfinished one.
        let mut answering: HashMap<(String, String), &RunRecord> = HashMap::new();
        let runs = store.runs()?;
        for run in &runs {
            if run.dry_run
                || run.kind != cordon_types::RunKind::Containment
                || !open.answers_at(run, now)
            {
                continue;
            }
            let key = (run.playbook.clone(), run.signal_id.clone());
            match answering.get(&key) {
                Some(held) if !held.status.is_finished() => {}
                _ => {
                    answering.insert(key, run);
                }
            }
        }
        for ((playbook, signal_id), run) in answering {
            open.slot(&playbook, &signal_id)
                .try_lock()
                .expect("nobody else holds it yet")
                .replace(run.run_id.clone());
        }
        Ok(open)
    }

    /// The slot of (`playbook`, `signal_id`): lock it, then read or record
    /// the run it holds.
    pub fn slot(&self, playbook: &str, signal_id: &str) -> Slot {
        let mut map = self.by_signal.lock().unwrap_or_else(|e| e.into_inner());
        map.entry((playbook.to_string(), signal_id.to_string()))
            .or_default()
            .clone()
    }

    /// Whether `run` still answers for its signal: unfinished, or finished
    /// within the window.
    pub fn answers(&self, run: &RunRecord) -> bool {
        self.answers_at(run, cordon_types::now_ms())
    }

    fn answers_at(&self, run: &RunRecord, now: cordon_types::Millis) -> bool {
        match (run.status.is_finished(), run.finished_at) {
            (false, _) => true,
            (true, Some(at)) => now.saturating_sub(at) < self.window_ms,
            (true, None) => false,
        }
    }
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
    /// The run each signal answers with, by playbook.
    pub open_runs: OpenRuns,
    /// Playbooks by name.
    pub playbooks: BTreeMap<String, ServedPlaybook>,
    /// Credential verification.
    pub auth: Authenticator,
    /// Per-caller rate limits.
    pub limiter: Limiter,
    /// Prometheus metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// False until unfinished runs were resumed; false again while stopping.
    pub ready: AtomicBool,
    /// Set when the service stops: live event streams end.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// How people reach the service, once it listens (see [`AppState::public_url`]).
    pub listening_at: std::sync::OnceLock<String>,
}

impl AppState {
    /// How people reach the service (links in notifications): the configured
    /// `public_url`, or else the address it listens on.
    pub fn public_url(&self) -> &str {
        if self.config.server.public_url_configured {
            return &self.config.server.public_url;
        }
        self.listening_at
            .get()
            .map_or(&self.config.server.public_url, String::as_str)
    }
}
