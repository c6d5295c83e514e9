//! The authority decision point: may this action run, and on whose authority?
//!
//! Every action the engine runs goes through [`DecisionPoint::decide`] once,
//! before anything executes; the decision and its reason are stored with the
//! action.

use crate::identity::{Effect, Identity};
use serde::{Deserialize, Serialize};

/// What the engine asks about one action.
#[derive(Debug, Clone)]
pub struct DecisionRequest<'a> {
    /// The principal the run acts as.
    pub principal: &'a str,
    /// The playbook's owning team.
    pub team: &'a str,
    pub plugin: &'a str,
    pub action: &'a str,
    pub effect: Effect,
    pub target: &'a Identity,
    pub incident: Option<&'a str>,
}

/// The answer, stored with the action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "decision")]
pub enum Decision {
    /// Run it now; `rule` names what allowed it.
    Allowed { rule: String },
    /// Wait for one of `approvers`.
    NeedsApproval {
        approvers: Vec<String>,
        reason: String,
    },
    /// Never run it.
    Denied { reason: String },
}

/// Decides whether actions may run.
pub trait DecisionPoint: Send + Sync {
    fn decide(&self, request: &DecisionRequest<'_>) -> Decision;
}

/// The decision point used when no authority model is configured: allows
/// everything, and says so in every decision it records.
#[derive(Debug, Default, Clone, Copy)]
pub struct AllowAll;

impl DecisionPoint for AllowAll {
    fn decide(&self, _request: &DecisionRequest<'_>) -> Decision {
        Decision::Allowed {
            rule: "no authority model configured: every action is allowed".into(),
        }
    }
}
