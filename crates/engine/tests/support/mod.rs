//! Fakes for engine tests: plugins that answer from a script and record
//! every call, playbook and signal builders, and a harness that runs the
//! engine over an in-memory store. No wasm, no network.

#![allow(dead_code)]

mod inputs;
mod playbooks;
mod yielding;

pub use inputs::*;
pub use playbooks::*;
#[allow(unused_imports)] // not every test file uses it
pub use yielding::YieldingStore;

use cordon_authority::{AllowAll, DecisionPoint};
use cordon_engine::{BoxFuture, Engine, Event, PluginSlot, Plugins, RunRequest};
use cordon_input::{Catalogue, Signal};
use cordon_plugin_host::{CallError, CallReport};
use cordon_store::{Batch, MemoryStore, Store, StoreExt};
use cordon_types::{
    ActionOutcome, ActionRecord, ActionRequest, ActionSpec, Effect, Identity, IdentityFacts,
    IdentityKind, OutcomeStatus, ParamSpec, PluginInfo, ProviderError, RunRecord,
};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::Instant;

/// What the fake answers to one call.
#[derive(Debug, Clone)]
pub enum Reply {
    /// `applied`, with this evidence.
    Applied(BTreeMap<String, String>),
    /// `already-applied`.
    AlreadyApplied,
    /// A transient error.
    Transient,
    /// A 429, with the provider's reset time.
    RateLimited(Option<u64>),
    /// The target does not exist.
    NotFound,
    /// The request cannot succeed.
    Invalid,
}

/// What an answer waits for before it is given.
#[derive(Debug, Clone)]
pub enum Wait {
    /// A call of `action` on the target with this id has started.
    Called(String, String),
    /// A call of `action` on the target with this id has been answered.
    Answered(String, String),
    /// The test opened this gate.
    Gate(watch::Receiver<bool>),
    /// This much (tokio) time has passed.
    Sleep(Duration),
}

/// One scripted answer: wait for `wait`, if any, then reply.
#[derive(Debug, Clone)]
pub struct Answer {
    pub wait: Option<Wait>,
    pub reply: Reply,
}

impl From<Reply> for Answer {
    fn from(reply: Reply) -> Answer {
        Answer { wait: None, reply }
    }
}

impl Reply {
    /// This reply, once `wait` has happened.
    pub fn after(self, wait: Wait) -> Answer {
        Answer {
            wait: Some(wait),
            reply: self,
        }
    }
}

