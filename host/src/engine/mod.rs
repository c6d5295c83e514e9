//! The run scheduler: turns a playbook and a signal into durable actions.
//!
//! [`Engine::start`] records a new run and executes it; [`Engine::resume`]
//! continues one that was interrupted. Both execute the same way: plan the
//! (step, identity) nodes, run each as soon as what it needs has succeeded,
//! resolve its target, ask the authority decision point, and run the action
//! through its plugin. Identical targets of one step run once. Everything an
//! earlier execution recorded as finished is reused, never run again.

mod action;
mod node;
mod plan;
mod retry;

pub use plan::{Dependency, Node, Plan};

use crate::authority::DecisionPoint;
use crate::diagnostic::{InputErrors, SourceFile};
use crate::identity::Identity;
use crate::playbook::{OnFailure, Playbook};
use crate::plugin::PluginHost;
use crate::signal::Signal;
use crate::store::{ActionRecord, ActionStatus, RunRecord, RunStatus, Store, StoreError, now_ms};
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
            events: None,
        }
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
        self.store.put_run(&run)?;
        self.store.sync().await?;
        tracing::info!(run_id = %run.run_id, playbook = %run.playbook, "run started");
        self.execute(run, request.playbook, request.signal).await
    }

    /// Continues an interrupted run from its stored playbook and signal.
    pub async fn resume(&self, run_id: &str) -> Result<RunRecord, EngineError> {
        let run = self.store.run(run_id)?;
        if run.status.is_finished() {
            return Err(EngineError::Finished(run.run_id));
        }
        let (playbook, signal) = stored_inputs(&run)?;
        playbook.check(self.plugins.as_ref())?;
        tracing::info!(run_id = %run.run_id, playbook = %run.playbook, "run resumed");
        self.execute(run, playbook, signal).await
    }

    async fn execute(
        &self,
        run: RunRecord,
        playbook: Playbook,
        signal: Signal,
    ) -> Result<RunRecord, EngineError> {
        let plan = Plan::new(&playbook, &signal, &self.plugins);
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
        let gates = playbook
            .steps
            .iter()
            .map(|s| (s.plugin.clone(), Arc::new(RateGate::default())))
            .collect();
        if let Some(events) = &self.events {
            let _ = events.send(Event::Planned {
                run_id: run.run_id.clone(),
                nodes: plan.nodes.len(),
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
        node::run_all(ctx.clone(), plan).await?;
        self.finish(run).await
    }

    /// Sets the run's final status from its stored actions.
    async fn finish(&self, mut run: RunRecord) -> Result<RunRecord, EngineError> {
        let actions = self.store.actions(&run.run_id)?;
        let succeeded = actions.iter().filter(|a| a.status.is_success()).count();
        run.status = if succeeded == actions.len() {
            RunStatus::Completed
        } else if succeeded == 0 {
            RunStatus::Failed
        } else {
            RunStatus::Partial
        };
        run.finished_at = Some(now_ms());
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
fn new_run_id() -> String {
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
