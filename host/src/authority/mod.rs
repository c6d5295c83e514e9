//! The authority decision point: may this action run, and on whose authority?
//!
//! Every action the engine runs goes through [`DecisionPoint::decide`] once,
//! before anything executes; the decision and its reason are stored with the
//! action. Without an authority model everything is allowed ([`AllowAll`]);
//! with one ([`Authority`]), the containment-authority model decides:
//! pre-assigned rights per team and domain, incident response, incident
//! commander grants, guardrails, approvals and owner-only restore.

pub mod decide;
pub mod model;
mod point;
#[cfg(test)]
mod table_tests;

pub use model::{AuthorityModel, automation_principal};
pub use point::Authority;

use crate::identity::{Effect, Identity};
use crate::signal::{Severity, Signal};
use crate::store::StoreError;
use serde::{Deserialize, Serialize};

/// What the engine asks about one action.
#[derive(Debug, Clone)]
pub struct DecisionRequest<'a> {
    pub run_id: &'a str,
    /// The principal the run acts as.
    pub principal: &'a str,
    pub plugin: &'a str,
    pub action: &'a str,
    pub effect: Effect,
    pub target: &'a Identity,
    pub incident: Option<&'a str>,
    pub severity: Severity,
}

/// The answer, stored with the action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "decision")]
pub enum Decision {
    /// Run it now; `rule` names what allowed it.
    Allowed { rule: String },
    /// Wait for a member of one of the `approvers` teams.
    NeedsApproval {
        approvers: Vec<String>,
        reason: String,
    },
    /// Never run it.
    Denied { reason: String },
}

/// Decides whether actions may run.
pub trait DecisionPoint: Send + Sync {
    /// Decides one action. Called once per action, before anything executes.
    fn decide(&self, request: &DecisionRequest<'_>) -> Decision;

    /// The containment domain of an action on a target, if the model has domains.
    fn domain(&self, _plugin: &str, _action: &str, _target: &Identity) -> Option<String> {
        None
    }

    /// A run has received its signal: an incident may open.
    fn signal_received(&self, _signal: &Signal, _run_id: &str) -> Result<(), StoreError> {
        Ok(())
    }
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
