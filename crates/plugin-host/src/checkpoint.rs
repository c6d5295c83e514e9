//! The host's `checkpoint(evidence, restore)`: a plugin hands over what it
//! read before a write the provider cannot be asked about afterwards, and
//! the caller of the call (the engine) makes it durable before the plugin
//! goes on. The plugin host only scrubs, bounds and forwards it.

use crate::caps::{MAX_RETURNED_BYTES, MAX_RETURNED_ENTRIES};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

/// How many checkpoints one call may make (each costs a durable commit).
pub const MAX_CHECKPOINTS_PER_CALL: u32 = 8;

/// Evidence and restore data a plugin asked to keep, secrets scrubbed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kept {
    /// Facts later steps and reports use.
    pub evidence: BTreeMap<String, String>,
    /// Parameters for the restore action.
    pub restore: BTreeMap<String, String>,
}

/// Where a call's checkpoints go. The engine implements it by committing
/// the data with the action's record; `keep` returns once it is durable.
pub trait Checkpoint: Send + Sync {
    /// Makes `kept` durable, or says why it could not.
    fn keep(&self, kept: Kept) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>>;
}

/// Why a checkpoint was refused before it reached the [`Checkpoint`].
pub(crate) fn refusal(kept: &Kept, made: u32) -> Option<String> {
    if made >= MAX_CHECKPOINTS_PER_CALL {
        return Some(format!(
            "a call may make at most {MAX_CHECKPOINTS_PER_CALL} checkpoints"
        ));
    }
    let size =
        |m: &BTreeMap<String, String>| -> usize { m.iter().map(|(k, v)| k.len() + v.len()).sum() };
    let entries = kept.evidence.len() + kept.restore.len();
    let bytes = size(&kept.evidence) + size(&kept.restore);
    (entries > MAX_RETURNED_ENTRIES || bytes > MAX_RETURNED_BYTES).then(|| {
        format!(
            "a checkpoint of {bytes} bytes in {entries} entries is past the cap of \
             {MAX_RETURNED_BYTES} bytes and {MAX_RETURNED_ENTRIES} entries"
        )
    })
}
