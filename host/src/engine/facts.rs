//! After containment: what the inventory and the plugins know about each
//! identity of the signal (owner, workload, issuer, who uses it), kept with
//! the run for reports. Runs after the actions so it never delays containment.

use super::RunContext;
use crate::inventory::Inventory;
use crate::playbook::Catalogue;
use crate::store::{FactsRecord, StoreError};
use std::collections::BTreeSet;
use std::sync::Arc;
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
    let mut tasks = JoinSet::new();
    for (index, identity) in ctx.signal.identities.iter().enumerate() {
        if known.contains(&index) {
            continue;
        }
        let plugin = ctx.plugins.names().into_iter().find(|name| {
            ctx.plugins
                .info(name)
                .is_some_and(|i| i.provider == identity.provider)
        });
        let ctx = ctx.clone();
        let inventory = inventory.clone();
        let identity = identity.clone();
        tasks.spawn(async move {
            let (plugin_facts, error) = match &plugin {
                Some(name) => match ctx.plugins.inspect(name, &identity).await.result {
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
