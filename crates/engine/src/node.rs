//! Running the nodes of a plan: waiting for dependencies, resolving targets,
//! claiming actions (one per distinct target) and recording the results.

use crate::plan::{Dependency, Plan};
use crate::record::{NewAction, outcome};
use crate::{Event, RunContext, StepSpec, action, record};
use cordon_input::playbook::{MissingValue, OnFailure, Scope, Step};
use cordon_store::{Batch, StoreError, StoreExt};
use cordon_types::{ActionRecord, ActionStatus, Decision, Identity, now_ms};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// How a node ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeState {
    /// Its action succeeded (applied, already applied, planned).
    Succeeded,
    /// Its action failed, was denied or skipped.
    NotSucceeded,
    /// Its action waits for an approval: nodes that need it wait too (they
    /// run when the approved run resumes).
    Pending,
}

/// What a finished node tells the nodes that need it.
#[derive(Debug, Clone)]
pub(crate) struct NodeResult {
    pub state: NodeState,
    /// The action's evidence, for `steps.<id>.evidence.<key>` templates.
    pub evidence: BTreeMap<String, String>,
}

impl NodeResult {
    fn pending() -> NodeResult {
        NodeResult {
            state: NodeState::Pending,
            evidence: BTreeMap::new(),
        }
    }

    fn not_succeeded() -> NodeResult {
        NodeResult {
            state: NodeState::NotSucceeded,
            evidence: BTreeMap::new(),
        }
    }
}

