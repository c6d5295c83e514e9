//! The containment-authority model and its decision point: may this action
//! run, and on whose authority?
//!
//! Every action the engine runs is decided once, before anything executes:
//! [`DecisionPoint::prepare`] reads what the decision depends on (open
//! incidents, commander grants) and [`Prepared::record`] decides inside the
//! store transaction that reads the blast-radius ledger and records the
//! decision, so no two deciders can both pass a cap. A store error while
//! deciding is a [`DecisionError`]: the action is denied, never allowed.
//!
//! Without an authority model everything is allowed ([`AllowAll`]); with one
//! ([`Authority`]), the model decides: pre-assigned rights per team and
//! domain, incident response, incident commander grants, guardrails,
//! approvals ([`approvals`]) and owner-only restore. Commander grants are
//! given and revoked through [`grants`].

#![warn(missing_docs)]

pub mod approvals;
pub mod decide;
pub mod grants;
pub mod inventory;
pub mod model;
mod point;
#[cfg(test)]
mod table_tests;

pub use inventory::Inventory;
pub use model::{AuthorityModel, Directory, automation_principal};
pub use point::{Authority, WINDOW_MS};

use cordon_input::Signal;
use cordon_store::{Batch, Charge, LedgerCounts, LedgerKey, Store, StoreError};
pub use cordon_types::Decision;
use cordon_types::{Effect, Identity, Millis, Severity};

/// What the engine asks about one action.
#[derive(Debug, Clone)]
pub struct DecisionRequest<'a> {
    /// The run the action belongs to.
    pub run_id: &'a str,
    /// The principal the run acts as.
    pub principal: &'a str,
    /// The plugin's name in the config.
    pub plugin: &'a str,
    /// The plugin action.
    pub action: &'a str,
    /// What the action does.
    pub effect: Effect,
    /// What it acts on.
    pub target: &'a Identity,
    /// The run's incident, if any.
    pub incident: Option<&'a str>,
    /// The signal's severity.
    pub severity: Severity,
}

/// Why no decision could be made. The engine denies the action, with this
/// as its reason: nothing runs on a decision the authority could not make.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    /// What the decision depends on could not be read.
    #[error("the authority could not read what this decision depends on: {0}")]
    Store(#[from] StoreError),
}

/// A decision ready to be made inside the store transaction that records it.
pub struct Prepared {
    /// The ledger counts the decision depends on, if any.
    pub ledger: Option<LedgerKey>,
    /// The containment domain of the action, if the model has domains.
    pub domain: Option<String>,
    /// Whether an allowed decision counts against the blast-radius caps.
    pub charges: bool,
    rule: Box<dyn Fn(LedgerCounts) -> Decision + Send + Sync>,
}

impl Prepared {
    /// A decision that depends on no ledger.
    pub fn fixed(decision: Decision, domain: Option<String>) -> Prepared {
        Prepared {
            ledger: None,
            domain,
            charges: false,
            rule: Box::new(move |_| decision.clone()),
        }
    }

    /// A decision computed from the ledger's counts for `ledger`.
    pub fn with_ledger(
        ledger: LedgerKey,
        domain: Option<String>,
        charges: bool,
        rule: impl Fn(LedgerCounts) -> Decision + Send + Sync + 'static,
    ) -> Prepared {
        Prepared {
            ledger: Some(ledger),
            domain,
            charges,
            rule: Box::new(rule),
        }
    }

    /// Decides from `counts`.
    pub fn decide(&self, counts: LedgerCounts) -> Decision {
        (self.rule)(counts)
    }

    /// Decides and applies what `record` makes of the decision (plus the
    /// ledger charge of an allowed action) in one store transaction;
    /// durable with the store's next flush.
    pub fn record(
        &self,
        store: &dyn Store,
        at: Millis,
        record: &mut (dyn FnMut(&Decision) -> Batch + Send),
    ) -> Result<Decision, StoreError> {
        let mut decided = None;
        let mut build = |counts: LedgerCounts| {
            let decision = self.decide(counts);
            let mut batch = record(&decision);
            if let (true, true, Some(key), Some(domain)) = (
                decision.is_allowed(),
                self.charges,
                &self.ledger,
                &self.domain,
            ) {
                batch = batch.charge(Charge {
                    run_id: key.run_id.clone(),
                    domain: domain.clone(),
                    at,
                    forget_before: at - WINDOW_MS,
                });
            }
            decided = Some(decision);
            batch
        };
        match &self.ledger {
            Some(key) => store.apply_guarded(key, &mut build)?,
            None => store.apply(build(LedgerCounts::default()))?,
        }
        Ok(decided.expect("the store called the decision"))
    }
}

/// Decides whether actions may run.
pub trait DecisionPoint: Send + Sync {
    /// Reads what deciding one action depends on. Called once per action,
    /// before anything executes; an error denies the action.
    fn prepare(&self, request: &DecisionRequest<'_>) -> Result<Prepared, DecisionError>;

    /// The containment domain of an action on a target, if the model has domains.
    fn domain(&self, _plugin: &str, _action: &str, _target: &Identity) -> Option<String> {
        None
    }

    /// A run has received its signal: what to record with it (an incident
    /// may open). The batch is committed with the run record.
    fn signal_received(
        &self,
        _signal: &Signal,
        _run_id: &str,
        batch: Batch,
    ) -> Result<Batch, StoreError> {
        Ok(batch)
    }
}

/// The decision point used when no authority model is configured: allows
/// everything, and says so in every decision it records.
#[derive(Debug, Default, Clone, Copy)]
pub struct AllowAll;

impl DecisionPoint for AllowAll {
    fn prepare(&self, _request: &DecisionRequest<'_>) -> Result<Prepared, DecisionError> {
        Ok(Prepared::fixed(
            Decision::Allowed {
                rule: "no authority model configured: every action is allowed".into(),
            },
            None,
        ))
    }
}
