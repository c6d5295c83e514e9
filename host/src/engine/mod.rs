//! The run scheduler: turns a playbook and a signal into durable actions.
//!
//! [`Engine::start`] records a new run and executes it; [`Engine::resume`]
//! continues one that was interrupted. Both execute the same way: plan the
//! (step, identity) nodes, run each as soon as what it needs has succeeded,
//! resolve its target, ask the authority decision point, and run the action
//! through its plugin. Identical targets of one step run once. Everything an
//! earlier execution recorded as finished is reused, never run again.

mod action;
mod facts;
mod node;
mod plan;
mod restore;
mod retry;

pub use restore::{RestorePlan, plan_restore, plugins_of};

pub use plan::{Dependency, Node, Plan};

use crate::audit::AuditEvent;
use crate::authority::DecisionPoint;
use crate::diagnostic::{InputErrors, SourceFile};
use crate::identity::Identity;
use crate::inventory::Inventory;
use crate::playbook::{Catalogue, OnFailure, Playbook};
use crate::plugin::PluginHost;
use crate::signal::Signal;
use crate::store::{
    ActionRecord, ActionStatus, RunKind, RunRecord, RunStatus, Store, StoreError, now_ms,
};
use node::NodeResult;
use retry::RateGate;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};

/// Progress of a run, for displays.
#[derive(Debug, Clone)]
pub enum Event {
    /// The run has this many nodes (step × identity) to work through.
    Planned { run_id: String, nodes: usize },
    /// One node is done (its action finished, or it shares another node's action).
    NodeFinished {
        step: String,
        target: Identity,
        status: ActionStatus,
        detail: String,
    },
}

/// Why a run could not be started or finished.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored playbook or signal no longer checks (e.g. a plugin was removed).
    #[error(transparent)]
    Input(#[from] InputErrors),
    #[error("run `{0}` has already finished")]
    Finished(String),
}

/// What `cordon run` asks for.
pub struct RunRequest {
    pub playbook: Playbook,
    pub signal: Signal,
    /// The signal's JSON as received, kept with the run.
    pub signal_source: String,
    pub dry_run: bool,
    pub principal: String,
}

/// Runs playbooks against loaded plugins, recording everything in the store.
pub struct Engine {
    plugins: Arc<PluginHost>,
    store: Arc<Store>,
    authority: Arc<dyn DecisionPoint>,
    inventory: Arc<Inventory>,
    events: Option<mpsc::UnboundedSender<Event>>,
}

impl Engine {
    pub fn new(
        plugins: Arc<PluginHost>,
        store: Arc<Store>,
        authority: Arc<dyn DecisionPoint>,
    ) -> Engine {
        Engine {
            plugins,
            store,
            authority,
            inventory: Arc::new(Inventory::default()),
            events: None,
        }
    }

    /// Uses `inventory` for what runs record about their identities.
    pub fn with_inventory(mut self, inventory: Arc<Inventory>) -> Engine {
        self.inventory = inventory;
        self
    }

    /// Sends progress events to `events`.
    pub fn with_events(mut self, events: mpsc::UnboundedSender<Event>) -> Engine {
        self.events = Some(events);
        self
    }

    /// Records a new run and executes it. The playbook must have been checked
    /// against the loaded plugins and its trigger against the signal.
    pub async fn start(&self, request: RunRequest) -> Result<RunRecord, EngineError> {
        let run = RunRecord {
            run_id: new_run_id(),
            kind: RunKind::Containment,
            playbook: request.playbook.name.clone(),
            playbook_path: request.playbook.source.path.display().to_string(),
            playbook_source: request.playbook.source.text.clone(),
            signal_source: request.signal_source,
            signal_id: request.signal.id.clone(),
            incident: request.signal.incident.clone(),
            principal: request.principal,
            dry_run: request.dry_run,
            status: RunStatus::Running,
            started_at: now_ms(),
            finished_at: None,
        };
        let signal = &request.signal;
        let identities: Vec<String> = signal.identities.iter().map(Identity::label).collect();
        self.store.audit(AuditEvent {
            kind: "run.started",
            run_id: Some(run.run_id.clone()),
            incident: run.incident.clone(),
            principal: Some(run.principal.clone()),
            data: serde_json::json!({
                "playbook": run.playbook, "dry_run": run.dry_run,
                "signal": { "id": signal.id, "kind": signal.kind, "source": signal.source,
                            "severity": signal.severity.to_string(), "observed_at": signal.observed_at.unix_timestamp(),
                            "identities": identities },
            }),
        })?;
        self.store.put_run(&run)?;
        self.authority.signal_received(signal, &run.run_id)?;
        self.store.sync().await?;
        tracing::info!(run_id = %run.run_id, playbook = %run.playbook, "run started");
        self.execute(run, request.playbook, request.signal).await
    }

    /// Records a restore run for `plan` (see [`plan_restore`]) and executes it.
    pub async fn restore(
        &self,
        plan: RestorePlan,
        principal: String,
    ) -> Result<RunRecord, EngineError> {
        let run = restore::record(&self.store, plan, principal)?;
        self.store.sync().await?;
        let (playbook, signal) = stored_inputs(&run)?;
        self.execute(run, playbook, signal).await
    }

    /// Continues an interrupted run from its stored playbook and signal.
    pub async fn resume(&self, run_id: &str) -> Result<RunRecord, EngineError> {
        let run = self.store.run(run_id)?;
        if run.status.is_finished() {
            return Err(EngineError::Finished(run.run_id));
        }
        let (playbook, signal) = stored_inputs(&run)?;
        if run.kind == RunKind::Containment {
            playbook.check(self.plugins.as_ref())?;
        }
        tracing::info!(run_id = %run.run_id, playbook = %run.playbook, "run resumed");
        self.execute(run, playbook, signal).await
    }

