//! Building the `describe` answer.

use crate::{ActionSpec, Effect, IdentityKind, ParamSpec, PluginInfo, SettingSpec};

impl IdentityKind {
    /// Every identity kind of the contract, for actions that accept any.
    pub const ALL: [IdentityKind; 11] = [
        IdentityKind::User,
        IdentityKind::ServiceAccount,
        IdentityKind::Role,
        IdentityKind::AccessKey,
        IdentityKind::Token,
        IdentityKind::Certificate,
        IdentityKind::Session,
        IdentityKind::Workload,
        IdentityKind::Agent,
        IdentityKind::Secret,
        IdentityKind::Account,
    ];
}

/// Builds a [`PluginInfo`].
#[derive(Debug, Clone)]
pub struct PluginSpec {
    info: PluginInfo,
}

impl PluginSpec {
    /// A plugin for `provider`, at `version` (use `env!("CARGO_PKG_VERSION")`).
    pub fn new(provider: &str, version: &str) -> PluginSpec {
        PluginSpec {
            info: PluginInfo {
                provider: provider.into(),
                version: version.into(),
                actions: Vec::new(),
                secrets: Vec::new(),
                config: Vec::new(),
            },
        }
    }

    /// A secret the plugin reads; `required` ones must be granted in the config.
    pub fn secret(mut self, name: &str, required: bool, description: &str) -> PluginSpec {
        self.info.secrets.push(SettingSpec {
            name: name.into(),
            required,
            description: description.into(),
        });
        self
    }

    /// A config key the plugin reads.
    pub fn config(mut self, name: &str, required: bool, description: &str) -> PluginSpec {
        self.info.config.push(SettingSpec {
            name: name.into(),
            required,
            description: description.into(),
        });
        self
    }

    /// An action.
    pub fn action(mut self, action: Action) -> PluginSpec {
        self.info.actions.push(action.spec);
        self
    }

    /// The provider's name.
    pub fn provider(&self) -> &str {
        &self.info.provider
    }

    /// The finished description.
    pub fn build(self) -> PluginInfo {
        self.info
    }
}

/// Builds an [`ActionSpec`].
#[derive(Debug, Clone)]
pub struct Action {
    spec: ActionSpec,
}

impl Action {
    /// An action called `name` with `effect`, accepting `targets` (the first is
    /// the default kind for bare-id targets in playbooks).
    pub fn new(name: &str, effect: Effect, targets: &[IdentityKind], description: &str) -> Action {
        Action {
            spec: ActionSpec {
                name: name.into(),
                effect,
                targets: targets.to_vec(),
                reversible: false,
                restore_with: None,
                params: Vec::new(),
                description: description.into(),
            },
        }
    }

    /// The action's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The action can be undone by `restore_action`, fed with the outcome's restore data.
    pub fn restored_by(mut self, restore_action: &str) -> Action {
        self.spec.reversible = true;
        self.spec.restore_with = Some(restore_action.into());
        self
    }

    /// A parameter.
    pub fn param(mut self, name: &str, required: bool, description: &str) -> Action {
        self.spec.params.push(ParamSpec {
            name: name.into(),
            required,
            description: description.into(),
        });
        self
    }
}
