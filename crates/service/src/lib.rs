//! `cordon serve`: the responder service.
//!
//! A long-running process that owns the store: it accepts signals and
//! answers over an authenticated `/v1` API ([`api`]), executes runs in the
//! background ([`supervisor`]), streams the audit log live ([`events`]), and
//! acts as the authenticated caller ([`auth`]) whenever the authority model
//! decides. On start it resumes every unfinished run; asked to stop, it
//! stops accepting, lets actions in flight finish up to the drain deadline,
//! records what is left as interrupted, and returns.

#![warn(missing_docs)]

mod anchors;
pub mod api;
pub mod auth;
pub mod console;
pub mod events;
pub mod limiter;
pub mod metrics;
pub mod notify;
pub mod oidc;
pub mod problem;
mod replicas;
pub mod state;
pub mod supervisor;
pub mod tls;

use auth::Authenticator;
use cordon_config::{Config, Context, ContextError, Models};
use cordon_input::{InputError, InputErrors, Playbook};
use cordon_plugin_host::LoadError;
use cordon_store::{Store, StoreError};
use sha2::{Digest, Sha256};
use state::{AppState, ServedPlaybook};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use supervisor::{Drained, Supervisor};
use tokio::net::TcpListener;

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The config, a playbook, the model or the inventory is invalid.
    #[error(transparent)]
    Input(#[from] InputErrors),
    /// A plugin could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The store could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Opening what the config names failed.
    #[error(transparent)]
    Context(#[from] ContextError),
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {message}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        message: String,
    },
    /// The TLS certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// A notifier's secret could not be read.
    #[error(transparent)]
    Notifier(#[from] notify::NotifierError),
    /// Serving failed.
    #[error("the server failed: {0}")]
    Io(String),
}

/// A service ready to serve.
pub struct Service {
    state: Arc<AppState>,
    notifiers: Vec<notify::Notifier>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Service {
    /// Loads every plugin and served playbook (checking each), then opens
    /// the store. Nothing is opened when an input is invalid.
    pub async fn open(config: Config, models: Models) -> Result<Service, ServeError> {
        let plugins = Arc::new(cordon_config::load_all_plugins(&config).await?);
        let playbooks = load_playbooks(&config, plugins.as_ref())?;
        let notifiers = notify::Notifier::open_all(&config.server.notifiers)?;
        let tls = config.server.tls.as_ref().map(tls::acceptor).transpose()?;
        let watch = events::CommitWatch::new(config.store.open()?)?;
        let store: Arc<dyn Store> = watch.clone();
        let auth = Authenticator::new(&config.server.tokens, config.server.oidc.clone());
        let limiter =
            limiter::Limiter::new(config.server.rate_per_minute, config.server.rate_burst);
        let ctx = Context::over(config, models, store.clone());
        check_group_teams(&ctx)?;
        let metrics = Arc::new(metrics::Metrics::new());
        let engine = ctx
            .engine(plugins.clone())
            .observe_rate_limits(metrics.clone());
        let (engine, supervisor) = match (store.leases(), ctx.config.store.lease()) {
            (Some(leases), Some(ttl)) => {
                let holder = replica_name();
                tracing::info!(replica = %holder, "a replica: runs execute under leases of {} ms", ttl.as_millis());
                let window = std::time::Duration::from_millis(ctx.config.server.dedup_window_ms);
                let engine = Arc::new(engine.lease_new_runs(&holder, ttl).dedup_window(window));
                let lost = metrics.clone();
                let leasing = supervisor::Leasing::new(
                    leases,
                    holder,
                    ttl,
                    Box::new(move || lost.lease_lost()),
                );
                (engine.clone(), Supervisor::leased(engine, leasing))
            }
            _ => {
                let engine = Arc::new(engine);
                (engine.clone(), Supervisor::new(engine))
            }
        };
        let open_runs = state::OpenRuns::of(store.as_ref(), ctx.config.server.dedup_window_ms)?;
        let state = AppState {
            open_runs,
            store,
            watch,
            authority: ctx.authority.clone(),
            plugins,
            engine,
            supervisor,
            playbooks,
            auth,
            limiter,
            metrics,
            ready: Default::default(),
            stopping: tokio::sync::watch::channel(false).0,
            listening_at: Default::default(),
            config: ctx.config,
        };
        Ok(Service {
            state: Arc::new(state),
            notifiers,
            tls,
        })
    }

    /// `https` when the listener serves TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Binds the configured listen address.
    pub async fn bind(&self) -> Result<TcpListener, ServeError> {
        let addr = self.state.config.server.listen;
        TcpListener::bind(addr).await.map_err(|e| ServeError::Bind {
            addr,
            message: e.to_string(),
        })
    }

    /// Resumes every unfinished run, then serves `listener` until
    /// `shutdown` completes; then drains (see [`Supervisor::drain`]).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Drained, ServeError> {
        let state = self.state;
        if let Ok(addr) = listener.local_addr() {
            let scheme = if state.config.server.tls.is_some() {
                "https"
            } else {
                "http"
            };
            let _ = state.listening_at.set(format!("{scheme}://{addr}"));
        }
        // Notifications follow the durable log in a task of their own: a
        // slow or failing notifier never holds containment up.
        tokio::spawn(replicas::when_leading(
            state.clone(),
            notify::run(state.clone(), self.notifiers),
        ));
        if let Some(path) = state.config.server.audit_anchors.clone() {
            let every = std::time::Duration::from_millis(state.config.server.anchor_every_ms);
            tokio::spawn(anchors::run(state.clone(), path, every));
        }
        if state.supervisor.leasing().is_some() {
            replicas::start(&state)?;
        }
        let unfinished: Vec<String> = state
            .store
            .runs()?
            .into_iter()
            .filter(|r| !r.status.is_finished())
            .map(|r| r.run_id)
            .collect();
        if !unfinished.is_empty() {
            tracing::info!("resuming {} unfinished runs", unfinished.len());
        }
        for run_id in &unfinished {
            // A replica leaves alone what another one executes.
            state
                .supervisor
                .execute_from(run_id, supervisor::Origin::Elsewhere);
        }
        state.ready.store(true, Ordering::SeqCst);

        let app = api::router(state.clone());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let stopping = state.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!("stopping: no new requests; actions in flight may finish");
            stopping.ready.store(false, Ordering::SeqCst);
            stopping.stopping.send_replace(true);
            let _ = stop_tx.send(());
        };
        let make = app.into_make_service_with_connect_info::<tls::Peer>();
        let tls = self.tls;
        let server = async move {
            match tls {
                Some(acceptor) => {
                    let listener = tls::TlsListener::new(listener, acceptor)?;
                    axum::serve(listener, make)
                        .with_graceful_shutdown(signal)
                        .await
                }
                None => {
                    axum::serve(listener, make)
                        .with_graceful_shutdown(signal)
                        .await
                }
            }
        };
        let drain_state = state.clone();
        let drain = async move {
            if stop_rx.await.is_ok() {
                let deadline = Duration::from_millis(drain_state.config.server.drain_timeout_ms);
                drain_state.supervisor.drain(deadline).await
            } else {
                Drained::default()
            }
        };
        let (served, drained) = tokio::join!(server, drain);
        served.map_err(|e| ServeError::Io(e.to_string()))?;
        Ok(drained)
    }
}

