//! The host's view of the plugin contract (`wit/provider.wit`).
//!
//! These mirror the WIT types one to one; `plugin::bindings` converts between
//! them and the generated bindings so that the rest of the host never touches
//! generated code.

use crate::identity::{Effect, Identity, IdentityKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What a plugin says about itself (`describe`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    pub provider: String,
    pub version: String,
    pub actions: Vec<ActionSpec>,
    pub secrets: Vec<SettingSpec>,
    pub config: Vec<SettingSpec>,
}

impl PluginInfo {
    /// The action called `name`.
    pub fn action(&self, name: &str) -> Option<&ActionSpec> {
        self.actions.iter().find(|a| a.name == name)
    }
}

/// One action a plugin offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionSpec {
    pub name: String,
    pub effect: Effect,
    /// Accepted target kinds; the first is the default for bare-id targets.
    pub targets: Vec<IdentityKind>,
    pub reversible: bool,
    pub restore_with: Option<String>,
    pub params: Vec<ParamSpec>,
    pub description: String,
}

/// A parameter an action accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamSpec {
    pub name: String,
    pub required: bool,
    pub description: String,
}

/// A secret or config key a plugin reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingSpec {
    pub name: String,
    pub required: bool,
    pub description: String,
}

/// A request to run one action on one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRequest {
    pub action: String,
    pub target: Identity,
    pub params: BTreeMap<String, String>,
    pub idempotency_key: String,
    pub dry_run: bool,
}

/// What an applied (or planned) action reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutcomeStatus {
    Applied,
    AlreadyApplied,
    Planned,
}

/// A successful action's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionOutcome {
    pub status: OutcomeStatus,
    pub detail: String,
    /// Parameters for the `restore_with` action.
    pub restore: BTreeMap<String, String>,
    /// Facts later steps may use (`steps.<id>.evidence.<key>`).
    pub evidence: BTreeMap<String, String>,
}

/// What a plugin knows about an identity (`inspect`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityFacts {
    pub owner: Option<String>,
    pub workload: Option<String>,
    pub issuer: Option<String>,
    pub used_by: Option<String>,
    pub attributes: BTreeMap<String, String>,
}

/// An error a plugin reports for a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "detail")]
pub enum ProviderError {
    NotFound(String),
    Unauthorized(String),
    RateLimited {
        retry_after_ms: Option<u64>,
        detail: String,
    },
    Transient(String),
    Invalid(String),
    Unsupported(String),
}

impl ProviderError {
    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProviderError::RateLimited { .. } | ProviderError::Transient(_)
        )
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProviderError::NotFound(m) => write!(f, "not found: {m}"),
            ProviderError::Unauthorized(m) => write!(f, "unauthorized: {m}"),
            ProviderError::RateLimited {
                retry_after_ms,
                detail,
            } => match retry_after_ms {
                Some(ms) => write!(f, "rate limited (retry after {ms} ms): {detail}"),
                None => write!(f, "rate limited: {detail}"),
            },
            ProviderError::Transient(m) => write!(f, "transient error: {m}"),
            ProviderError::Invalid(m) => write!(f, "invalid request: {m}"),
            ProviderError::Unsupported(m) => write!(f, "unsupported: {m}"),
        }
    }
}
