//! Building the `describe` answer.

use crate::{
    ActionSpec, Effect, IdentityKind, ParamSpec, PluginInfo, SettingKind, SettingSpec, UsedBy,
};

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

impl UsedBy {
    /// `human`, `agent` or `both` (any case), as providers write it in tags
    /// and profile fields; anything else says nothing.
    pub fn parse(text: &str) -> Option<UsedBy> {
        match text.trim().to_ascii_lowercase().as_str() {
            "human" => Some(UsedBy::Human),
            "agent" => Some(UsedBy::Agent),
            "both" => Some(UsedBy::Both),
            _ => None,
        }
    }

    /// `human`, `agent` or `both`: the form [`UsedBy::parse`] reads and the
    /// host reads from evidence key `used-by`.
    pub fn as_str(self) -> &'static str {
        match self {
            UsedBy::Human => "human",
            UsedBy::Agent => "agent",
            UsedBy::Both => "both",
        }
    }
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
                settings: Vec::new(),
            },
        }
    }

    /// A secret the plugin reads; `required` ones must be granted in the config.
    pub fn secret(mut self, name: &str, required: bool, description: &str) -> PluginSpec {
        self.info.settings.push(SettingSpec {
            name: name.into(),
            kind: SettingKind::Secret,
            required,
            description: description.into(),
        });
        self
    }

    /// A config key the plugin reads.
    pub fn config(mut self, name: &str, required: bool, description: &str) -> PluginSpec {
        self.info.settings.push(SettingSpec {
            name: name.into(),
            kind: SettingKind::Config,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_one_list_that_says_each_kind() {
        let info = PluginSpec::new("acme", "1")
            .secret("api_token", true, "the token")
            .config("api_url", false, "the URL")
            .build();
        let kinds: Vec<_> = info
            .settings
            .iter()
            .map(|s| (s.name.as_str(), s.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("api_token", SettingKind::Secret),
                ("api_url", SettingKind::Config)
            ]
        );
    }

    #[test]
    fn used_by_reads_what_providers_write() {
        assert_eq!(UsedBy::parse(" Agent "), Some(UsedBy::Agent));
        assert_eq!(UsedBy::parse("both"), Some(UsedBy::Both));
        assert_eq!(UsedBy::parse("HUMAN"), Some(UsedBy::Human));
        assert_eq!(UsedBy::parse("robots"), None);
    }

    #[test]
    fn an_action_is_reversible_when_it_names_its_restore() {
        let lock = Action::new("lock", Effect::Quarantine, &[IdentityKind::User], "lock");
        assert_eq!(lock.spec.restore_with, None);
        assert_eq!(
            lock.restored_by("unlock").spec.restore_with.as_deref(),
            Some("unlock")
        );
    }
}