/// `applied` with the given evidence.
pub fn applied(evidence: &[(&str, &str)]) -> Reply {
    Reply::Applied(
        evidence
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// A gate the test opens; answers waiting on it are held until then.
pub fn gate() -> (watch::Sender<bool>, Wait) {
    let (tx, rx) = watch::channel(false);
    (tx, Wait::Gate(rx))
}

/// A call the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    /// `execute` or `inspect`.
    pub kind: &'static str,
    pub plugin: String,
    pub action: String,
    pub target: Identity,
    pub params: BTreeMap<String, String>,
    pub key: String,
    pub dry_run: bool,
    /// Position of the call's start on the fake's timeline (starts and answers).
    pub started: usize,
    /// Tokio time at the start.
    pub at: Instant,
    /// Position and tokio time of the answer, and its kind.
    pub answered: Option<(usize, Instant, String)>,
}

impl Call {
    /// Whether this is `action` on the target with this id.
    pub fn is(&self, action: &str, target: &str) -> bool {
        self.kind == "execute" && self.action == action && self.target.id == target
    }
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    clock: usize,
    /// When each slot was given back, on `clock`.
    released: Vec<usize>,
    script: HashMap<(String, String), VecDeque<Answer>>,
}

impl State {
    /// Moves the logical clock on; the new time.
    fn tick(&mut self) -> usize {
        self.clock += 1;
        self.clock
    }
}

/// Plugins that answer from a script.
pub struct FakePlugins {
    infos: BTreeMap<String, PluginInfo>,
    limits: BTreeMap<String, Arc<Semaphore>>,
    state: Arc<Mutex<State>>,
    changed: watch::Sender<()>,
}

/// An action the fake declares.
pub fn action(name: &str, effect: Effect, targets: &[IdentityKind]) -> ActionSpec {
    ActionSpec {
        name: name.into(),
        effect,
        targets: targets.to_vec(),
        restore_with: None,
        params: Vec::new(),
        description: format!("fake {name}"),
    }
}

/// `spec`, undone by `restore`.
pub fn reversible(mut spec: ActionSpec, restore: &str) -> ActionSpec {
    spec.restore_with = Some(restore.into());
    spec
}

/// `spec`, with an optional parameter.
pub fn with_param(mut spec: ActionSpec, name: &str) -> ActionSpec {
    spec.params.push(ParamSpec {
        name: name.into(),
        required: false,
        description: String::new(),
    });
    spec
}

impl FakePlugins {
    /// No plugins yet.
    pub fn new() -> FakePlugins {
        FakePlugins {
            infos: BTreeMap::new(),
            limits: BTreeMap::new(),
            state: Arc::default(),
            changed: watch::channel(()).0,
        }
    }

    /// Two plugins: `aws` (access keys, users) and `okta` (users), each
    /// allowing `limit` calls at once.
    pub fn standard(limit: usize) -> FakePlugins {
        use IdentityKind::{AccessKey, User};
        FakePlugins::new()
            .plugin(
                "aws",
                "aws",
                limit,
                vec![
                    reversible(
                        action("deactivate-access-key", Effect::Revoke, &[AccessKey]),
                        "reactivate-access-key",
                    ),
                    action("reactivate-access-key", Effect::Restore, &[AccessKey]),
                    action("suspend-access-key", Effect::Quarantine, &[AccessKey]),
                    with_param(
                        action("delete-access-key", Effect::Revoke, &[AccessKey]),
                        "reason",
                    ),
                    reversible(
                        action("quarantine-user", Effect::Quarantine, &[User]),
                        "release-user",
                    ),
                    action("release-user", Effect::Restore, &[User]),
                ],
            )
            .plugin(
                "okta",
                "okta",
                limit,
                vec![
                    action("revoke-sessions", Effect::Isolate, &[User]),
                    action("suspend-user", Effect::Quarantine, &[User]),
                ],
            )
    }

    /// Adds plugin `name` for `provider` with `actions`, `limit` calls at once.
    pub fn plugin(
        mut self,
        name: &str,
        provider: &str,
        limit: usize,
        actions: Vec<ActionSpec>,
    ) -> FakePlugins {
        let info = PluginInfo {
            provider: provider.into(),
            version: "0.0.0-fake".into(),
            actions,
            secrets: Vec::new(),
            config: Vec::new(),
        };
        self.infos.insert(name.into(), info);
        self.limits
            .insert(name.into(), Arc::new(Semaphore::new(limit)));
        self
    }

    /// From now on, calls of `action` on `target` get `answers` in order;
    /// the last one repeats. Unscripted calls are applied (planned in a dry run).
    pub fn script(&self, action: &str, target: &str, answers: Vec<Answer>) {
        assert!(!answers.is_empty(), "a script needs at least one answer");
        self.lock()
            .script
            .insert((action.into(), target.into()), answers.into());
    }

    /// Every call so far, in start order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Moves the fake's logical clock on and returns the new time: for a
    /// test's own observers to order what they see among the fake's calls.
    pub fn tick(&self) -> usize {
        self.lock().tick()
    }

    /// When each slot was given back, on the logical clock, in order.
    pub fn released(&self) -> Vec<usize> {
        self.lock().released.clone()
    }

    /// The `execute` calls so far, in start order.
    pub fn executes(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.kind == "execute")
            .collect()
    }

    /// The `execute` calls of `action` on `target`.
    pub fn calls_of(&self, action: &str, target: &str) -> Vec<Call> {
        self.executes()
            .into_iter()
            .filter(|c| c.is(action, target))
            .collect()
    }

    /// Forgets the calls so far.
    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// Waits until some call satisfies `pred`.
    pub async fn wait_for_call(&self, pred: impl Fn(&Call) -> bool) {
        let mut changed = self.changed.subscribe();
        while !self.lock().calls.iter().any(&pred) {
            changed.changed().await.expect("the fake lives");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the start of a call; returns its index.
    fn start(&self, kind: &'static str, plugin: &str, request: &ActionRequest) -> usize {
        let index = {
            let mut state = self.lock();
            let started = state.tick();
            state.calls.push(Call {
                kind,
                plugin: plugin.into(),
                action: request.action.clone(),
                target: request.target.clone(),
                params: request.params.clone(),
                key: request.idempotency_key.clone(),
                dry_run: request.dry_run,
                started,
                at: Instant::now(),
                answered: None,
            });
            state.calls.len() - 1
        };
        self.changed.send_replace(());
        index
    }

    fn answered(&self, index: usize, what: &str) {
        {
            let mut state = self.lock();
            let at = state.tick();
            state.calls[index].answered = Some((at, Instant::now(), what.to_string()));
        }
        self.changed.send_replace(());
    }

    fn next_answer(&self, action: &str, target: &str) -> Option<Answer> {
        let mut state = self.lock();
        let queue = state.script.get_mut(&(action.into(), target.into()))?;
        if queue.len() > 1 {
            queue.pop_front()
        } else {
            queue.front().cloned()
        }
    }

    async fn wait(&self, wait: Wait) {
        match wait {
            Wait::Called(action, target) => self.wait_for_call(|c| c.is(&action, &target)).await,
            Wait::Answered(action, target) => {
                self.wait_for_call(|c| c.is(&action, &target) && c.answered.is_some())
                    .await
            }
            Wait::Gate(mut rx) => {
                rx.wait_for(|open| *open).await.expect("the gate lives");
            }
            Wait::Sleep(d) => tokio::time::sleep(d).await,
        }
    }

    async fn execute(
        &self,
        plugin: &str,
        request: ActionRequest,
    ) -> Result<ActionOutcome, CallError> {
        let index = self.start("execute", plugin, &request);
        let answer = self
            .next_answer(&request.action, &request.target.id)
            .unwrap_or_else(|| Answer::from(applied(&[])));
        if let Some(wait) = answer.wait {
            self.wait(wait).await;
        }
        let outcome = |status, evidence| {
            Ok(ActionOutcome {
                status,
                detail: format!("fake {} on {}", request.action, request.target.id),
                restore: BTreeMap::from([("undo".to_string(), request.target.id.clone())]),
                evidence,
            })
        };
        let (what, result) = match answer.reply {
            // A dry run turns every success into `planned`.
            Reply::Applied(evidence) if request.dry_run => {
                ("planned", outcome(OutcomeStatus::Planned, evidence))
            }
            Reply::Applied(evidence) => ("applied", outcome(OutcomeStatus::Applied, evidence)),
            Reply::AlreadyApplied => (
                "already-applied",
                outcome(OutcomeStatus::AlreadyApplied, BTreeMap::new()),
            ),
            Reply::Transient => (
                "transient",
                Err(ProviderError::Transient("fake 503".into())),
            ),
            Reply::RateLimited(retry_after_ms) => (
                "rate-limited",
                Err(ProviderError::RateLimited {
                    retry_after_ms,
                    detail: "fake 429".into(),
                }),
            ),
            Reply::NotFound => ("not-found", Err(ProviderError::NotFound("fake 404".into()))),
            Reply::Invalid => ("invalid", Err(ProviderError::Invalid("fake 400".into()))),
        };
        self.answered(index, what);
        result.map_err(CallError::Provider)
    }

    fn inspect(&self, plugin: &str, identity: Identity) -> IdentityFacts {
        let request = ActionRequest {
            action: "inspect".into(),
            target: identity,
            params: BTreeMap::new(),
            idempotency_key: String::new(),
            dry_run: false,
        };
        let index = self.start("inspect", plugin, &request);
        self.answered(index, "facts");
        IdentityFacts::default()
    }
}

impl Catalogue for FakePlugins {
    fn plugin(&self, name: &str) -> Option<&PluginInfo> {
        self.infos.get(name)
    }

    fn names(&self) -> Vec<String> {
        self.infos.keys().cloned().collect()
    }
}

impl Plugins for FakePlugins {
    fn reserve<'a>(&'a self, plugin: &'a str) -> BoxFuture<'a, Box<dyn PluginSlot<'a> + 'a>> {
        Box::pin(async move {
            let limit = self.limits.get(plugin).expect("a known plugin").clone();
            let permit = limit.acquire_owned().await.expect("semaphore open");
            let slot: Box<dyn PluginSlot<'a> + 'a> = Box::new(FakeSlot {
                fake: self,
                plugin,
                _permit: permit,
            });
            slot
        })
    }
}

struct FakeSlot<'a> {
    fake: &'a FakePlugins,
    plugin: &'a str,
    _permit: OwnedSemaphorePermit,
}

impl Drop for FakeSlot<'_> {
    fn drop(&mut self) {
        let mut state = self.fake.lock();
        let at = state.tick();
        state.released.push(at);
    }
}

