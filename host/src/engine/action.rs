//! Running one action: intent, plugin call, retries, outcome.

use super::RunContext;
use super::retry::backoff;
use crate::plugin::CallError;
use crate::plugin::contract::{ActionRequest, OutcomeStatus, ProviderError};
use crate::store::{ActionRecord, ActionStatus, StoreError, now_ms};
use std::time::Duration;

/// How many times one action waits out a rate limit before giving up.
const MAX_RATE_LIMITED_WAITS: u32 = 20;

/// Calls the plugin until the action succeeds, fails for good, or runs out of
/// retries. Every attempt's intent is durable before the plugin is called; the
/// outcome is durable before this returns.
pub(super) async fn run(
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
    ctx.store.put_action(&record)?;
    ctx.store.sync().await?;
    Ok(record)
}
