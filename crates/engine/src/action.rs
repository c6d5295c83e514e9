//! Running one action: decision, intent, plugin call, retries, outcome —
//! each committed (audit event and record together) before the next step.

use crate::RunContext;
use crate::checkpoint::ActionCheckpoint;
use crate::gate::backoff;
use crate::record::{self, entry, outcome, settle};
use cordon_authority::{DecisionError, DecisionRequest};
use cordon_plugin_host::CallError;
use cordon_store::{Batch, StoreError};
use cordon_types::{
    ActionRecord, ActionRef, ActionRequest, ActionStatus, AuditEvent, Decision, OutcomeStatus,
    ProviderError, now_ms,
};

/// Has the authority decide (once per action; the decision is recorded
/// before anything else happens), then acts on the answer: run it, deny it,
/// or wait for — or apply — an approval.
pub(crate) async fn decide_and_run(
    ctx: &RunContext,
    mut record: ActionRecord,
    retries: Retries,
) -> Result<ActionRecord, StoreError> {
    if record.decision.is_none() {
        record.decision = Some(decide(ctx, &mut record)?);
    }
    match record.decision.clone() {
        Some(Decision::Allowed { .. }) => run(ctx, record, retries, None).await,
        Some(Decision::Denied { reason }) => {
            settle(ctx, record, ActionStatus::Denied, reason).await
        }
        Some(Decision::NeedsApproval { approvers, reason }) => match record.approval.clone() {
            Some(approval) if approval.approved => run(ctx, record, retries, None).await,
            Some(approval) => {
                let why = approval
                    .reason
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default();
                let detail = format!("rejected by {}{why} ({reason})", approval.principal);
                settle(ctx, record, ActionStatus::Denied, detail).await
            }
            // A dry run shows what the real run would do, and never waits:
            // the action is planned, saying who a real run would wait for.
            None if ctx.run.dry_run => {
                let waits = format!(
                    "a real run waits for approval by a member of team {} ({reason})",
                    approvers.join(" or ")
                );
                run(ctx, record, retries, Some(waits)).await
            }
            None => {
                // Decided by an older Cordon, which recorded the wait apart.
                if record.status != ActionStatus::AwaitingApproval {
                    let decision = Decision::NeedsApproval { approvers, reason };
                    awaits_if_asked(ctx, &mut record, &decision);
                    record::commit(ctx, &record, None).await?;
                }
                Ok(record)
            }
        },
        None => unreachable!("decided above"),
    }
}

/// Marks `record` as waiting, when `decision` needs an approval a real run
/// waits for. The decision's own commit carries the wait, so an approver
/// told by the `approval.needed` event finds the action waiting.
fn awaits_if_asked(ctx: &RunContext, record: &mut ActionRecord, decision: &Decision) {
    if let Decision::NeedsApproval { approvers, reason } = decision
        && !ctx.run.dry_run
    {
        record.status = ActionStatus::AwaitingApproval;
        record.detail = format!(
            "{reason}; waiting for approval by a member of team {}",
            approvers.join(" or ")
        );
    }
}

