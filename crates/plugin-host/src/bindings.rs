//! Generated bindings for `wit/provider.wit` and conversions to the host's
//! own contract types ([`super::contract`]), and the contract version a
//! component was built against.

use cordon_types::{
    ActionOutcome, ActionRequest, ActionSpec, Effect, Identity, IdentityFacts, IdentityKind,
    OutcomeStatus, ParamSpec, PluginInfo, ProviderError, SettingSpec,
};

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../../wit",
    imports: { default: async },
    exports: { default: async },
});

use self::cordon::provider::types as wit;

fn pairs(map: &std::collections::BTreeMap<String, String>) -> Vec<(String, String)> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

impl From<IdentityKind> for wit::IdentityKind {
    fn from(kind: IdentityKind) -> Self {
        match kind {
            IdentityKind::User => wit::IdentityKind::User,
            IdentityKind::ServiceAccount => wit::IdentityKind::ServiceAccount,
            IdentityKind::Role => wit::IdentityKind::Role,
            IdentityKind::AccessKey => wit::IdentityKind::AccessKey,
            IdentityKind::Token => wit::IdentityKind::Token,
            IdentityKind::Certificate => wit::IdentityKind::Certificate,
            IdentityKind::Session => wit::IdentityKind::Session,
            IdentityKind::Workload => wit::IdentityKind::Workload,
            IdentityKind::Agent => wit::IdentityKind::Agent,
            IdentityKind::Secret => wit::IdentityKind::Secret,
            IdentityKind::Account => wit::IdentityKind::Account,
        }
    }
}

impl From<wit::IdentityKind> for IdentityKind {
    fn from(kind: wit::IdentityKind) -> Self {
        match kind {
            wit::IdentityKind::User => IdentityKind::User,
            wit::IdentityKind::ServiceAccount => IdentityKind::ServiceAccount,
            wit::IdentityKind::Role => IdentityKind::Role,
            wit::IdentityKind::AccessKey => IdentityKind::AccessKey,
            wit::IdentityKind::Token => IdentityKind::Token,
            wit::IdentityKind::Certificate => IdentityKind::Certificate,
            wit::IdentityKind::Session => IdentityKind::Session,
            wit::IdentityKind::Workload => IdentityKind::Workload,
            wit::IdentityKind::Agent => IdentityKind::Agent,
            wit::IdentityKind::Secret => IdentityKind::Secret,
            wit::IdentityKind::Account => IdentityKind::Account,
        }
    }
}

impl From<wit::Effect> for Effect {
    fn from(effect: wit::Effect) -> Self {
        match effect {
            wit::Effect::Revoke => Effect::Revoke,
            wit::Effect::Isolate => Effect::Isolate,
            wit::Effect::Quarantine => Effect::Quarantine,
            wit::Effect::Rotate => Effect::Rotate,
            wit::Effect::Restore => Effect::Restore,
            wit::Effect::Read => Effect::Read,
        }
    }
}

impl From<&Identity> for wit::Identity {
    fn from(identity: &Identity) -> Self {
        wit::Identity {
            provider: identity.provider.clone(),
            kind: identity.kind.into(),
            id: identity.id.clone(),
            attributes: pairs(&identity.attributes),
        }
    }
}

impl From<&ActionRequest> for wit::ActionRequest {
    fn from(request: &ActionRequest) -> Self {
        wit::ActionRequest {
            action: request.action.clone(),
            target: (&request.target).into(),
            params: pairs(&request.params),
            idempotency_key: request.idempotency_key.clone(),
            dry_run: request.dry_run,
        }
    }
}

