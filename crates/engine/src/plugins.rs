//! What the engine needs of plugins, as traits: a catalogue of what each
//! offers, and slots under each plugin's concurrency limit in which one call
//! runs. [`PluginHost`] implements them for real components; tests
//! implement them with fakes.

use cordon_input::Catalogue;
use cordon_plugin_host::{CallReport, Checkpoint, PluginHost};
use cordon_types::{ActionOutcome, ActionRequest, Identity, IdentityFacts};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Loaded plugins the engine can call.
pub trait Plugins: Catalogue + Send + Sync {
    /// Waits for a free slot under the plugin's concurrency limit. The
    /// engine reserves before it records an intent, so the intent is written
    /// only when the call is about to happen.
    fn reserve<'a>(&'a self, plugin: &'a str) -> BoxFuture<'a, Box<dyn PluginSlot<'a> + 'a>>;
}

/// One reserved place under a plugin's concurrency limit, held until it is
/// dropped. The engine makes one call in a slot and drops it only after it
/// has acted on the answer: a 429 closes the plugin's rate gate before the
/// next waiting call can take the slot and send.
pub trait PluginSlot<'a>: Send {
    /// Runs an action; what the plugin checkpoints before a write goes to
    /// `checkpoint` (none in a dry run).
    fn execute<'s>(
        &'s mut self,
        request: ActionRequest,
        checkpoint: Option<Arc<dyn Checkpoint>>,
    ) -> BoxFuture<'s, CallReport<ActionOutcome>>
    where
        'a: 's;

    /// Asks what the plugin knows about an identity.
    fn inspect<'s>(&'s mut self, identity: Identity) -> BoxFuture<'s, CallReport<IdentityFacts>>
    where
        'a: 's;
}

impl Plugins for PluginHost {
    fn reserve<'a>(&'a self, plugin: &'a str) -> BoxFuture<'a, Box<dyn PluginSlot<'a> + 'a>> {
        Box::pin(async move {
            let slot: Box<dyn PluginSlot<'a> + 'a> =
                Box::new(PluginHost::reserve(self, plugin).await);
            slot
        })
    }
}

impl<'a> PluginSlot<'a> for cordon_plugin_host::Slot<'a> {
    fn execute<'s>(
        &'s mut self,
        request: ActionRequest,
        checkpoint: Option<Arc<dyn Checkpoint>>,
    ) -> BoxFuture<'s, CallReport<ActionOutcome>>
    where
        'a: 's,
    {
        Box::pin(async move { self.execute_with(&request, checkpoint).await })
    }

    fn inspect<'s>(&'s mut self, identity: Identity) -> BoxFuture<'s, CallReport<IdentityFacts>>
    where
        'a: 's,
    {
        Box::pin(async move { cordon_plugin_host::Slot::inspect(self, &identity).await })
    }
}
