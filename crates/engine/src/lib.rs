//! The run engine: turns a playbook and a signal into durable actions.
//!
//! [`Engine::start`] records a new run and executes it; [`Engine::resume`]
//! continues one that was interrupted. Both execute the same way: plan the
//! (step, identity) nodes ([`plan`]), run each as soon as what it needs has
//! succeeded, resolve its target, have the authority decide, and run the
//! action through its plugin. Identical targets of one step run once.
//! Everything an earlier execution recorded as finished is reused, never
//! run again.
//!
//! The engine works over three traits: the [`Store`] (every write is one
//! atomic, durable commit), the authority's [`DecisionPoint`], and
//! [`Plugins`]. Tests use an in-memory store and fake plugins.

#![warn(missing_docs)]

mod action;
mod checkpoint;
mod facts;
pub mod gate;
mod node;
pub mod plan;
pub mod plugins;
mod record;
mod restore;

pub use plan::{Dependency, Node, Plan};
pub use plugins::{BoxFuture, PluginSlot, Plugins};
pub use restore::{RestorePlan, plan_restore, plugins_of};

use cordon_authority::{DecisionPoint, Inventory};
use cordon_input::{InputErrors, Playbook, Signal, SourceFile};
use cordon_store::{Batch, Fence, Fenced, NewLease, OpenSignal, Store, StoreError, StoreExt};
use cordon_types::audit::{RunEnd, SignalSummary};
use cordon_types::{
    ActionRecord, ActionSpec, ActionStatus, AuditEntry, AuditEvent, Identity, PluginInfo, RunKind,
    RunRecord, RunStatus, now_ms,
};
use gate::Gates;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};

/// Progress of a run, for displays.
#[derive(Debug, Clone)]
pub enum Event {
    /// The run has this many nodes (step × identity) to work through.
    Planned {
        /// The run.
        run_id: String,
        /// How many nodes.
        nodes: usize,
    },
    /// One node is done (its action finished, or it shares another node's action).
    NodeFinished {
        /// The node's step.
        step: String,
        /// What its action acted on.
        target: Identity,
        /// How it ended.
        status: ActionStatus,
        /// What happened, in words.
        detail: String,
    },
}

/// Why a run could not be started or finished.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed; the run stays resumable.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored playbook or signal no longer checks (e.g. a plugin was removed).
    #[error(transparent)]
    Input(#[from] InputErrors),
    /// The run has already finished.
    #[error("run `{0}` has already finished")]
    Finished(String),
    /// A step's plugin or action is not loaded.
    #[error("step `{step}`: plugin `{plugin}` is not loaded or does not offer `{action}`")]
    Unavailable {
        /// The step.
        step: String,
        /// Its plugin.
        plugin: String,
        /// Its action.
        action: String,
    },
}

/// What `cordon run` asks for.
pub struct RunRequest {
    /// The checked playbook.
    pub playbook: Playbook,
    /// The signal it answers.
    pub signal: Signal,
    /// The signal's JSON as received, kept with the run.
    pub signal_source: String,
    /// Change nothing at any provider.
    pub dry_run: bool,
    /// Whom the run acts as.
    pub principal: String,
}

/// Runs playbooks against loaded plugins, recording everything in the store.
pub struct Engine {
    plugins: Arc<dyn Plugins>,
    store: Arc<dyn Store>,
    authority: Arc<dyn DecisionPoint>,
    inventory: Arc<Inventory>,
    events: Option<mpsc::UnboundedSender<Event>>,
    gates: Arc<Gates>,
    stopping: Arc<AtomicBool>,
    /// The lease new runs start with, when replicas share the store.
    leasing: Option<NewLease>,
    /// How long after its run finished a signal still answers with it, in a
    /// store shared by replicas.
    dedup_window: std::time::Duration,
}

impl Engine {
    /// An engine over `plugins`, recording in `store`, deciding with `authority`.
    pub fn new(
        plugins: Arc<dyn Plugins>,
        store: Arc<dyn Store>,
        authority: Arc<dyn DecisionPoint>,
    ) -> Engine {
        Engine {
            plugins,
            store,
            authority,
            inventory: Arc::new(Inventory::default()),
            events: None,
            gates: Arc::new(Gates::default()),
            stopping: Arc::new(AtomicBool::new(false)),
            leasing: None,
            dedup_window: std::time::Duration::ZERO,
        }
    }