/// Runs every node of `plan`; returns when all are done.
pub(super) async fn run_all(ctx: Arc<RunContext>, plan: Plan) -> Result<(), StoreError> {
    let node_channels: Vec<_> = plan
        .nodes
        .iter()
        .map(|_| watch::channel::<Option<NodeResult>>(None))
        .collect();
    let step_channels: Vec<_> = plan
        .by_step
        .iter()
        .map(|_| watch::channel::<Option<NodeState>>(None))
        .collect();

    let mut tasks = JoinSet::new();
    // A step is done when all its nodes are: pending if any is pending,
    // succeeded if all succeeded.
    for (step, nodes) in plan.by_step.iter().enumerate() {
        let receivers: Vec<_> = nodes.iter().map(|&n| node_channels[n].1.clone()).collect();
        let done = step_channels[step].0.clone();
        tasks.spawn(async move {
            let mut state = NodeState::Succeeded;
            for mut rx in receivers {
                match wait(&mut rx).await.state {
                    NodeState::Pending => state = NodeState::Pending,
                    NodeState::NotSucceeded if state == NodeState::Succeeded => {
                        state = NodeState::NotSucceeded
                    }
                    _ => {}
                }
            }
            let _ = done.send(Some(state));
            Ok(())
        });
    }
    // Places for nodes past their dependencies, per plugin: a node's action
    // (its large future) exists only once it has one, so a run of 100,000
    // identities holds a few hundred of them, not 100,000; a plugin that is
    // rate limited holds only its own places.
    let mut windows: BTreeMap<&str, Arc<Semaphore>> = BTreeMap::new();
    for (index, node) in plan.nodes.iter().enumerate() {
        let window = windows
            .entry(ctx.playbook.steps[node.step].plugin.as_str())
            .or_insert_with(|| Arc::new(Semaphore::new(ACTIONS_IN_PROGRESS_PER_PLUGIN)))
            .clone();
        let dependencies: Vec<Waiting> = plan
            .dependencies(&ctx.playbook, index)
            .into_iter()
            .map(|dep| match dep {
                Dependency::Node(n) => Waiting::Node(
                    ctx.playbook.steps[plan.nodes[n].step].id.clone(),
                    node_channels[n].1.clone(),
                ),
                Dependency::Step(s) => {
                    Waiting::Step(ctx.playbook.steps[s].id.clone(), step_channels[s].1.clone())
                }
            })
            .collect();
        let done = node_channels[index].0.clone();
        let ctx = ctx.clone();
        let node = *node;
        tasks.spawn(async move {
            let result = run_node(&ctx, node.step, node.identity, dependencies, window).await;
            match result {
                Ok(result) => {
                    let _ = done.send(Some(result));
                    Ok(())
                }
                Err(err) => {
                    // Stop starting actions, settling nothing; the run
                    // stays resumable.
                    ctx.store_failed.store(true, Ordering::SeqCst);
                    let _ = done.send(Some(NodeResult::not_succeeded()));
                    Err(err)
                }
            }
        });
    }
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("node task panicked") {
            Ok(()) => {}
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

enum Waiting {
    Node(String, watch::Receiver<Option<NodeResult>>),
    Step(String, watch::Receiver<Option<NodeState>>),
}

async fn wait(rx: &mut watch::Receiver<Option<NodeResult>>) -> NodeResult {
    rx.wait_for(Option::is_some)
        .await
        .expect("node result sender outlives its receivers")
        .clone()
        .expect("waited for Some")
}

/// Nodes of one plugin past their dependencies at a time ([`run_all`]).
const ACTIONS_IN_PROGRESS_PER_PLUGIN: usize = 256;

/// Waits for the node's dependencies, then for a place in its plugin's
/// window, then acts ([`act`], boxed so its state exists only from then).
async fn run_node(
    ctx: &RunContext,
    step_index: usize,
    identity_index: usize,
    dependencies: Vec<Waiting>,
    window: Arc<Semaphore>,
) -> Result<NodeResult, StoreError> {
    let mut lineage: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut blocked_by = None;
    let mut pending = false;
    for dependency in dependencies {
        let (step_id, state) = match dependency {
            Waiting::Node(step_id, mut rx) => {
                let result = wait(&mut rx).await;
                lineage.insert(step_id.clone(), result.evidence);
                (step_id, result.state)
            }
            Waiting::Step(step_id, mut rx) => {
                let state = rx
                    .wait_for(Option::is_some)
                    .await
                    .expect("step sender outlives receivers")
                    .unwrap_or(NodeState::NotSucceeded);
                (step_id, state)
            }
        };
        match state {
            NodeState::Pending => pending = true,
            NodeState::NotSucceeded => {
                blocked_by.get_or_insert(step_id);
            }
            NodeState::Succeeded => {}
        }
    }

    let _place = window
        .acquire_owned()
        .await
        .expect("the window is never closed");
    Box::pin(act(
        ctx,
        step_index,
        identity_index,
        lineage,
        pending,
        blocked_by,
    ))
    .await
}

/// Runs a node whose dependencies are done: settles it as skipped or
/// pending when they say so, else decides and executes its action.
async fn act(
    ctx: &RunContext,
    step_index: usize,
    identity_index: usize,
    lineage: BTreeMap<String, BTreeMap<String, String>>,
    pending: bool,
    blocked_by: Option<String>,
) -> Result<NodeResult, StoreError> {
    let step = &ctx.playbook.steps[step_index];
    let identity = &ctx.signal.identities[identity_index];
    if ctx.stopping() {
        // The service stops: nothing is recorded, the node runs on resume.
        return Ok(NodeResult::pending());
    }
    if pending && blocked_by.is_none() {
        // Nothing is recorded: the node is planned again when the run resumes.
        return Ok(NodeResult::pending());
    }
    if let Some(needed) = blocked_by {
        let detail = format!("not run: step `{needed}` did not succeed for this identity");
        return settle_node(ctx, step, identity_index, ActionStatus::Skipped, detail).await;
    }

    let resolved = {
        let evidence = |step: &str, key: &str| lineage.get(step).and_then(|e| e.get(key)).cloned();
        let scope = Scope {
            target: identity,
            signal: &ctx.signal,
            evidence: &evidence,
        };
        resolve(&ctx.specs[step_index], step, &scope)
    };
    let (target, params) = match resolved {
        Ok(resolved) => resolved,
        Err(_) if ctx.aborted.load(Ordering::SeqCst) => {
            return settle_node(ctx, step, identity_index, ActionStatus::Skipped, aborted()).await;
        }
        Err(message) => {
            let detail = format!("cannot compute this step's target or parameters: {message}");
            return settle_node(ctx, step, identity_index, ActionStatus::Failed, detail).await;
        }
    };

    let key = action_key(&ctx.run.run_id, &step.id, &target);
    let claim = {
        let mut claims = ctx.claims.lock().unwrap_or_else(|e| e.into_inner());
        match claims.get(&key) {
            Some(rx) => Err(rx.clone()),
            None => {
                let (tx, rx) = watch::channel(None);
                claims.insert(key.clone(), rx);
                Ok(tx)
            }
        }
    };
    let owner = match claim {
        Ok(owner) => owner,
        Err(mut shared) => {
            // Another identity of this step has the same target: share its action.
            let Some(record) = shared
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|r| r.clone())
            else {
                // The owner stopped (a store error, or the service stops);
                // the run stops with it.
                if ctx.stopping() {
                    return Ok(NodeResult::pending());
                }
                return Ok(NodeResult::not_succeeded());
            };
            add_source(ctx, &key, identity_index).await?;
            return Ok(finished(ctx, step, &record));
        }
    };

    // Outcomes an earlier execution recorded are reused, whatever happened
    // since; an action whose call may have gone out is finished even in an
    // aborted run (as a call in flight at the abort is); nothing else starts
    // once the run is aborted.
    if ctx.stopping() {
        return Ok(NodeResult::pending());
    }
    let aborting = ctx.aborted.load(Ordering::SeqCst);
    let record = match ctx.take_previous(&key) {
        Some(mut done) if done.status.is_final() => {
            if !done.sources.contains(&identity_index) {
                done.sources.push(identity_index);
                ctx.store.commit(Batch::new().action(&done)).await?;
            }
            done
        }
        Some(interrupted) if !aborting || !may_start_a_call(&interrupted) => {
            execute(ctx, step, interrupted, identity_index).await?
        }
        Some(unstarted) => record::settle(ctx, unstarted, ActionStatus::Skipped, aborted()).await?,
        None if aborting => {
            settle_record(ctx, step, identity_index, ActionStatus::Skipped, aborted()).await?
        }
        None => {
            let fresh = NewAction {
                key: key.clone(),
                step: step.id.clone(),
                plugin: step.plugin.clone(),
                action: step.action.clone(),
                effect: ctx.specs[step_index].spec.effect,
                domain: ctx.authority.domain(&step.plugin, &step.action, &target),
                target,
                params,
                sources: vec![identity_index],
            }
            .record(ctx);
            execute(ctx, step, fresh, identity_index).await?
        }
    };
    let result = finished(ctx, step, &record);
    let _ = owner.send(Some(record));
    Ok(result)
}

/// The detail of a node skipped because the run aborted.
fn aborted() -> String {
    "not run: the run was aborted after a failure".to_string()
}

/// Whether running `record` could send a first call for it: it was not
/// called yet, and its decision does not forbid calling.
fn may_start_a_call(record: &ActionRecord) -> bool {
    record.attempts == 0 && !matches!(record.decision, Some(Decision::Denied { .. }))
}

/// Decides (once), then runs the action unless the decision forbids it.
async fn execute(
    ctx: &RunContext,
    step: &Step,
    mut record: ActionRecord,
    identity_index: usize,
) -> Result<ActionRecord, StoreError> {
    if !record.sources.contains(&identity_index) {
        record.sources.push(identity_index);
    }
    action::decide_and_run(ctx, record, action::Retries::of(step)).await
}

/// Reports a finished action and turns it into the node's result.
fn finished(ctx: &RunContext, step: &Step, record: &ActionRecord) -> NodeResult {
    if record.status == ActionStatus::Failed && step.on_failure == OnFailure::Abort {
        ctx.aborted.store(true, Ordering::SeqCst);
    }
    let state = match record.status {
        ActionStatus::AwaitingApproval => NodeState::Pending,
        status if status.is_success() => NodeState::Succeeded,
        _ => NodeState::NotSucceeded,
    };
    ctx.emit(Event::NodeFinished {
        step: step.id.clone(),
        target: record.target.clone(),
        status: record.status,
        detail: record.detail.clone(),
    });
    NodeResult {
        state,
        evidence: record.evidence.clone(),
    }
}

/// Records a node that ran no action (skipped, or its target could not be
/// computed), keyed by step and identity so a resume finds it again.
async fn settle_node(
    ctx: &RunContext,
    step: &Step,
    identity_index: usize,
    status: ActionStatus,
    detail: String,
) -> Result<NodeResult, StoreError> {
    let record = settle_record(ctx, step, identity_index, status, detail).await?;
    Ok(finished(ctx, step, &record))
}

/// The record of [`settle_node`]: the earlier execution's, or a new one.
async fn settle_record(
    ctx: &RunContext,
    step: &Step,
    identity_index: usize,
    status: ActionStatus,
    detail: String,
) -> Result<ActionRecord, StoreError> {
    let identity = ctx.signal.identities[identity_index].clone();
    let key = node_key(&ctx.run.run_id, &step.id, identity_index);
    let previous = ctx.take_previous(&key);
    let record = match previous {
        Some(done) if done.status.is_final() => done,
        _ => {
            let mut record = NewAction {
                key,
                step: step.id.clone(),
                plugin: step.plugin.clone(),
                action: step.action.clone(),
                effect: ctx.specs[step.index].spec.effect,
                target: identity,
                params: BTreeMap::new(),
                sources: vec![identity_index],
                domain: None,
            }
            .record(ctx);
            record.status = status;
            record.detail = detail;
            record.finished_at = Some(now_ms());
            record::commit(ctx, &record, Some(outcome(&record, false))).await?;
            record
        }
    };
    Ok(record)
}

/// Adds a signal identity to the sources of a shared action.
async fn add_source(ctx: &RunContext, key: &str, identity_index: usize) -> Result<(), StoreError> {
    let _turn = ctx.sources_lock.lock().await;
    if let Some(mut record) = ctx.store.action(&ctx.run.run_id, key)?
        && !record.sources.contains(&identity_index)
    {
        record.sources.push(identity_index);
        ctx.store.commit(Batch::new().action(&record)).await?;
    }
    Ok(())
}

/// Why a step's target or parameters cannot be computed for an identity.
#[derive(Debug, thiserror::Error)]
enum Unresolved {
    #[error(transparent)]
    Missing(#[from] MissingValue),
    #[error("the target id is empty")]
    EmptyTarget,
}

/// The step's target and parameters for one identity.
fn resolve(
    specs: &StepSpec,
    step: &Step,
    scope: &Scope<'_>,
) -> Result<(Identity, BTreeMap<String, String>), Unresolved> {
    let (info, spec) = (&specs.info, &specs.spec);
    let target = match &step.target {
        None => scope.target.clone(),
        Some(template) => {
            let mut attributes = BTreeMap::new();
            for (name, value) in &template.attributes {
                attributes.insert(name.clone(), value.render(scope)?);
            }
            Identity {
                provider: template
                    .provider
                    .clone()
                    .unwrap_or_else(|| info.provider.clone()),
                kind: template.kind.unwrap_or(spec.targets[0]),
                id: template.id.render(scope)?,
                attributes,
            }
        }
    };
    if target.id.trim().is_empty() {
        return Err(Unresolved::EmptyTarget);
    }
    let mut params = BTreeMap::new();
    for (name, value) in &step.params {
        params.insert(name.clone(), value.render(scope)?);
    }
    Ok((target, params))
}

/// The idempotency key of a step's action on a target within a run.
pub fn action_key(run_id: &str, step: &str, target: &Identity) -> String {
    digest(&[
        run_id,
        step,
        &target.provider,
        target.kind.as_str(),
        &target.id,
    ])
}

fn node_key(run_id: &str, step: &str, identity_index: usize) -> String {
    digest(&[run_id, step, "node", &identity_index.to_string()])
}

fn digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hex::encode(&hasher.finalize()[..16])
}
