//! After containment: what the inventory and the plugins know about each
//! identity of the signal (owner, workload, issuer, who uses it), kept with
//! the run for reports. Runs after the actions so it never delays
//! containment. Each identity is inspected through the plugin that acted on
//! it (with two tenants of one provider configured, the other one knows
//! nothing of it), else the first plugin of its provider. Some identities
//! cannot be looked up once contained (Vault forgets a revoked token), so
//! what a plugin recorded while acting on the identity — evidence keys
//! `owner`, `workload`, `issuer`, `used-by` — fills what `inspect` could
//! not say. The inventory wins over both.

use crate::RunContext;
use cordon_authority::Inventory;
use cordon_input::Catalogue;
use cordon_plugin_host::CallError;
use cordon_store::{Batch, StoreError, StoreExt};
use cordon_types::{
    ActionRecord, FactsRecord, Identity, IdentityFacts, ProviderError, RequestRecord,
};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tokio::task::JoinSet;

pub(crate) async fn gather(
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
    // Each identity's actions, found once (not by scanning every action for
    // every identity).
    let mut by_source: HashMap<usize, Vec<&ActionRecord>> = HashMap::new();
    for action in &actions {
        for source in &action.sources {
            by_source.entry(*source).or_default().push(action);
        }
    }
    let mut tasks = JoinSet::new();
    for (index, identity) in ctx.signal.identities.iter().enumerate() {
        if known.contains(&index) {
            continue;
        }
        let own = by_source.get(&index).map(Vec::as_slice).unwrap_or_default();
        let (recorded, complete) = facts_from_evidence(own, identity);
        let plugin = inspecting_plugin(ctx.plugins.as_ref(), own, identity);
        let ctx = ctx.clone();
        let inventory = inventory.clone();
        let identity = identity.clone();
        tasks.spawn(async move {
            let mut requests = Vec::new();
            let (mut plugin_facts, error) = match &plugin {
                // The plugin said, while acting, all it knew: asking again
                // would only spend a request.
                _ if complete => (None, None),
                Some(name) => match inspect(&ctx, name, &identity, &mut requests).await {
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
            Ok::<_, StoreError>(FactsRecord {
                run_id: ctx.run.run_id.clone(),
                identity: index,
                target: identity,
                facts,
                sources,
                error,
                requests,
            })
        });
    }
    let mut batch = Batch::new();
    while let Some(done) = tasks.join_next().await {
        let facts =
            done.map_err(|err| StoreError::Io(format!("an inspection task failed: {err}")))??;
        batch = batch.facts(facts);
    }
    if batch.is_empty() {
        return Ok(());
    }
    ctx.store.commit(batch).await
}

/// The plugin to ask about a signal identity, given the actions made for
/// it (`own`): one that acted on the identity itself, else one that acted
/// for it, else the first loaded plugin of its provider.
fn inspecting_plugin(
    plugins: &dyn Catalogue,
    own: &[&ActionRecord],
    identity: &Identity,
) -> Option<String> {
    let speaks = |name: &str| {
        plugins
            .plugin(name)
            .is_some_and(|info| info.provider == identity.provider)
    };
    let own = own.iter().copied().filter(|a| speaks(&a.plugin));
    own.clone()
        .find(|a| is_target(a, identity))
        .or_else(|| own.clone().next())
        .map(|a| a.plugin.clone())
        .or_else(|| plugins.names().into_iter().find(|name| speaks(name)))
}

fn is_target(action: &ActionRecord, identity: &Identity) -> bool {
    action.target.provider == identity.provider
        && action.target.kind == identity.kind
        && action.target.id == identity.id
}

/// The evidence key and value by which a plugin says its evidence holds
/// everything `inspect` could tell about the target now (Vault forgets a
/// revoked token): the host then makes no inspect request for it.
pub(crate) const FACTS_COMPLETE: (&str, &str) = ("facts", "complete");

/// Facts a plugin recorded as evidence while acting on `identity` itself
/// (among `own`, the actions made for it), and whether it marked them
/// complete ([`FACTS_COMPLETE`]).
fn facts_from_evidence(
    own: &[&ActionRecord],
    identity: &Identity,
) -> (Option<IdentityFacts>, bool) {
    let mut facts = IdentityFacts::default();
    let mut complete = false;
    let own = own
        .iter()
        .filter(|a| a.status.is_success() && is_target(a, identity));
    for action in own {
        complete |=
            action.evidence.get(FACTS_COMPLETE.0).map(String::as_str) == Some(FACTS_COMPLETE.1);
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
    (
        (facts != IdentityFacts::default()).then_some(facts),
        complete,
    )
}

/// How many times one identity's inspection waits out a rate limit.
const MAX_RATE_LIMITED_WAITS: u32 = 5;

/// Inspects under the plugin's rate gate, like actions: a provider that
/// asked us to wait hears nothing from us until then. Every request made is
/// added to `requests`.
async fn inspect(
    ctx: &RunContext,
    plugin: &str,
    identity: &Identity,
    requests: &mut Vec<RequestRecord>,
) -> Result<IdentityFacts, CallError> {
    let mut waits = 0;
    loop {
        let mut slot = ctx.gates.slot(ctx.plugins.as_ref(), plugin).await;
        let report = slot.inspect(identity.clone()).await;
        requests.extend(report.requests);
        match report.result {
            Err(CallError::Provider(ProviderError::RateLimited { retry_after_ms, .. }))
                if waits < MAX_RATE_LIMITED_WAITS =>
            {
                waits += 1;
                // Closed while the slot is still held: the next inspection
                // waiting for it finds the gate closed.
                ctx.gates.rate_limited(plugin, retry_after_ms, waits);
                drop(slot);
            }
            result => return result,
        }
    }
}
