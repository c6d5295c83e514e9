//! Running one action: decision, intent, plugin call, retries, outcome —
//! each recorded in the store and the audit log before the next step.

use super::RunContext;
use super::retry::backoff;
use crate::audit::AuditEvent;
use crate::authority::{Decision, DecisionRequest};
use crate::plugin::CallError;
use crate::plugin::contract::{ActionRequest, OutcomeStatus, ProviderError};
use crate::store::{ActionRecord, ActionStatus, StoreError, now_ms};
use serde_json::json;
use std::time::Duration;

/// An audit event about `record`.
pub(super) fn event(
    ctx: &RunContext,
    kind: &'static str,
    record: &ActionRecord,
    data: serde_json::Value,
) -> AuditEvent {
    let mut data = data;
    data["action_key"] = json!(record.key);
    data["step"] = json!(record.step);
    data["plugin"] = json!(record.plugin);
    data["action"] = json!(record.action);
    data["effect"] = json!(record.effect);
    data["target"] = json!(record.target);
    AuditEvent {
        kind,
        run_id: Some(ctx.run.run_id.clone()),
        incident: ctx.run.incident.clone(),
        principal: Some(ctx.run.principal.clone()),
        data,
    }
}

/// Asks the decision point (once per action; the decision is durable and
/// audited before anything else happens), then acts on the answer: run it,
/// deny it, or wait for — or apply — an approval.
pub(super) async fn decide_and_run(
    ctx: &RunContext,
    mut record: ActionRecord,
    retries: u32,
) -> Result<ActionRecord, StoreError> {
    if record.decision.is_none() {
        let decision = ctx.authority.decide(&DecisionRequest {
            run_id: &ctx.run.run_id,
            principal: &ctx.run.principal,
            plugin: &record.plugin,
            action: &record.action,
            effect: record.effect,
            target: &record.target,
            incident: ctx.run.incident.as_deref(),
            severity: ctx.signal.severity,
        });
        if record.domain.is_none() {
            record.domain = ctx
                .authority
                .domain(&record.plugin, &record.action, &record.target);
        }
        ctx.store.audit(event(
            ctx,
            "decision",
            &record,
            json!({ "decision": decision, "domain": record.domain }),
        ))?;
        let allowed = matches!(decision, Decision::Allowed { .. });
        record.decision = Some(decision);
        ctx.store.put_action(&record)?;
        // An allowed action's decision becomes durable with its intent, in
        // the same sync, still before the plugin is called.
        if !allowed {
            ctx.store.sync().await?;
        }
    }
    match record.decision.clone().expect("decided above") {
        Decision::Allowed { .. } => run(ctx, record, retries).await,
        Decision::Denied { reason } => settle(ctx, record, ActionStatus::Denied, reason).await,
        Decision::NeedsApproval { approvers, reason } => match record.approval.clone() {
            Some(approval) if approval.approved => run(ctx, record, retries).await,
            Some(approval) => {
                let why = approval
                    .reason
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default();
                let detail = format!("rejected by {}{why} ({reason})", approval.principal);
                settle(ctx, record, ActionStatus::Denied, detail).await
            }
            None => {
                if record.status != ActionStatus::AwaitingApproval {
                    record.status = ActionStatus::AwaitingApproval;
                    record.detail = format!(
                        "{reason}; waiting for approval by a member of team {}",
                        approvers.join(" or ")
                    );
                    ctx.store.put_action(&record)?;
                    ctx.store.sync().await?;
                }
                Ok(record)
            }
        },
    }
}

/// Ends an action without calling its plugin.
async fn settle(
    ctx: &RunContext,
    mut record: ActionRecord,
    status: ActionStatus,
    detail: String,
) -> Result<ActionRecord, StoreError> {
    record.status = status;
    record.detail = detail;
    record.finished_at = Some(now_ms());
    ctx.store.audit(event(
        ctx,
        "action.outcome",
        &record,
        json!({ "status": status.as_str(), "detail": record.detail, "attempts": record.attempts }),
    ))?;
    ctx.store.put_action(&record)?;
    ctx.store.sync().await?;
    Ok(record)
}