impl<'a> PluginSlot<'a> for FakeSlot<'a> {
    fn execute<'s>(
        &'s mut self,
        request: ActionRequest,
        _checkpoint: Option<Arc<dyn cordon_plugin_host::Checkpoint>>,
    ) -> BoxFuture<'s, CallReport<ActionOutcome>>
    where
        'a: 's,
    {
        Box::pin(async move {
            let result = self.fake.execute(self.plugin, request).await;
            CallReport {
                result,
                requests: Vec::new(),
                duration: Duration::ZERO,
            }
        })
    }

    fn inspect<'s>(&'s mut self, identity: Identity) -> BoxFuture<'s, CallReport<IdentityFacts>>
    where
        'a: 's,
    {
        Box::pin(async move {
            let facts = self.fake.inspect(self.plugin, identity);
            CallReport {
                result: Ok(facts),
                requests: Vec::new(),
                duration: Duration::ZERO,
            }
        })
    }
}

/// An engine over a fake and a store.
pub struct Harness {
    pub fake: Arc<FakePlugins>,
    pub store: Arc<dyn Store>,
    pub engine: Engine,
}

impl Harness {
    /// `fake` over a fresh memory store, everything allowed.
    pub fn new(fake: FakePlugins) -> Harness {
        Harness::with(fake, Arc::new(MemoryStore::new()), Arc::new(AllowAll), None)
    }

