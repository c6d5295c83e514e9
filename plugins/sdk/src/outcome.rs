//! Building action outcomes and reading requests.

use crate::{ActionOutcome, ActionRequest, Identity, OutcomeStatus, ProviderError};

/// Builds an [`ActionOutcome`].
#[derive(Debug, Clone)]
pub struct Outcome {
    outcome: ActionOutcome,
}

impl Outcome {
    fn new(status: OutcomeStatus, detail: impl Into<String>) -> Outcome {
        Outcome {
            outcome: ActionOutcome {
                status,
                detail: detail.into(),
                restore: Vec::new(),
                evidence: Vec::new(),
            },
        }
    }

    /// The action changed the provider's state.
    pub fn applied(detail: impl Into<String>) -> Outcome {
        Outcome::new(OutcomeStatus::Applied, detail)
    }

    /// The provider was already in the wanted state.
    pub fn already_applied(detail: impl Into<String>) -> Outcome {
        Outcome::new(OutcomeStatus::AlreadyApplied, detail)
    }

    /// Dry run: what would have been done.
    pub fn planned(detail: impl Into<String>) -> Outcome {
        Outcome::new(OutcomeStatus::Planned, detail)
    }

    /// A parameter for the restore action.
    pub fn restore(mut self, key: impl Into<String>, value: impl Into<String>) -> Outcome {
        self.outcome.restore.push((key.into(), value.into()));
        self
    }

    /// A fact later steps and reports can use.
    pub fn evidence(mut self, key: impl Into<String>, value: impl Into<String>) -> Outcome {
        self.outcome.evidence.push((key.into(), value.into()));
        self
    }

    /// The finished outcome, as `execute` returns it.
    pub fn done(self) -> Result<ActionOutcome, ProviderError> {
        Ok(self.outcome)
    }
}

/// Convenience reads on requests and identities.
pub trait RequestExt {
    /// A parameter's value, if set and not empty.
    fn param(&self, name: &str) -> Option<&str>;
    /// A required parameter, or an `invalid` error naming it.
    fn require_param(&self, name: &str) -> Result<&str, ProviderError> {
        self.param(name)
            .ok_or_else(|| ProviderError::Invalid(format!("parameter `{name}` is required")))
    }
}

impl RequestExt for ActionRequest {
    fn param(&self, name: &str) -> Option<&str> {
        lookup(&self.params, name)
    }
}

impl Identity {
    /// An attribute's value, if set and not empty.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        lookup(&self.attributes, name)
    }
}

/// The value of `name` in a list of pairs, if present and not empty.
pub fn lookup<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}