    async fn execute(
        &self,
        run: RunRecord,
        playbook: Playbook,
        signal: Signal,
    ) -> Result<RunRecord, EngineError> {
        let plan = match &run.kind {
            RunKind::Containment => Plan::new(&playbook, &signal, &self.plugins),
            RunKind::Restore { .. } => Plan::default(),
        };
        let previous: HashMap<String, ActionRecord> = self
            .store
            .actions(&run.run_id)?
            .into_iter()
            .map(|a| (a.key.clone(), a))
            .collect();
        let next_seq = previous.values().map(|a| a.seq + 1).max().unwrap_or(0);
        // A failure recorded earlier in a step that aborts keeps the run aborted.
        let aborted = previous.values().any(|a| {
            a.status == ActionStatus::Failed
                && playbook
                    .step(&a.step)
                    .is_some_and(|s| s.on_failure == OnFailure::Abort)
        });
        let gates = self
            .plugins
            .names()
            .into_iter()
            .map(|name| (name, Arc::new(RateGate::default())))
            .collect();
        let nodes = match &run.kind {
            RunKind::Restore { plan, .. } => plan.len(),
            RunKind::Containment => plan.nodes.len(),
        };
        if let Some(events) = &self.events {
            let _ = events.send(Event::Planned {
                run_id: run.run_id.clone(),
                nodes,
            });
        }

        let ctx = Arc::new(RunContext {
            run: run.clone(),
            playbook,
            signal,
            plugins: self.plugins.clone(),
            store: self.store.clone(),
            authority: self.authority.clone(),
            events: self.events.clone(),
            previous: Mutex::new(previous),
            claims: Mutex::new(HashMap::new()),
            next_seq: AtomicU64::new(next_seq),
            aborted: AtomicBool::new(aborted),
            gates,
            sources_lock: tokio::sync::Mutex::new(()),
        });
        match &run.kind {
            RunKind::Containment => {
                node::run_all(ctx.clone(), plan).await?;
                facts::gather(ctx.clone(), self.inventory.clone()).await?;
            }
            RunKind::Restore { plan, .. } => restore::run_all(ctx.clone(), plan.clone()).await?,
        }
        self.finish(run).await
    }

    /// Sets the run's final status from its stored actions.
    async fn finish(&self, mut run: RunRecord) -> Result<RunRecord, EngineError> {
        let actions = self.store.actions(&run.run_id)?;
        let succeeded = actions.iter().filter(|a| a.status.is_success()).count();
        run.status = if actions
            .iter()
            .any(|a| a.status == ActionStatus::AwaitingApproval)
        {
            RunStatus::AwaitingApproval
        } else if succeeded == actions.len() {
            RunStatus::Completed
        } else if succeeded == 0 {
            RunStatus::Failed
        } else {
            RunStatus::Partial
        };
        run.finished_at = run.status.is_finished().then(now_ms);
        let mut summary = BTreeMap::new();
        for action in &actions {
            *summary.entry(action.status.as_str()).or_insert(0) += 1;
        }
        self.store.audit(AuditEvent {
            kind: if run.status.is_finished() {
                "run.finished"
            } else {
                "run.paused"
            },
            run_id: Some(run.run_id.clone()),
            incident: run.incident.clone(),
            principal: Some(run.principal.clone()),
            data: serde_json::json!({ "status": run.status.as_str(), "actions": summary }),
        })?;
        self.store.put_run(&run)?;
        self.store.sync().await?;
        tracing::info!(run_id = %run.run_id, status = run.status.as_str(), "run finished");
        Ok(run)
    }
}

/// Parses the playbook and signal stored with a run.
pub fn stored_inputs(run: &RunRecord) -> Result<(Playbook, Signal), InputErrors> {
    let playbook = Playbook::parse(SourceFile::from_text(
        &run.playbook_path,
        run.playbook_source.clone(),
    ))?;
    let signal = Signal::parse(&SourceFile::from_text(
        format!("signal of run {}", run.run_id),
        run.signal_source.clone(),
    ))?;
    Ok((playbook, signal))
}

/// A new run id: time-ordered and unique.
pub(crate) fn new_run_id() -> String {
    format!("run-{}", uuid::Uuid::now_v7().simple())
}

/// Everything the nodes of one run share.
pub(crate) struct RunContext {
    run: RunRecord,
    playbook: Playbook,
    signal: Signal,
    plugins: Arc<PluginHost>,
    store: Arc<Store>,
    authority: Arc<dyn DecisionPoint>,
    events: Option<mpsc::UnboundedSender<Event>>,
    /// Records from an earlier execution of this run, by key, not yet reused.
    previous: Mutex<HashMap<String, ActionRecord>>,
    /// Actions claimed in this execution, by key: later nodes with the same
    /// target wait for the first one's result.
    claims: Mutex<HashMap<String, watch::Receiver<Option<NodeResult>>>>,
    next_seq: AtomicU64,
    /// Set when an `on_failure = "abort"` step failed: no new action starts.
    aborted: AtomicBool,
    gates: BTreeMap<String, Arc<RateGate>>,
    /// Serialises updates of `sources` on shared actions.
    sources_lock: tokio::sync::Mutex<()>,
}

impl RunContext {
    fn gate(&self, plugin: &str) -> Arc<RateGate> {
        self.gates.get(plugin).cloned().expect("a gate per plugin")
    }

    fn emit(&self, event: Event) {
        if let Some(events) = &self.events {
            let _ = events.send(event);
        }
    }

    fn seq(&self) -> u64 {
        self.next_seq.fetch_add(1, Ordering::SeqCst)
    }
}
