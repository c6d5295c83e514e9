//! What one commit writes.

use crate::lease::{Fence, NewLease, OpenSignal};
use cordon_types::{
    ActionRecord, AuditEntry, FactsRecord, GrantRecord, IncidentRecord, Millis, RunRecord,
};

/// Audit events, record upserts and blast-radius charges that are written
/// together or not at all. Audit events are appended in order, before the
/// batch's records become visible to readers.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Audit events to append, in order.
    pub audit: Vec<AuditEntry>,
    /// Runs to write (by `run_id`).
    pub runs: Vec<RunRecord>,
    /// Actions to write (by run and key).
    pub actions: Vec<ActionRecord>,
    /// Commander grants to write (by id).
    pub grants: Vec<GrantRecord>,
    /// Incidents to write (by id).
    pub incidents: Vec<IncidentRecord>,
    /// Facts to write (by run and identity index).
    pub facts: Vec<FactsRecord>,
    /// Allowed actions to count against the blast-radius caps.
    pub charges: Vec<Charge>,
    /// The run lease the batch is written under: a shared store refuses
    /// it, whole, once the lease is not this one any more (see
    /// [`crate::Leases`]). Single-process backends ignore it.
    pub fence: Option<Fence>,
    /// The lease the batch's new run starts with (shared stores only).
    pub new_lease: Option<NewLease>,
    /// The signal the batch's new run answers, unique among unfinished
    /// runs (shared stores only; one process keeps it unique itself).
    pub opens: Option<OpenSignal>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Appends an audit event.
    pub fn audit(mut self, entry: AuditEntry) -> Batch {
        self.audit.push(entry);
        self
    }

    /// Writes a run.
    pub fn run(mut self, run: &RunRecord) -> Batch {
        self.runs.push(run.clone());
        self
    }

    /// Writes an action.
    pub fn action(mut self, action: &ActionRecord) -> Batch {
        self.actions.push(action.clone());
        self
    }

    /// Writes a grant.
    pub fn grant(mut self, grant: &GrantRecord) -> Batch {
        self.grants.push(grant.clone());
        self
    }

    /// Writes an incident.
    pub fn incident(mut self, incident: &IncidentRecord) -> Batch {
        self.incidents.push(incident.clone());
        self
    }

    /// Writes facts.
    pub fn facts(mut self, facts: FactsRecord) -> Batch {
        self.facts.push(facts);
        self
    }

    /// Counts an allowed action against the caps.
    pub fn charge(mut self, charge: Charge) -> Batch {
        self.charges.push(charge);
        self
    }

    /// Writes the batch under `fence`.
    pub fn fenced(mut self, fence: Option<Fence>) -> Batch {
        self.fence = fence;
        self
    }

    /// Whether the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.audit.is_empty()
            && self.runs.is_empty()
            && self.actions.is_empty()
            && self.grants.is_empty()
            && self.incidents.is_empty()
            && self.facts.is_empty()
            && self.charges.is_empty()
    }
}

/// Which ledger counts a decision needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerKey {
    /// The run whose allowed actions are counted.
    pub run_id: String,
    /// The domain whose recent allowed actions are counted.
    pub domain: String,
    /// Count the domain's actions allowed at or after this instant.
    pub since: Millis,
}

/// What the ledger holds for a [`LedgerKey`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedgerCounts {
    /// Actions this run has been allowed to execute.
    pub run_allowed: usize,
    /// Actions allowed in the domain since `since`, across runs.
    pub domain_since: usize,
}

/// One allowed action, counted against the caps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// The run it belongs to.
    pub run_id: String,
    /// Its domain.
    pub domain: String,
    /// When it was allowed.
    pub at: Millis,
    /// Entries of the domain older than this may be forgotten.
    pub forget_before: Millis,
}
