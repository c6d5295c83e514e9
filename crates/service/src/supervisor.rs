//! The runs the service owns: each executes in its own task; a run asked to
//! continue while it executes (an approval arrived) executes again when it
//! returns; on shutdown nothing new starts, actions in flight finish up to a
//! deadline, and what is left is recorded as interrupted.
//!
//! When replicas share the store ([`Leasing`]), a run executes only under
//! its lease: claimed before it executes, renewed while it does, given back
//! when it returns; every write carries the lease's fence, so a replica that
//! lost a lease (it stalled past it) drops the run at its next commit.

use cordon_engine::{Engine, EngineError};
use cordon_store::{Lease, Leases, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long a run the store failed under waits before it continues; the
/// wait doubles up to [`LAST_STORE_RETRY`] while the store stays away.
const FIRST_STORE_RETRY: Duration = Duration::from_millis(250);
/// The longest wait between tries of a run the store fails under.
const LAST_STORE_RETRY: Duration = Duration::from_secs(10);

/// Executes runs in the background.
pub struct Supervisor {
    engine: Arc<Engine>,
    /// Runs executing now.
    active: Mutex<HashMap<String, Active>>,
    tasks: Mutex<JoinSet<()>>,
    /// Bumped each time a run's task returns.
    settled: watch::Sender<u64>,
    leasing: Option<Leasing>,
}

/// A run executing now.
#[derive(Default)]
struct Active {
    /// It must execute again when it returns (an answer arrived meanwhile).
    again: bool,
    /// The lease it executes under.
    lease: Option<Lease>,
    /// A newer lease on it this replica took over while it executed.
    newer: Option<Lease>,
}

/// How runs are leased when replicas share the store.
pub struct Leasing {
    /// The store's leases.
    pub leases: Arc<dyn Leases>,
    /// This replica's name, unique to this process's life.
    pub holder: String,
    /// How long a lease lasts without renewal.
    pub ttl: Duration,
    /// Counted each time this replica lost a run's lease.
    pub on_lost: Box<dyn Fn() + Send + Sync>,
    /// The leases held now, by run: renewed by a thread of their own.
    pub held: Arc<Mutex<HashMap<String, Lease>>>,
}

impl Leasing {
    /// Leases of `leases` for `holder`, lasting `ttl` unrenewed.
    pub fn new(
        leases: Arc<dyn Leases>,
        holder: String,
        ttl: Duration,
        on_lost: Box<dyn Fn() + Send + Sync>,
    ) -> Leasing {
        Leasing {
            leases,
            holder,
            ttl,
            on_lost,
            held: Arc::default(),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Renews every held lease each `ttl / 3`, on a thread of its own: a
/// runtime busy with the runs themselves never delays a renewal. Ends when
/// the supervisor is dropped. A lease that was taken over is let go (its
/// run's next commit is refused).
fn renew_held(supervisor: std::sync::Weak<Supervisor>) {
    loop {
        let Some(this) = supervisor.upgrade() else {
            return;
        };
        let leasing = this.leasing.as_ref().expect("a leased supervisor");
        let ttl = leasing.ttl;
        let held: Vec<Lease> = lock(&leasing.held).values().cloned().collect();
        for lease in held {
            match leasing.leases.renew(&lease, ttl) {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(run_id = %lease.run_id, "the run's lease was taken over");
                    let mut held = lock(&leasing.held);
                    if held.get(&lease.run_id) == Some(&lease) {
                        held.remove(&lease.run_id);
                    }
                }
                Err(err) => {
                    tracing::warn!(run_id = %lease.run_id, "cannot renew the run's lease: {err}")
                }
            }
        }
        drop(this);
        std::thread::sleep(ttl / 3);
    }
}

/// Why a run is asked to execute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Something on this replica (a signal, an approval): if another
    /// replica executes the run, it is woken.
    Here,
    /// Another replica woke it, or this one found it unfinished: when
    /// another replica holds it, nothing is to be done.
    Elsewhere,
}

/// What a drain left behind.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Runs that returned by themselves (finished, waiting, or interrupted by the engine).
    pub returned: usize,
    /// Runs cut off at the deadline and recorded as interrupted.
    pub cut_off: Vec<String>,
}

impl Supervisor {
    /// Executes runs with `engine`.
    pub fn new(engine: Arc<Engine>) -> Arc<Supervisor> {
        Arc::new(Supervisor {
            engine,
            active: Mutex::new(HashMap::new()),
            tasks: Mutex::new(JoinSet::new()),
            settled: watch::channel(0).0,
            leasing: None,
        })
    }

    /// Executes runs with `engine`, each only under its lease.
    pub fn leased(engine: Arc<Engine>, leasing: Leasing) -> Arc<Supervisor> {
        let supervisor = Arc::new(Supervisor {
            engine,
            active: Mutex::new(HashMap::new()),
            tasks: Mutex::new(JoinSet::new()),
            settled: watch::channel(0).0,
            leasing: Some(leasing),
        });
        let weak = Arc::downgrade(&supervisor);
        std::thread::Builder::new()
            .name("cordon-renew-leases".into())
            .spawn(move || renew_held(weak))
            .expect("a thread to renew leases");
        supervisor
    }

    /// The leases runs execute under, when replicas share the store.
    pub fn leasing(&self) -> Option<&Leasing> {
        self.leasing.as_ref()
    }

    /// Executes (or continues) `run_id` in the background. A run already
    /// executing executes once more when it returns, so an answer that
    /// arrives mid-run is never lost.
    pub fn execute(self: &Arc<Self>, run_id: &str) {
        self.start(run_id, Origin::Here, None);
    }

    /// [`Supervisor::execute`], saying why.
    pub fn execute_from(self: &Arc<Self>, run_id: &str, origin: Origin) {
        self.start(run_id, origin, None);
    }

    /// Executes a run whose lease this replica just took over.
    pub fn take_over(self: &Arc<Self>, lease: Lease) {
        let run_id = lease.run_id.clone();
        self.start(&run_id, Origin::Elsewhere, Some(lease));
    }

    fn start(self: &Arc<Self>, run_id: &str, origin: Origin, lease: Option<Lease>) {
        {
            let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(entry) = active.get_mut(run_id) {
                entry.again = true;
                if lease.is_some() {
                    entry.newer = lease;
                }
                return;
            }
            active.insert(run_id.to_string(), Active::default());
        }
        let this = self.clone();
        let run_id = run_id.to_string();
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.spawn(async move {
            this.run(&run_id, origin, lease).await;
            this.settled.send_modify(|n| *n += 1);
        });
    }

    /// The lease to execute `run_id` under: `given`, or claimed now. `Err`
    /// when another replica holds it (it was woken if `origin` says so).
    async fn lease_for(
        &self,
        run_id: &str,
        origin: Origin,
        given: Option<Lease>,
    ) -> Result<Option<Lease>, ()> {
        let Some(leasing) = &self.leasing else {
            return Ok(None);
        };
        if given.is_some() {
            return Ok(given);
        }
        let mut pause = FIRST_STORE_RETRY;
        loop {
            match leasing.leases.claim(run_id, &leasing.holder, leasing.ttl) {
                Ok(Some(lease)) => return Ok(Some(lease)),
                Ok(None) => {
                    if origin == Origin::Here
                        && let Err(err) = leasing.leases.wake(run_id)
                    {
                        tracing::warn!(run_id = %run_id, "cannot wake the replica executing the run: {err}");
                    }
                    return Err(());
                }
                Err(err) if err.is_transient() && !self.engine.is_stopping() => {
                    tracing::warn!(run_id = %run_id, "cannot claim the run yet: {err}");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(LAST_STORE_RETRY);
                }
                Err(err) => {
                    tracing::error!(run_id = %run_id, "cannot claim the run: {err}");
                    return Err(());
                }
            }
        }
    }

    async fn run(&self, run_id: &str, origin: Origin, lease: Option<Lease>) {
        let Ok(mut lease) = self.lease_for(run_id, origin, lease).await else {
            self.forget(run_id);
            return;
        };
        self.note_lease(run_id, lease.clone());
        let mut pause = FIRST_STORE_RETRY;
        loop {
            self.hold(run_id, lease.as_ref());
            let result = self
                .engine
                .resume_under(run_id, lease.as_ref().map(Lease::fence))
                .await;
            // Whether the run stopped mid-way (another replica may go on).
            let resumable = match result {
                Ok(run) => {
                    !run.status.is_finished()
                        && run.status != cordon_types::RunStatus::AwaitingApproval
                }
                // Finished elsewhere, after this replica lost it?
                Err(EngineError::Finished(_)) if !self.still_held(lease.as_ref()) => {
                    self.lost(run_id);
                    return;
                }
                Err(EngineError::Finished(_)) => false,
                Err(EngineError::Store(StoreError::Fenced { .. })) => {
                    let newer = self.take_newer(run_id);
                    if newer.is_some() {
                        lease = newer;
                        continue;
                    }
                    self.lost(run_id);
                    return;
                }
                // The store went away mid-run: what was recorded stays
                // recorded; the run continues from it once the store
                // is back (each action's intent is durable before its
                // call, so nothing is applied twice).
                Err(EngineError::Store(err))
                    if err.is_transient() && !self.engine.is_stopping() =>
                {
                    tracing::warn!(
                        run_id = %run_id,
                        "run paused, the store is unavailable; trying again in {} ms: {err}",
                        pause.as_millis()
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(LAST_STORE_RETRY);
                    if !self.still_held(lease.as_ref()) {
                        match self.take_newer(run_id) {
                            Some(newer) => lease = Some(newer),
                            None => {
                                self.lost(run_id);
                                return;
                            }
                        }
                    }
                    continue;
                }
                Err(err) => {
                    tracing::error!(run_id = %run_id, "run stopped: {err}");
                    false
                }
            };
            pause = FIRST_STORE_RETRY;
            let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
            match active.get_mut(run_id) {
                Some(entry) if entry.again && !self.engine.is_stopping() => {
                    entry.again = false;
                    if let Some(newer) = entry.newer.take() {
                        lease = Some(newer);
                    }
                }
                _ => {
                    active.remove(run_id);
                    drop(active);
                    self.release(lease.as_ref(), resumable);
                    return;
                }
            }
        }
    }

    /// Renews `lease` from now on (see [`renew_held`]).
    fn hold(&self, run_id: &str, lease: Option<&Lease>) {
        if let (Some(leasing), Some(lease)) = (&self.leasing, lease) {
            lock(&leasing.held).insert(run_id.to_string(), lease.clone());
        }
    }

    /// Whether the store still has `lease` as this replica's (extending it);
    /// a store that cannot tell now counts as yes: the next commit tells.
    fn still_held(&self, lease: Option<&Lease>) -> bool {
        match (&self.leasing, lease) {
            (Some(leasing), Some(lease)) => {
                !matches!(leasing.leases.renew(lease, leasing.ttl), Ok(false))
            }
            _ => true,
        }
    }

    /// Drops a run whose lease another replica took over.
    fn lost(&self, run_id: &str) {
        tracing::warn!(
            run_id = %run_id,
            "lost the run's lease (this replica stalled past it); another replica executes it now"
        );
        if let Some(leasing) = &self.leasing {
            (leasing.on_lost)();
        }
        self.forget(run_id);
    }

    fn release(&self, lease: Option<&Lease>, resumable: bool) {
        if let (Some(leasing), Some(lease)) = (&self.leasing, lease) {
            lock(&leasing.held).remove(&lease.run_id);
        }
        if let (Some(leasing), Some(lease)) = (&self.leasing, lease)
            && let Err(err) = leasing.leases.release(lease, resumable)
        {
            // It expires by itself; another replica takes it then.
            tracing::warn!(run_id = %lease.run_id, "cannot give the run's lease back: {err}");
        }
    }

    fn note_lease(&self, run_id: &str, lease: Option<Lease>) {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = active.get_mut(run_id) {
            entry.lease = lease;
        }
    }

    fn take_newer(&self, run_id: &str) -> Option<Lease> {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        let entry = active.get_mut(run_id)?;
        let newer = entry.newer.take()?;
        entry.lease = Some(newer.clone());
        Some(newer)
    }

    fn forget(&self, run_id: &str) {
        if let Some(leasing) = &self.leasing {
            lock(&leasing.held).remove(run_id);
        }
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(run_id);
    }

    /// Whether `run_id` is executing now.
    pub fn is_active(&self, run_id: &str) -> bool {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(run_id)
    }

    /// How many runs execute now.
    pub fn active_count(&self) -> usize {
        self.active.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Waits until `run_id` is not executing, or `timeout` passed.
    pub async fn wait_settled(&self, run_id: &str, timeout: Duration) {
        let mut settled = self.settled.subscribe();
        let _ = tokio::time::timeout(timeout, async {
            while self.is_active(run_id) {
                if settled.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
    }

    /// Stops starting actions, waits up to `deadline` for runs to return,
    /// then cuts off the rest and records them as interrupted.
    pub async fn drain(&self, deadline: Duration) -> Drained {
        self.engine.stop_starting();
        let mut tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        let mut drained = Drained::default();
        let all_returned = tokio::time::timeout(deadline, async {
            while let Some(joined) = tasks.join_next().await {
                if let Err(err) = joined {
                    tracing::error!("a run task failed: {err}");
                }
                drained.returned += 1;
            }
        })
        .await
        .is_ok();
        if !all_returned {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
            let cut_off: Vec<(String, Active)> = self
                .active
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .drain()
                .collect();
            for (run_id, entry) in &cut_off {
                let fence = entry.lease.as_ref().map(Lease::fence);
                if let Err(err) = self.engine.record_interrupted(run_id, fence).await {
                    tracing::error!(run_id = %run_id, "cannot record the interruption: {err}");
                }
                self.release(entry.lease.as_ref(), true);
            }
            drained.cut_off = cut_off.into_iter().map(|(id, _)| id).collect();
        }
        drained
    }
}