    /// Records every new run leased to `holder` for `ttl` (see
    /// [`cordon_store::Leases`]), and each new real run with the signal it
    /// answers, so a store shared by replicas refuses a second one.
    pub fn lease_new_runs(mut self, holder: &str, ttl: std::time::Duration) -> Engine {
        self.leasing = Some(NewLease {
            holder: holder.to_string(),
            ttl,
        });
        self
    }

    /// With leased runs (see [`Engine::lease_new_runs`]), a signal that
    /// started a run which finished less than `window` ago is refused a new
    /// run with [`cordon_store::StoreError::AlreadyOpen`] naming that run, on
    /// whichever replica it arrives.
    pub fn dedup_window(mut self, window: std::time::Duration) -> Engine {
        self.dedup_window = window;
        self
    }

    /// Tells `observer` each time a provider makes the engine wait.
    pub fn observe_rate_limits(mut self, observer: Arc<dyn gate::RateLimitObserver>) -> Engine {
        self.gates = Arc::new(Gates::observed(observer));
        self
    }

    /// From now on no run starts a new action: actions in flight finish,
    /// and every run returns with its unstarted nodes unrecorded (a
    /// `run.interrupted` audit record says so); resuming it later runs them.
    /// A service calls this when it is asked to stop.
    pub fn stop_starting(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Whether [`Engine::stop_starting`] was called.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The store as a run under `fence` writes to it.
    fn store_under(&self, fence: Option<Fence>) -> Arc<dyn Store> {
        match fence {
            Some(fence) => Arc::new(Fenced::new(self.store.clone(), fence)),
            None => self.store.clone(),
        }
    }

    /// Records that `run_id` was cut off before it returned (a service's
    /// drain deadline passed); like a kill, it stays resumable.
    /// Under a run lease, the record carries its `fence`.
    pub async fn record_interrupted(
        &self,
        run_id: &str,
        fence: Option<Fence>,
    ) -> Result<RunRecord, EngineError> {
        let store = self.store_under(fence);
        let run = store.run(run_id)?;
        self.interrupted(store.as_ref(), run).await
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
        let (run, playbook, signal) = self.record_start(request, |_| Vec::new()).await?;
        self.execute(run, playbook, signal).await
    }

    /// Records a new run, durably, without executing it: [`Engine::resume`]
    /// executes it. A service answers a submitted signal with the run's id
    /// as soon as this returns.
    pub async fn begin(&self, request: RunRequest) -> Result<RunRecord, EngineError> {
        Ok(self.record_start(request, |_| Vec::new()).await?.0)
    }

    /// [`Engine::begin`], committing the audit records `also` makes for the
    /// new run in the same batch (one durable write instead of two).
    pub async fn begin_with(
        &self,
        request: RunRequest,
        also: impl FnOnce(&RunRecord) -> Vec<AuditEntry>,
    ) -> Result<RunRecord, EngineError> {
        Ok(self.record_start(request, also).await?.0)
    }

    async fn record_start(
        &self,
        request: RunRequest,
        also: impl FnOnce(&RunRecord) -> Vec<AuditEntry>,
    ) -> Result<(RunRecord, Playbook, Signal), EngineError> {
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
        let started = AuditEvent::RunStarted {
            playbook: run.playbook.clone(),
            dry_run: run.dry_run,
            signal: SignalSummary {
                id: signal.id.clone(),
                kind: signal.kind.clone(),
                source: signal.source.clone(),
                severity: signal.severity,
                observed_at: signal.observed_at.unix_timestamp(),
                identities: signal.identities.iter().map(Identity::label).collect(),
            },
        };
        let mut batch = Batch::new().audit(run_entry(&run, started)).run(&run);
        batch.new_lease = self.leasing.clone();
        if self.leasing.is_some() && !run.dry_run {
            batch.opens = Some(OpenSignal {
                playbook: run.playbook.clone(),
                signal_id: run.signal_id.clone(),
                window: self.dedup_window,
            });
        }
        let mut batch = self.authority.signal_received(signal, &run.run_id, batch)?;
        for entry in also(&run) {
            batch = batch.audit(entry);
        }
        self.store.commit(batch).await?;
        tracing::info!(run_id = %run.run_id, playbook = %run.playbook, "run started");
        Ok((run, request.playbook, request.signal))
    }

    /// Records a restore run for `plan` (see [`plan_restore`]) and executes it.
    pub async fn restore(
        &self,
        plan: RestorePlan,
        principal: String,
    ) -> Result<RunRecord, EngineError> {
        let run = self.begin_restore(plan, principal).await?;
        let (playbook, signal) = stored_inputs(&run)?;
        self.execute(run, playbook, signal).await
    }

    /// Records a restore run for `plan` without executing it:
    /// [`Engine::resume`] executes it.
    pub async fn begin_restore(
        &self,
        plan: RestorePlan,
        principal: String,
    ) -> Result<RunRecord, EngineError> {
        let (run, mut batch) = restore::record(plan, principal);
        batch.new_lease = self.leasing.clone();
        self.store.commit(batch).await?;
        Ok(run)
    }

    /// Continues an interrupted run from its stored playbook and signal.
    pub async fn resume(&self, run_id: &str) -> Result<RunRecord, EngineError> {
        self.resume_under(run_id, None).await
    }

    /// [`Engine::resume`] under a run lease: every write the run makes
    /// carries `fence`, so once the lease is taken over nothing more of it
    /// is recorded ([`cordon_store::StoreError::Fenced`]) — nor executed,
    /// since each action's intent is recorded before its call.
    pub async fn resume_under(
        &self,
        run_id: &str,
        fence: Option<Fence>,
    ) -> Result<RunRecord, EngineError> {
        let store = self.store_under(fence);
        let run = store.run(run_id)?;
        if run.status.is_finished() {
            return Err(EngineError::Finished(run.run_id));
        }
        let (playbook, signal) = stored_inputs(&run)?;
        if run.kind == RunKind::Containment {
            let catalogue: &dyn cordon_input::Catalogue = self.plugins.as_ref();
            playbook.check(catalogue)?;
        }
        tracing::info!(run_id = %run.run_id, playbook = %run.playbook, "run resumed");
        self.execute_in(store, run, playbook, signal).await
    }

    async fn execute(
        &self,
        run: RunRecord,
        playbook: Playbook,
        signal: Signal,
    ) -> Result<RunRecord, EngineError> {
        self.execute_in(self.store.clone(), run, playbook, signal)
            .await
    }

    /// Executes `run`, reading and writing through `store`.
    async fn execute_in(
        &self,
        store: Arc<dyn Store>,
        run: RunRecord,
        playbook: Playbook,
        signal: Signal,
    ) -> Result<RunRecord, EngineError> {
        let specs = match &run.kind {
            RunKind::Containment => step_specs(&playbook, self.plugins.as_ref())?,
            RunKind::Restore { .. } => Vec::new(),
        };
        let plan = match &run.kind {
            RunKind::Containment => Plan::new(&playbook, &signal, &specs),
            RunKind::Restore { .. } => Plan::default(),
        };
        let previous: HashMap<String, ActionRecord> = store
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
                    .is_some_and(|s| s.on_failure == cordon_input::playbook::OnFailure::Abort)
        });
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
            specs,
            plugins: self.plugins.clone(),
            store: store.clone(),
            authority: self.authority.clone(),
            events: self.events.clone(),
            previous: Mutex::new(previous),
            claims: Mutex::new(HashMap::new()),
            next_seq: AtomicU64::new(next_seq),
            aborted: AtomicBool::new(aborted),
            store_failed: AtomicBool::new(false),
            gates: self.gates.clone(),
            stopping: self.stopping.clone(),
            sources_lock: tokio::sync::Mutex::new(()),
        });
        match &run.kind {
            RunKind::Containment => {
                node::run_all(ctx.clone(), plan).await?;
                if !ctx.stopping() {
                    facts::gather(ctx.clone(), self.inventory.clone()).await?;
                }
            }
            RunKind::Restore { plan, .. } => restore::run_all(ctx.clone(), plan.clone()).await?,
        }
        if ctx.stopping() {
            return self.interrupted(store.as_ref(), run).await;
        }
        self.finish(store.as_ref(), run).await
    }

    /// Records that `run` stopped with the service; it stays resumable.
    async fn interrupted(
        &self,
        store: &dyn Store,
        run: RunRecord,
    ) -> Result<RunRecord, EngineError> {
        let actions = store.actions(&run.run_id)?;
        let end = RunEnd {
            status: run.status,
            actions: status_counts(&actions),
        };
        store
            .commit(Batch::new().audit(run_entry(&run, AuditEvent::RunInterrupted(end))))
            .await?;
        tracing::info!(run_id = %run.run_id, "run interrupted: it resumes on the next start");
        Ok(run)
    }

    /// Sets the run's final status from its stored actions.
    async fn finish(
        &self,
        store: &dyn Store,
        mut run: RunRecord,
    ) -> Result<RunRecord, EngineError> {
        let actions = store.actions(&run.run_id)?;
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
        let end = RunEnd {
            status: run.status,
            actions: status_counts(&actions),
        };
        let event = if run.status.is_finished() {
            AuditEvent::RunFinished(end)
        } else {
            AuditEvent::RunPaused(end)
        };
        store
            .commit(Batch::new().audit(run_entry(&run, event)).run(&run))
            .await?;
        tracing::info!(run_id = %run.run_id, status = run.status.as_str(), "run finished");
        Ok(run)
    }
}