/// This replica's name in leases: its host, its process and a random part,
/// so a restarted process never passes for the one before it.
fn replica_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "replica".into());
    let random: u32 = rand::random();
    format!("{host}-{}-{random:08x}", std::process::id())
}

/// Every team `[server.oidc.teams]` maps a group to is a team of the model.
fn check_group_teams(ctx: &Context) -> Result<(), InputErrors> {
    let Some(oidc) = &ctx.config.server.oidc else {
        return Ok(());
    };
    let mut errors = InputErrors::default();
    for (group, team) in &oidc.group_teams {
        let known = ctx
            .authority
            .as_ref()
            .is_some_and(|a| a.model().teams.contains_key(team));
        if !known {
            errors.push(InputError::whole_file(
                &ctx.config.path,
                format!(
                    "server.oidc.teams: group `{}` maps to team `{}`, which the authority model does not have",
                    group.escape_debug(),
                    team.escape_debug()
                ),
            ));
        }
    }
    errors.into_result(())
}

/// Loads and checks `[server] playbooks`.
fn load_playbooks(
    config: &Config,
    plugins: &cordon_plugin_host::PluginHost,
) -> Result<BTreeMap<String, ServedPlaybook>, InputErrors> {
    let mut errors = InputErrors::default();
    let mut served = BTreeMap::new();
    for path in &config.server.playbooks {
        let playbook = match Playbook::load(path).and_then(|p| p.check(plugins).map(|()| p)) {
            Ok(playbook) => playbook,
            Err(e) => {
                errors.0.extend(e.0);
                continue;
            }
        };
        if served.contains_key(&playbook.name) {
            errors.push(InputError::whole_file(
                path,
                format!(
                    "a second playbook called `{}` in `[server] playbooks`: names must be unique",
                    playbook.name
                ),
            ));
            continue;
        }
        let sha256 = hex::encode(Sha256::digest(playbook.source.text.as_bytes()));
        served.insert(playbook.name.clone(), ServedPlaybook { playbook, sha256 });
    }
    errors.into_result(served)
}
