//! After containment: what the inventory and the plugins know about each
//! identity of the signal (owner, workload, issuer, who uses it), kept with
//! the run for reports. Runs after the actions so it never delays
//! containment. Some identities cannot be looked up once contained (Vault
//! forgets a revoked token), so what a plugin recorded while acting on the
//! identity — evidence keys `owner`, `workload`, `issuer`, `used-by` — fills
//! what `inspect` could not say. The inventory wins over both.

use super::RunContext;
use super::retry::backoff;
use crate::identity::Identity;
use crate::inventory::Inventory;
use crate::playbook::Catalogue;
use crate::plugin::CallError;
use crate::plugin::contract::{IdentityFacts, ProviderError};
use crate::store::{ActionRecord, FactsRecord, StoreError};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

pub(super) async fn gather(
    ctx: Arc<RunContext>,
    inventory: Arc<Inventory>,
) -> Result<(), StoreError> {
    let known: BTreeSet<usize> = ctx
        .store
        .facts(&ctx.run.run_id)?
        .iter()
        .map(|f| f.identity)
        .collect();
    let actions = ctx.store.actions(&ctx.run.run_id)?;
    let mut tasks = JoinSet::new();
    for (index, identity) in ctx.signal.identities.iter().enumerate() {
        if known.contains(&index) {
            continue;
        }
        let recorded = facts_from_evidence(&actions, index, identity);
        let plugin = ctx.plugins.names().into_iter().find(|name| {
            ctx.plugins
                .info(name)
                .is_some_and(|i| i.provider == identity.provider)
        });
        let ctx = ctx.clone();
        let inventory = inventory.clone();
        let identity = identity.clone();
        tasks.spawn(async move {
            let (mut plugin_facts, error) = match &plugin {
                Some(name) => match inspect(&ctx, name, &identity).await {
                    Ok(facts) => (Some(facts), None),
                    Err(err) => (None, Some(err.to_string())),
                },
                None => (
                    None,
                    Some(format!(
                        "no loaded plugin speaks for provider `{}`",
                        identity.provider
                    )),
                ),
            };
            if let Some(recorded) = recorded {
                let facts = plugin_facts.get_or_insert_with(IdentityFacts::default);
                for (mine, theirs) in [
                    (&mut facts.owner, recorded.owner),
                    (&mut facts.workload, recorded.workload),
                    (&mut facts.issuer, recorded.issuer),
                    (&mut facts.used_by, recorded.used_by),
                ] {
                    if mine.is_none() {
                        *mine = theirs;
                    }
                }
            }
            let (facts, sources) = inventory.merge(&identity, plugin_facts.as_ref());
            ctx.store.put_facts(&FactsRecord {
                run_id: ctx.run.run_id.clone(),
                identity: index,
                target: identity,
                facts,
                sources,
                error,
            })
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("inspect task panicked")?;
    }
    ctx.store.sync().await
}

/// Facts a plugin recorded as evidence while acting on `identity` itself.
fn facts_from_evidence(
    actions: &[ActionRecord],
    index: usize,
    identity: &Identity,
) -> Option<IdentityFacts> {
    let mut facts = IdentityFacts::default();
    let own = actions.iter().filter(|a| {
        a.sources.contains(&index)
            && a.status.is_success()
            && a.target.provider == identity.provider
            && a.target.kind == identity.kind
            && a.target.id == identity.id
    });
    for action in own {
        for (slot, key) in [
            (&mut facts.owner, "owner"),
            (&mut facts.workload, "workload"),
            (&mut facts.issuer, "issuer"),
            (&mut facts.used_by, "used-by"),
        ] {
            if slot.is_none() {
                *slot = action.evidence.get(key).cloned();
            }
        }
    }
    (facts != IdentityFacts::default()).then_some(facts)
}

/// How many times one identity's inspection waits out a rate limit.
const MAX_RATE_LIMITED_WAITS: u32 = 5;

/// Inspects under the plugin's rate gate, like actions: a provider that
/// asked us to wait hears nothing from us until then.
async fn inspect(
    ctx: &RunContext,
    plugin: &str,
    identity: &Identity,
) -> Result<IdentityFacts, CallError> {
    let gate = ctx.gate(plugin);
    let mut waits = 0;
    loop {
        gate.wait().await;
        let slot = ctx.plugins.reserve(plugin).await;
        if !gate.is_open() {
            continue; // the provider asked us to wait while we queued
        }
        match slot.inspect(identity).await.result {
            Err(CallError::Provider(ProviderError::RateLimited { retry_after_ms, .. }))
                if waits < MAX_RATE_LIMITED_WAITS =>
            {
                waits += 1;
                gate.close_for(
                    retry_after_ms
                        .map(Duration::from_millis)
                        .unwrap_or_else(|| backoff(waits)),
                );
            }
            result => return result,
        }
    }
}