/// Decides `record` and applies the decision with its audit event (and, for
/// an allowed action, its ledger charge) in one transaction. An allowed
/// decision becomes durable with the action's intent, still before the
/// plugin is called; any other is settled and committed at once. When the
/// authority cannot decide, the action is denied: never allowed.
fn decide(ctx: &RunContext, record: &mut ActionRecord) -> Result<Decision, StoreError> {
    let request = DecisionRequest {
        run_id: &ctx.run.run_id,
        principal: &ctx.run.principal,
        plugin: &record.plugin,
        action: &record.action,
        effect: record.effect,
        target: &record.target,
        incident: ctx.run.incident.as_deref(),
        severity: ctx.signal.severity,
    };
    let decided = |decision: &Decision, record: &ActionRecord| {
        let mut decided = record.clone();
        decided.decision = Some(decision.clone());
        awaits_if_asked(ctx, &mut decided, decision);
        let event = AuditEvent::Decision {
            action: ActionRef::from(&decided),
            decision: decision.clone(),
            domain: decided.domain.clone(),
        };
        Batch::new().audit(entry(ctx, event)).action(&decided)
    };
    match ctx.authority.prepare(&request) {
        Ok(prepared) => {
            if record.domain.is_none() {
                record.domain = prepared.domain.clone();
            }
            let snapshot = record.clone();
            let decision =
                prepared.record(ctx.store.as_ref(), now_ms(), &mut |d| decided(d, &snapshot))?;
            // `record` as its decision was committed.
            awaits_if_asked(ctx, record, &decision);
            Ok(decision)
        }
        // The store cannot be reached now: nothing is decided or run; the
        // run stops with the error and this action is decided when it
        // continues.
        Err(DecisionError::Store(err)) if err.is_transient() => Err(err),
        Err(DecisionError::Store(err)) => {
            tracing::warn!(target = %record.target, "authority could not decide, denying: {err}");
            let decision = Decision::Denied {
                reason: format!(
                    "{}; denied because nothing runs on a decision that could not be made",
                    DecisionError::Store(err)
                ),
            };
            ctx.store.apply(decided(&decision, record))?;
            Ok(decision)
        }
    }
}

/// When an action stops retrying transient failures: after `count`
/// retries, or when the next would start more than `within` after the
/// action was created (across restarts), whichever comes first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retries {
    pub count: u32,
    pub within: std::time::Duration,
}

impl Retries {
    /// What a step asks for.
    pub fn of(step: &cordon_input::playbook::Step) -> Retries {
        Retries {
            count: step.retries,
            within: step.retry_for,
        }
    }

    /// Whether a retry after `wait` still starts within the window of an
    /// action created at `created_at`.
    fn has_time_for(&self, created_at: cordon_types::Millis, wait: std::time::Duration) -> bool {
        now_ms() + wait.as_millis() as i64 <= created_at + self.within.as_millis() as i64
    }
}

/// How many times one action waits out a rate limit before giving up.
const MAX_RATE_LIMITED_WAITS: u32 = 20;

