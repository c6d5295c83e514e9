//! Read, then plan, then apply: the shape of every containment action, with
//! the dry-run and `already-applied` rules kept by construction.
//!
//! An action reads the provider's state first and says what it found as a
//! [`Plan`]: already in the wanted state, or a change that would get there.
//! [`converge`] then answers `already-applied` or, in a dry run, `planned`
//! without calling `apply`; only a real run with a change to make calls it.
//! The plugin adds evidence and restore data to whatever comes back, so a
//! repeat and a dry run carry the same facts as the first run.
//!
//! ```ignore
//! let user = okta.user(&request.target.id)?;
//! let plan = if user.status == "SUSPENDED" {
//!     Plan::done(format!("user {} is already SUSPENDED", user.login))
//! } else {
//!     Plan::change(format!("suspend user {} (now {})", user.login, user.status))
//! };
//! converge(request, plan, || {
//!     okta.suspend(&user.id)?;
//!     Ok(Outcome::applied(format!("suspended user {}", user.login)))
//! })?
//! .evidence("user_id", &user.id)
//! .restore("user_id", &user.id)
//! .done()
//! ```

use crate::outcome::Outcome;
use crate::{ActionRequest, OutcomeStatus, ProviderError};

/// What reading the provider showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The provider is already in the wanted state; the detail says so.
    Done(String),
    /// A change would get there; the text completes "would …".
    Change(String),
}

impl Plan {
    /// Already in the wanted state.
    pub fn done(detail: impl Into<String>) -> Plan {
        Plan::Done(detail.into())
    }

    /// A change to make, described as "would `change`" in a dry run.
    pub fn change(change: impl Into<String>) -> Plan {
        Plan::Change(change.into())
    }
}

/// `already-applied` for [`Plan::Done`]; `planned` for a change in a dry
/// run; otherwise the outcome of `apply`, which makes the change. `apply` may
/// itself answer `already-applied` (someone was faster between the read and
/// the write) but never `planned`.
pub fn converge(
    request: &ActionRequest,
    plan: Plan,
    apply: impl FnOnce() -> Result<Outcome, ProviderError>,
) -> Result<Outcome, ProviderError> {
    match plan {
        Plan::Done(detail) => Ok(Outcome::already_applied(detail)),
        Plan::Change(change) if request.dry_run => Ok(Outcome::planned(format!("would {change}"))),
        Plan::Change(_) => {
            let outcome = apply()?;
            if outcome.status() == OutcomeStatus::Planned {
                return Err(ProviderError::Invalid(
                    "plugin bug: a real run's apply step answered `planned`".into(),
                ));
            }
            Ok(outcome)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Identity, IdentityKind};
    use std::cell::Cell;

    fn request(dry_run: bool) -> ActionRequest {
        ActionRequest {
            action: "suspend-user".into(),
            target: Identity {
                provider: "okta".into(),
                kind: IdentityKind::User,
                id: "u1".into(),
                attributes: Vec::new(),
            },
            params: Vec::new(),
            idempotency_key: "k".into(),
            dry_run,
        }
    }

    fn status(outcome: &Result<Outcome, ProviderError>) -> OutcomeStatus {
        outcome.as_ref().unwrap().status()
    }

    #[test]
    fn a_dry_run_and_a_repeat_never_apply() {
        let applied = Cell::new(0);
        let apply = || {
            applied.set(applied.get() + 1);
            Ok(Outcome::applied("suspended u1"))
        };
        let planned = converge(&request(true), Plan::change("suspend u1"), apply);
        assert_eq!(status(&planned), OutcomeStatus::Planned);
        assert_eq!(planned.unwrap().done().unwrap().detail, "would suspend u1");
        let repeat = converge(
            &request(false),
            Plan::done("u1 is already SUSPENDED"),
            apply,
        );
        assert_eq!(status(&repeat), OutcomeStatus::AlreadyApplied);
        let repeat_dry = converge(&request(true), Plan::done("u1 is already SUSPENDED"), apply);
        assert_eq!(status(&repeat_dry), OutcomeStatus::AlreadyApplied);
        assert_eq!(applied.get(), 0);
        let real = converge(&request(false), Plan::change("suspend u1"), apply);
        assert_eq!(status(&real), OutcomeStatus::Applied);
        assert_eq!(applied.get(), 1);
    }

    #[test]
    fn apply_may_find_it_done_but_may_not_plan() {
        let raced = converge(&request(false), Plan::change("x"), || {
            Ok(Outcome::already_applied("someone was faster"))
        });
        assert_eq!(status(&raced), OutcomeStatus::AlreadyApplied);
        let bug = converge(&request(false), Plan::change("x"), || {
            Ok(Outcome::planned("oops"))
        });
        assert!(matches!(bug, Err(ProviderError::Invalid(m)) if m.contains("plugin bug")));
        let failed = converge(&request(false), Plan::change("x"), || {
            Err(ProviderError::Transient("503".into()))
        });
        assert!(matches!(failed, Err(ProviderError::Transient(_))));
    }
}
