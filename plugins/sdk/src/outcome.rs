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

    /// The outcome's status so far.
    pub fn status(&self) -> OutcomeStatus {
        self.outcome.status
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

    /// Says the evidence holds everything `inspect` could tell about the
    /// target now (evidence `facts = complete`): after containment the host
    /// takes the identity's facts (`owner`, `workload`, `issuer`, `used-by`)
    /// from this evidence and sends no inspect request. Use it when
    /// inspecting the contained target would only fail or repeat what the
    /// action read (Vault forgets a revoked token).
    pub fn facts_complete(self) -> Outcome {
        self.evidence("facts", "complete")
    }

    /// The finished outcome, as `execute` returns it.
    pub fn done(self) -> Result<ActionOutcome, ProviderError> {
        Ok(self.outcome)
    }

    /// Makes this outcome's evidence and restore data durable in the host
    /// before a write the provider could not be asked about afterwards (a
    /// revoked token's entity, a deleted key's owner): if Cordon stops
    /// mid-call, the resumed run that finds the change already made still
    /// has them for later steps and for restore. Call it in `converge`'s
    /// `apply`, just before the write; an error means the write must not be
    /// made. Outside a run (dry runs, tests) it returns at once.
    pub fn checkpoint(&self) -> Result<(), ProviderError> {
        crate::bindings::cordon::provider::host::checkpoint(
            &self.outcome.evidence,
            &self.outcome.restore,
        )
        .map_err(|why| {
            ProviderError::Transient(format!(
                "the host could not keep this action's evidence before the write, so it was not made: {why}"
            ))
        })
    }
}

/// Convenience reads on requests and identities.
pub trait RequestExt {
    /// A parameter's value, if set and not empty.
    fn param(&self, name: &str) -> Option<&str>;
    /// The parameter `name` if set, else the target's id: restore actions
    /// take the id the containment action recorded (`restore` data) and fall
    /// back to their own target.
    fn param_or_target(&self, name: &str) -> &str;
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

    fn param_or_target(&self, name: &str) -> &str {
        self.param(name).unwrap_or(&self.target.id)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IdentityKind;

    #[test]
    fn params_fall_back_to_the_target() {
        let request = ActionRequest {
            action: "enable-user".into(),
            target: Identity {
                provider: "cyberark".into(),
                kind: IdentityKind::User,
                id: "alice".into(),
                attributes: vec![("user_id".into(), "".into())],
            },
            params: vec![("user_id".into(), "7".into()), ("empty".into(), "".into())],
            idempotency_key: "k".into(),
            dry_run: false,
        };
        assert_eq!(request.param_or_target("user_id"), "7");
        assert_eq!(request.param_or_target("empty"), "alice");
        assert_eq!(request.target.attribute("user_id"), None);
        assert!(matches!(
            request.require_param("missing"),
            Err(ProviderError::Invalid(m)) if m.contains("`missing`")
        ));
    }
}
