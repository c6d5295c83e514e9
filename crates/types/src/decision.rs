//! Authority decisions, as the store keeps them with each action.

use serde::{Deserialize, Serialize};

/// The answer of the authority decision point about one action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "decision")]
pub enum Decision {
    /// Run it now; `rule` names what allowed it.
    Allowed {
        /// The rule that allowed it, in words.
        rule: String,
    },
    /// Wait for a member of one of the `approvers` teams.
    NeedsApproval {
        /// Teams whose members may answer.
        approvers: Vec<String>,
        /// Why the action cannot run at once.
        reason: String,
    },
    /// Never run it.
    Denied {
        /// Why not.
        reason: String,
    },
}

impl Decision {
    /// Whether the action may run at once.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }
}

/// Who uses an identity, according to the inventory or a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UsedBy {
    /// People only.
    Human,
    /// Machines and agents only.
    Agent,
    /// Both: containing it hurts people too.
    Both,
}

impl UsedBy {
    /// `human`, `agent` or `both`.
    pub fn parse(text: &str) -> Option<UsedBy> {
        match text {
            "human" => Some(UsedBy::Human),
            "agent" => Some(UsedBy::Agent),
            "both" => Some(UsedBy::Both),
            _ => None,
        }
    }

    /// The name used in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            UsedBy::Human => "human",
            UsedBy::Agent => "agent",
            UsedBy::Both => "both",
        }
    }
}