    /// `fake` over `store`, deciding with `authority`, sending events to `events`.
    pub fn with(
        fake: FakePlugins,
        store: Arc<dyn Store>,
        authority: Arc<dyn DecisionPoint>,
        events: Option<mpsc::UnboundedSender<Event>>,
    ) -> Harness {
        let fake = Arc::new(fake);
        let plugins: Arc<dyn Plugins> = fake.clone();
        let mut engine = Engine::new(plugins, store.clone(), authority);
        if let Some(events) = events {
            engine = engine.with_events(events);
        }
        Harness {
            fake,
            store,
            engine,
        }
    }

    /// Starts `playbook` (checked against the fake) for the signal and waits
    /// for the run to end; a run that hangs fails the test.
    pub async fn run(
        &self,
        playbook_text: &str,
        signal: (Signal, String),
        dry_run: bool,
    ) -> RunRecord {
        self.try_run(playbook_text, signal, dry_run, "automation:nhi")
            .await
            .unwrap_or_else(|e| panic!("run failed: {e}"))
    }

    /// Like [`Harness::run`], as `principal`, returning the engine's error.
    pub async fn try_run(
        &self,
        playbook_text: &str,
        (signal, signal_source): (Signal, String),
        dry_run: bool,
        principal: &str,
    ) -> Result<RunRecord, cordon_engine::EngineError> {
        let request = RunRequest {
            playbook: playbook(&self.fake, playbook_text),
            signal,
            signal_source,
            dry_run,
            principal: principal.into(),
        };
        bounded(self.engine.start(request)).await
    }

    /// Resumes `run_id` and waits for it.
    pub async fn resume(&self, run_id: &str) -> RunRecord {
        bounded(self.engine.resume(run_id))
            .await
            .unwrap_or_else(|e| panic!("resume failed: {e}"))
    }

    /// Rewrites the store as if the process had died now: the run `running`
    /// again and `actions` as given; the fake forgets its calls.
    pub async fn interrupt(&self, run: &RunRecord, actions: &[ActionRecord]) {
        let mut running = run.clone();
        running.status = cordon_types::RunStatus::Running;
        running.finished_at = None;
        let batch = actions
            .iter()
            .fold(Batch::new().run(&running), |batch, a| batch.action(a));
        self.store
            .commit(batch)
            .await
            .expect("the store takes the rewrite");
        self.fake.clear_calls();
    }

    /// Every action of the run.
    pub fn actions(&self, run: &RunRecord) -> Vec<ActionRecord> {
        self.store.actions(&run.run_id).expect("actions")
    }

    /// The one action of `step` on the target with this id.
    pub fn action(&self, run: &RunRecord, step: &str, target: &str) -> ActionRecord {
        let found: Vec<_> = self
            .actions(run)
            .into_iter()
            .filter(|a| a.step == step && a.target.id == target)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "actions of `{step}` on {target}: {found:#?}"
        );
        found.into_iter().next().unwrap()
    }

    /// The one action of `step` on `target`, asserting its status and that
    /// its detail says `detail`.
    pub fn expect(
        &self,
        run: &RunRecord,
        step: &str,
        target: &str,
        status: cordon_types::ActionStatus,
        detail: &str,
    ) -> ActionRecord {
        let action = self.action(run, step, target);
        assert_eq!(
            action.status, status,
            "{step} on {target}: {}",
            action.detail
        );
        assert!(
            action.detail.contains(detail),
            "{step} on {target}: {}",
            action.detail
        );
        action
    }
}

/// `action` as it was while its call was in flight: running, unfinished.
pub fn in_flight(mut action: ActionRecord) -> ActionRecord {
    action.status = cordon_types::ActionStatus::Running;
    action.finished_at = None;
    action.detail.clear();
    action
}

/// Awaits `fut`, failing the test if it takes more than a minute (a deadlock).
pub async fn bounded<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .expect("the run did not end: the engine is stuck")
}
