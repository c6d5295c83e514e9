//! Generated bindings for `wit/provider.wit` and conversions to the host's
//! own contract types ([`super::contract`]).

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
        let setting = |s: wit::SettingSpec| SettingSpec {
            name: s.name,
            required: s.required,
            description: s.description,
        };
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
                    reversible: a.reversible,
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
            secrets: info.secrets.into_iter().map(setting).collect(),
            config: info.config.into_iter().map(setting).collect(),
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
            used_by: facts.used_by,
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
