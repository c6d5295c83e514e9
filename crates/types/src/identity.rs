//! Identities and the effects actions have on them.
//!
//! These are the host's own types; the plugin host converts them to and
//! from the WIT contract's types at the plugin boundary.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What sort of identity an [`Identity`] names (mirrors the WIT `identity-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityKind {
    /// A person's account.
    User,
    /// A non-human account.
    ServiceAccount,
    /// An assumable role.
    Role,
    /// A long-lived access key.
    AccessKey,
    /// A bearer or API token.
    Token,
    /// A certificate.
    Certificate,
    /// A login session.
    Session,
    /// A workload identity.
    Workload,
    /// An AI agent.
    Agent,
    /// A stored secret.
    Secret,
    /// A vaulted privileged account.
    Account,
}

impl IdentityKind {
    /// Every kind, in declaration order.
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

    /// The kebab-case name used in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::User => "user",
            IdentityKind::ServiceAccount => "service-account",
            IdentityKind::Role => "role",
            IdentityKind::AccessKey => "access-key",
            IdentityKind::Token => "token",
            IdentityKind::Certificate => "certificate",
            IdentityKind::Session => "session",
            IdentityKind::Workload => "workload",
            IdentityKind::Agent => "agent",
            IdentityKind::Secret => "secret",
            IdentityKind::Account => "account",
        }
    }

    /// Parses a kebab-case name.
    pub fn parse(name: &str) -> Option<IdentityKind> {
        IdentityKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for IdentityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an action does (mirrors the WIT `effect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// Takes a credential away for good.
    Revoke,
    /// Cuts an identity off (sessions, network) without deleting it.
    Isolate,
    /// Disables an identity until its owners restore it.
    Quarantine,
    /// Replaces a credential's value.
    Rotate,
    /// Undoes an earlier containment action.
    Restore,
    /// Changes nothing.
    Read,
}

impl Effect {
    /// The kebab-case name used in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Revoke => "revoke",
            Effect::Isolate => "isolate",
            Effect::Quarantine => "quarantine",
            Effect::Rotate => "rotate",
            Effect::Restore => "restore",
            Effect::Read => "read",
        }
    }

    /// Whether the effect changes anything at the provider.
    pub fn changes_state(self) -> bool {
        self != Effect::Read
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An identity named by a signal or computed by a playbook step.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Identity {
    /// The provider that issued it (`aws`, `okta`, …).
    pub provider: String,
    /// What sort of identity it is.
    pub kind: IdentityKind,
    /// The provider's identifier.
    pub id: String,
    /// Extra facts, e.g. `user = "ci-bot"` on an access key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

impl Identity {
    /// `provider:kind:id`, the form used in logs and human output.
    pub fn label(&self) -> String {
        format!("{}:{}:{}", self.provider, self.kind, self.id)
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.provider, self.kind, self.id)
    }
}
