//! Cordon's vocabulary, shared by every other crate: identities and the
//! effects actions have on them, the host's mirror of the plugin contract,
//! authority decisions, the records the store keeps and the typed audit
//! events. Nothing here performs I/O.
//!
//! The crate graph runs one way: `cordon-types` ← `cordon-input` ←
//! `cordon-store` ← `cordon-authority` ← `cordon-plugin-host` ←
//! `cordon-engine` ← `cordon`.

#![warn(missing_docs)]

pub mod audit;
pub mod contract;
pub mod decision;
pub mod identity;
pub mod records;
pub mod request;
pub mod severity;
pub mod time;

pub use audit::{ActionRef, AuditEntry, AuditEvent};
pub use contract::{
    ActionOutcome, ActionRequest, ActionSpec, IdentityFacts, OutcomeStatus, ParamSpec, PluginInfo,
    ProviderError, SettingSpec,
};
pub use decision::{Decision, UsedBy};
pub use identity::{Effect, Identity, IdentityKind};
pub use records::{
    ActionRecord, ActionStatus, Approval, FactsRecord, GrantRecord, IncidentRecord, RestoreItem,
    RunKind, RunRecord, RunStatus,
};
pub use request::RequestRecord;
pub use severity::Severity;
pub use time::{Millis, now_ms, rfc3339};