impl From<wit::PluginInfo> for PluginInfo {
    fn from(info: wit::PluginInfo) -> Self {
        let settings = |kind: wit::SettingKind| {
            info.settings
                .iter()
                .filter(|s| s.kind == kind)
                .map(|s| SettingSpec {
                    name: s.name.clone(),
                    required: s.required,
                    description: s.description.clone(),
                })
                .collect()
        };
        let (secrets, config) = (
            settings(wit::SettingKind::Secret),
            settings(wit::SettingKind::Config),
        );
        PluginInfo {
            provider: info.provider,
            version: info.version,
            actions: info
                .actions
                .into_iter()
                .map(|a| ActionSpec {
                    name: a.name,
                    effect: a.effect.into(),
                    targets: a.targets.into_iter().map(Into::into).collect(),
                    restore_with: a.restore_with,
                    params: a
                        .params
                        .into_iter()
                        .map(|p| ParamSpec {
                            name: p.name,
                            required: p.required,
                            description: p.description,
                        })
                        .collect(),
                    description: a.description,
                })
                .collect(),
            secrets,
            config,
        }
    }
}

impl From<wit::ActionOutcome> for ActionOutcome {
    fn from(outcome: wit::ActionOutcome) -> Self {
        ActionOutcome {
            status: match outcome.status {
                wit::OutcomeStatus::Applied => OutcomeStatus::Applied,
                wit::OutcomeStatus::AlreadyApplied => OutcomeStatus::AlreadyApplied,
                wit::OutcomeStatus::Planned => OutcomeStatus::Planned,
            },
            detail: outcome.detail,
            restore: outcome.restore.into_iter().collect(),
            evidence: outcome.evidence.into_iter().collect(),
        }
    }
}

impl From<wit::IdentityFacts> for IdentityFacts {
    fn from(facts: wit::IdentityFacts) -> Self {
        IdentityFacts {
            owner: facts.owner,
            workload: facts.workload,
            issuer: facts.issuer,
            used_by: facts.used_by.map(|u| {
                match u {
                    wit::UsedBy::Human => "human",
                    wit::UsedBy::Agent => "agent",
                    wit::UsedBy::Both => "both",
                }
                .to_string()
            }),
            attributes: facts.attributes.into_iter().collect(),
        }
    }
}

impl From<wit::ProviderError> for ProviderError {
    fn from(error: wit::ProviderError) -> Self {
        match error {
            wit::ProviderError::NotFound(m) => ProviderError::NotFound(m),
            wit::ProviderError::Unauthorized(m) => ProviderError::Unauthorized(m),
            wit::ProviderError::RateLimited(r) => ProviderError::RateLimited {
                retry_after_ms: r.retry_after_ms,
                detail: r.detail,
            },
            wit::ProviderError::Transient(m) => ProviderError::Transient(m),
            wit::ProviderError::Invalid(m) => ProviderError::Invalid(m),
            wit::ProviderError::Unsupported(m) => ProviderError::Unsupported(m),
        }
    }
}

/// The contract this host speaks, as `major.minor` (the rule in
/// `wit/provider.wit`: a component of the same minor loads, whatever its
/// patch version; any other is refused by name).
pub const CONTRACT: &str = "0.2";

/// The `cordon:provider` versions a component's imports and exports name,
/// e.g. `["0.1.0"]` for a component built with SDK 0.1.
pub fn contract_versions(
    engine: &wasmtime::Engine,
    component: &wasmtime::component::Component,
) -> Vec<String> {
    let ty = component.component_type();
    let names = ty
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .chain(ty.exports(engine).map(|(name, _)| name.to_string()));
    let mut versions: Vec<String> = names
        .filter_map(|name| {
            let rest = name.strip_prefix("cordon:provider/")?;
            Some(
                rest.split_once('@')
                    .map_or("unversioned", |(_, v)| v)
                    .to_string(),
            )
        })
        .collect();
    versions.sort();
    versions.dedup();
    versions
}

/// Whether `version` (`0.2.1`) is of this host's contract minor.
pub fn speaks(version: &str) -> bool {
    version == CONTRACT
        || version
            .strip_prefix(CONTRACT)
            .is_some_and(|rest| rest.starts_with('.'))
}