/// How many of `actions` are in each status.
fn status_counts(actions: &[ActionRecord]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for action in actions {
        *counts
            .entry(action.status.as_str().to_string())
            .or_insert(0) += 1;
    }
    counts
}

/// An audit entry about `run`, as its principal.
fn run_entry(run: &RunRecord, event: AuditEvent) -> AuditEntry {
    AuditEntry::new(event)
        .run(&run.run_id)
        .incident(run.incident.clone())
        .by(&run.principal)
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

/// What a step's plugin says about itself and the step's action.
#[derive(Debug, Clone)]
pub struct StepSpec {
    /// The plugin's `describe`.
    pub info: PluginInfo,
    /// The step's action.
    pub spec: ActionSpec,
}

/// The plugin info and action spec of every step, in step order.
fn step_specs(playbook: &Playbook, plugins: &dyn Plugins) -> Result<Vec<StepSpec>, EngineError> {
    playbook
        .steps
        .iter()
        .map(|step| {
            let info = plugins.plugin(&step.plugin);
            match info.and_then(|i| i.action(&step.action).map(|s| (i, s))) {
                Some((info, spec)) => Ok(StepSpec {
                    info: info.clone(),
                    spec: spec.clone(),
                }),
                None => Err(EngineError::Unavailable {
                    step: step.id.clone(),
                    plugin: step.plugin.clone(),
                    action: step.action.clone(),
                }),
            }
        })
        .collect()
}

/// Everything the nodes of one run share.
pub(crate) struct RunContext {
    run: RunRecord,
    playbook: Playbook,
    signal: Signal,
    /// Per step (containment runs only).
    specs: Vec<StepSpec>,
    plugins: Arc<dyn Plugins>,
    store: Arc<dyn Store>,
    authority: Arc<dyn DecisionPoint>,
    events: Option<mpsc::UnboundedSender<Event>>,
    /// Records from an earlier execution of this run, by key, not yet reused.
    previous: Mutex<HashMap<String, ActionRecord>>,
    /// Actions claimed in this execution, by key: later nodes with the same
    /// target wait for the first one's record.
    claims: Mutex<HashMap<String, watch::Receiver<Option<ActionRecord>>>>,
    next_seq: AtomicU64,
    /// Set when an `on_failure = "abort"` step failed: no new action starts.
    aborted: AtomicBool,
    /// Set when a store operation failed: this execution records nothing
    /// more and stops as if the engine stopped, so that what is left runs
    /// when the run continues (nothing is settled as skipped for it).
    store_failed: AtomicBool,
    gates: Arc<Gates>,
    /// Set when the engine stops starting actions ([`Engine::stop_starting`]).
    stopping: Arc<AtomicBool>,
    /// Serialises updates of `sources` on shared actions.
    sources_lock: tokio::sync::Mutex<()>,
}

impl RunContext {
    fn emit(&self, event: Event) {
        if let Some(events) = &self.events {
            let _ = events.send(event);
        }
    }

    /// Whether this execution stops starting actions: the engine stops, or
    /// the store failed under it.
    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst) || self.store_failed.load(Ordering::SeqCst)
    }

    fn seq(&self) -> u64 {
        self.next_seq.fetch_add(1, Ordering::SeqCst)
    }

    /// Takes the record an earlier execution left under `key`, if any.
    fn take_previous(&self, key: &str) -> Option<ActionRecord> {
        self.previous
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key)
    }
}