/// How many times one action waits out a rate limit before giving up.
const MAX_RATE_LIMITED_WAITS: u32 = 20;

/// Calls the plugin until the action succeeds, fails for good, or runs out of
/// retries. Every attempt's intent is durable before the plugin is called; the
/// outcome is durable before this returns.
async fn run(
    ctx: &RunContext,
    mut record: ActionRecord,
    retries: u32,
) -> Result<ActionRecord, StoreError> {
    let gate = ctx.gate(&record.plugin);
    let mut transient_failures = 0;
    let mut rate_limited_waits = 0;
    loop {
        gate.wait().await;
        let slot = ctx.plugins.reserve(&record.plugin).await;
        if !gate.is_open() {
            // The provider asked us to wait while we queued for the slot.
            continue;
        }
        record.attempts += 1;
        record.status = ActionStatus::Running;
        // Fail closed: without its audit record, the call does not happen.
        ctx.store.audit(event(
            ctx,
            "action.intent",
            &record,
            json!({ "attempt": record.attempts, "dry_run": ctx.run.dry_run, "params": record.params }),
        ))?;
        ctx.store.put_action(&record)?;
        ctx.store.sync().await?;

        let request = ActionRequest {
            action: record.action.clone(),
            target: record.target.clone(),
            params: record.params.clone(),
            idempotency_key: record.key.clone(),
            dry_run: ctx.run.dry_run,
        };
        let report = slot.execute(&request).await;
        record.requests.extend(report.requests);
        match report.result {
            Ok(outcome) => {
                record.status = match outcome.status {
                    OutcomeStatus::Applied => ActionStatus::Applied,
                    OutcomeStatus::AlreadyApplied => ActionStatus::AlreadyApplied,
                    OutcomeStatus::Planned => ActionStatus::Planned,
                };
                record.detail = outcome.detail;
                record.evidence = outcome.evidence;
                record.restore = outcome.restore;
                break;
            }
            Err(CallError::Provider(ProviderError::RateLimited {
                retry_after_ms,
                detail,
            })) if rate_limited_waits < MAX_RATE_LIMITED_WAITS => {
                rate_limited_waits += 1;
                let wait = retry_after_ms
                    .map(Duration::from_millis)
                    .unwrap_or_else(|| backoff(rate_limited_waits));
                tracing::info!(
                    plugin = %record.plugin, target = %record.target, wait_ms = wait.as_millis() as u64,
                    "rate limited: {detail}"
                );
                gate.close_for(wait);
            }
            Err(CallError::Provider(ProviderError::Transient(message)))
                if transient_failures < retries =>
            {
                transient_failures += 1;
                let wait = backoff(transient_failures);
                tracing::info!(
                    plugin = %record.plugin, target = %record.target, wait_ms = wait.as_millis() as u64,
                    "transient failure, retrying: {message}"
                );
                tokio::time::sleep(wait).await;
            }
            Err(err) => {
                record.status = ActionStatus::Failed;
                record.detail = match &err {
                    CallError::Provider(ProviderError::Transient(_)) if retries > 0 => {
                        format!("{err} (gave up after {} attempts)", record.attempts)
                    }
                    _ => err.to_string(),
                };
                break;
            }
        }
    }
    record.finished_at = Some(now_ms());
    let requests: Vec<_> = record
        .requests
        .iter()
        .map(|r| json!({ "method": r.method, "origin": r.origin, "path": r.path, "status": r.status, "denied": r.denied }))
        .collect();
    ctx.store.audit(event(
        ctx,
        "action.outcome",
        &record,
        json!({
            "status": record.status.as_str(), "detail": record.detail, "attempts": record.attempts,
            "evidence": record.evidence, "requests": requests,
        }),
    ))?;
    ctx.store.put_action(&record)?;
    ctx.store.sync().await?;
    Ok(record)
}
