//! Leases: which replica executes a run, when several share one store.
//!
//! A store that several processes share (PostgreSQL with `replicas = true`)
//! offers [`Leases`]; the embedded backends do not, since one process holds
//! them. A replica executes a run only while it holds the run's lease, and
//! every commit the run makes carries the lease's [`Fence`]: the store
//! checks, in the commit's own transaction, that the lease still carries
//! that token and has not expired. A replica paused past its lease (or cut
//! off from the database) therefore records nothing once another replica
//! has taken the run over — and records nothing means calls nothing, since
//! an action's intent is committed before its provider call.

use crate::StoreError;
use std::time::Duration;

/// A replica's claim on a run, until it expires or is released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The run.
    pub run_id: String,
    /// The replica holding it.
    pub holder: String,
    /// The fencing token: larger for every new claim of any run.
    pub token: i64,
}

impl Lease {
    /// What every commit made under this lease carries.
    pub fn fence(&self) -> Fence {
        Fence {
            run_id: self.run_id.clone(),
            token: self.token,
        }
    }
}

/// The lease a commit is made under; the commit fails with
/// [`StoreError::Fenced`] when the lease is no longer this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The run.
    pub run_id: String,
    /// The token its lease must still carry.
    pub token: i64,
}

/// A lease a new run starts with: the run is executing on its creator from
/// the moment it is recorded, so no other replica takes it over unless the
/// creator stops renewing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLease {
    /// The replica that records the run.
    pub holder: String,
    /// How long the lease lasts without renewal.
    pub ttl: Duration,
}

/// (playbook, signal id) of a new real run: a shared store refuses a second
/// run for the same pair with [`StoreError::AlreadyOpen`] while the first is
/// unfinished or finished less than `window` ago, so a signal delivered to
/// two replicas at once, or delivered again within the window, starts one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSignal {
    /// The playbook.
    pub playbook: String,
    /// The signal's id.
    pub signal_id: String,
    /// How long after its run finished the signal still answers with that
    /// run (the deduplication window; zero: only while it is unfinished).
    pub window: Duration,
}

/// What a replica hears from the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Someone asked for `run_id` to execute (an approval arrived on a
    /// replica that does not hold it).
    Wake(String),
    /// The audit log's head reached this seq (a commit on any replica).
    Committed(u64),
    /// The connection that listens was lost and is back: notices may have
    /// been missed, so look again.
    Reconnected,
}

/// Run leases of a shared store. Times are the store's clock, so the
/// replicas' own clocks do not matter.
pub trait Leases: Send + Sync {
    /// Claims `run_id` for `holder` for `ttl`: granted when nobody holds
    /// it, when its lease expired, or when `holder` holds it already (a new
    /// token then). `None` while another replica holds it.
    fn claim(&self, run_id: &str, holder: &str, ttl: Duration)
    -> Result<Option<Lease>, StoreError>;

    /// Extends `lease` by `ttl` from now; `false` when it was taken over.
    fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError>;

    /// Gives `lease` back. A run that is `resumable` (it stopped mid-way)
    /// stays leased but expired, so another replica takes it over at its
    /// next look; a run that finished or waits for people is dropped.
    fn release(&self, lease: &Lease, resumable: bool) -> Result<(), StoreError>;

    /// Takes over up to `limit` runs whose leases expired, for `holder`,
    /// skipping those another replica is taking over right now.
    fn take_expired(
        &self,
        holder: &str,
        ttl: Duration,
        limit: usize,
    ) -> Result<Vec<Lease>, StoreError>;

    /// Whether this process leads the replicas, taking the lead if nobody
    /// holds it: the leader does what must happen once (notifications). It
    /// leads until it exits or loses its connection to the store.
    fn lead(&self) -> Result<bool, StoreError>;

    /// Tells every replica listening that `run_id` should execute.
    fn wake(&self, run_id: &str) -> Result<(), StoreError>;

    /// Calls `on` with every [`Notice`], from a thread of its own, until the
    /// store is dropped.
    fn listen(&self, on: Box<dyn Fn(Notice) + Send>) -> Result<(), StoreError>;
}