/// Calls the plugin until the action succeeds, fails for good, or runs out of
/// retries. Every attempt's intent is durable before the plugin is called; the
/// outcome is durable before this returns. `note`, if any, is added to the
/// outcome's detail.
async fn run(
    ctx: &RunContext,
    mut record: ActionRecord,
    retries: Retries,
    note: Option<String>,
) -> Result<ActionRecord, StoreError> {
    let mut transient_failures = 0;
    let mut rate_limited_waits = 0;
    // The latest attempt whose answer never arrived: its durable intent
    // exists (a process that stopped mid-call) or it failed in transit. The
    // provider may have applied it.
    let mut unanswered_attempt = (record.attempts > 0).then_some(record.attempts);
    loop {
        let mut slot = ctx.gates.slot(ctx.plugins.as_ref(), &record.plugin).await;
        if ctx.stopping() {
            // The service stops while this waited for a slot: no call goes
            // out now; the recorded decision is reused on resume.
            drop(slot);
            return Ok(record);
        }
        record.attempts += 1;
        record.status = ActionStatus::Running;
        // Fail closed: without its audit record, the call does not happen.
        let intent = AuditEvent::ActionIntent {
            action: ActionRef::from(&record),
            attempt: record.attempts,
            dry_run: ctx.run.dry_run,
            params: record.params.clone(),
        };
        record::commit(ctx, &record, Some(intent)).await?;
        // A 429 may have closed the gate while the intent was written.
        ctx.gates.reopened(&record.plugin).await;

        let request = ActionRequest {
            action: record.action.clone(),
            target: record.target.clone(),
            params: record.params.clone(),
            idempotency_key: record.key.clone(),
            dry_run: ctx.run.dry_run,
        };
        let checkpoint = (!ctx.run.dry_run).then(|| ActionCheckpoint::new(ctx, &record));
        let report = slot
            .execute(
                request,
                checkpoint
                    .clone()
                    .map(|c| c as std::sync::Arc<dyn cordon_plugin_host::Checkpoint>),
            )
            .await;
        // A 429 closes the gate while this call still holds its slot: the
        // next call waiting for the slot finds the gate closed.
        let rate_limited = match &report.result {
            Err(CallError::Provider(ProviderError::RateLimited { retry_after_ms, .. }))
                if rate_limited_waits < MAX_RATE_LIMITED_WAITS =>
            {
                rate_limited_waits += 1;
                Some(
                    ctx.gates
                        .rate_limited(&record.plugin, *retry_after_ms, rate_limited_waits),
                )
            }
            _ => None,
        };
        drop(slot);
        if let Some(checkpoint) = &checkpoint {
            checkpoint.merge_into(&mut record);
        }
        record.requests.extend(report.requests);
        match report.result {
            Ok(outcome) => {
                record.status = match outcome.status {
                    OutcomeStatus::Applied => ActionStatus::Applied,
                    OutcomeStatus::AlreadyApplied => ActionStatus::AlreadyApplied,
                    OutcomeStatus::Planned => ActionStatus::Planned,
                };
                record.detail = outcome.detail;
                if let Some(attempt) = unanswered_attempt
                    && record.status == ActionStatus::AlreadyApplied
                    && !ctx.run.dry_run
                {
                    // The state this run asked for is there after an attempt
                    // of its own went unanswered: that attempt applied it.
                    // It is the run's effect, restorable by its owners.
                    record.status = ActionStatus::Applied;
                    record.detail = format!(
                        "{}; applied by attempt {attempt} of this run, whose answer was lost",
                        record.detail
                    );
                    record
                        .evidence
                        .insert("applied_by_attempt".to_string(), attempt.to_string());
                }
                record.evidence.extend(outcome.evidence);
                // An attempt that finds its change already made may not be
                // able to say how to undo it: keep what an earlier,
                // interrupted attempt checkpointed.
                if !outcome.restore.is_empty() || record.status != ActionStatus::Applied {
                    record.restore = outcome.restore;
                }
                break;
            }
            Err(CallError::Provider(ProviderError::RateLimited { detail, .. }))
                if let Some(wait) = rate_limited =>
            {
                tracing::info!(
                    plugin = %record.plugin, target = %record.target, wait_ms = wait.as_millis() as u64,
                    "rate limited: {detail}"
                );
            }
            Err(err @ CallError::Provider(ProviderError::Transient(_)))
                if transient_failures < retries.count =>
            {
                unanswered_attempt = Some(record.attempts);
                let wait = backoff(transient_failures + 1);
                if !retries.has_time_for(record.created_at, wait) {
                    record.status = ActionStatus::Failed;
                    record.detail = format!(
                        "{err} (gave up after {} attempts: the next would start past its retry_for of {}s)",
                        record.attempts,
                        retries.within.as_secs()
                    );
                    break;
                }
                transient_failures += 1;
                tracing::info!(
                    plugin = %record.plugin, target = %record.target, wait_ms = wait.as_millis() as u64,
                    "transient failure, retrying: {err}"
                );
                tokio::time::sleep(wait).await;
            }
            Err(err) => {
                record.status = ActionStatus::Failed;
                record.detail = match &err {
                    CallError::Provider(ProviderError::Transient(_)) if retries.count > 0 => {
                        format!("{err} (gave up after {} attempts)", record.attempts)
                    }
                    _ => err.to_string(),
                };
                break;
            }
        }
    }
    if let Some(note) = note {
        record.detail = format!("{}; {note}", record.detail);
    }
    record.finished_at = Some(now_ms());
    record::commit(ctx, &record, Some(outcome(&record, true))).await?;
    Ok(record)
}
