//! The host's view of the plugin contract (`wit/provider.wit`).
//!
//! These mirror the WIT types one to one; the plugin host converts between
//! them and the generated bindings so that the rest of the host never touches
//! generated code.

use crate::identity::{Effect, Identity, IdentityKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What a plugin says about itself (`describe`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// The provider this plugin talks to; matched against identities' `provider`.
    pub provider: String,
    /// The plugin's own version.
    pub version: String,
    /// The actions the plugin offers.
    pub actions: Vec<ActionSpec>,
    /// The secrets the plugin reads from the host.
    pub secrets: Vec<SettingSpec>,
    /// The configuration keys the plugin reads from the host.
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
    /// The action's name; part of the plugin's public contract.
    pub name: String,
    /// What the action does to its target; the authority model decides who may execute it.
    pub effect: Effect,
    /// Accepted target kinds; the first is the default for bare-id targets.
    pub targets: Vec<IdentityKind>,
    /// The action that undoes this one, fed with the outcome's `restore`
    /// data; none when it cannot be undone.
    pub restore_with: Option<String>,
    /// The parameters the action accepts.
    pub params: Vec<ParamSpec>,
    /// A human description of the action.
    pub description: String,
}

/// A parameter an action accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamSpec {
    /// The parameter's name, as set in a playbook step's `params`.
    pub name: String,
    /// Whether a step calling the action must set it.
    pub required: bool,
    /// A human description of the parameter.
    pub description: String,
}

/// A secret or config key a plugin reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingSpec {
    /// The secret's or configuration key's name.
    pub name: String,
    /// Whether the plugin needs it set to work.
    pub required: bool,
    /// A human description of the setting.
    pub description: String,
}

/// A request to run one action on one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRequest {
    /// The name of the action to run.
    pub action: String,
    /// The identity the action is applied to.
    pub target: Identity,
    /// The action's parameters, by name.
    pub params: BTreeMap<String, String>,
    /// Stable across retries and restarts of the same action; a plugin may
    /// pass it to providers that support idempotency keys.
    pub idempotency_key: String,
    /// Plan only: read what is needed, change nothing, answer `planned`.
    pub dry_run: bool,
}

/// What an applied (or planned) action reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutcomeStatus {
    /// The action changed the provider's state.
    Applied,
    /// The provider was already in the wanted state (e.g. a repeat).
    AlreadyApplied,
    /// Dry run: the action would have been applied.
    Planned,
}

/// A successful action's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionOutcome {
    /// Whether the action was applied, already applied or planned.
    pub status: OutcomeStatus,
    /// A one-line human description of what happened.
    pub detail: String,
    /// Parameters for the `restore_with` action.
    pub restore: BTreeMap<String, String>,
    /// Facts later steps may use (`steps.<id>.evidence.<key>`).
    pub evidence: BTreeMap<String, String>,
}

/// What a plugin knows about an identity (`inspect`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityFacts {
    /// Who owns the identity, when the provider can tell.
    pub owner: Option<String>,
    /// The workload that uses the identity, when the provider can tell.
    pub workload: Option<String>,
    /// Who or what issued the identity, when the provider can tell.
    pub issuer: Option<String>,
    /// `human`, `agent` or `both`, when the provider can tell.
    pub used_by: Option<String>,
    /// Other provider-specific facts about the identity.
    pub attributes: BTreeMap<String, String>,
}

/// An error a plugin reports for a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "detail")]
pub enum ProviderError {
    /// The target does not exist.
    NotFound(String),
    /// The plugin's credentials were refused.
    Unauthorized(String),
    /// The provider throttled the call; the host waits and retries.
    RateLimited {
        /// How long to wait before the next call, when the provider says.
        retry_after_ms: Option<u64>,
        /// The provider's explanation.
        detail: String,
    },
    /// A passing failure (5xx, timeout); the host retries with backoff.
    Transient(String),
    /// The request cannot succeed as given (bad parameter, wrong target kind).
    Invalid(String),
    /// The plugin does not offer this.
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
