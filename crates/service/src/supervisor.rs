//! The runs the service owns: each executes in its own task; a run asked to
//! continue while it executes (an approval arrived) executes again when it
//! returns; on shutdown nothing new starts, actions in flight finish up to a
//! deadline, and what is left is recorded as interrupted.

use cordon_engine::{Engine, EngineError};
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
    /// Runs executing now, and whether each must execute again when it returns.
    active: Mutex<HashMap<String, bool>>,
    tasks: Mutex<JoinSet<()>>,
    /// Bumped each time a run's task returns.
    settled: watch::Sender<u64>,
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
        })
    }

    /// Executes (or continues) `run_id` in the background. A run already
    /// executing executes once more when it returns, so an answer that
    /// arrives mid-run is never lost.
    pub fn execute(self: &Arc<Self>, run_id: &str) {
        {
            let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(again) = active.get_mut(run_id) {
                *again = true;
                return;
            }
            active.insert(run_id.to_string(), false);
        }
        let this = self.clone();
        let run_id = run_id.to_string();
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.spawn(async move {
            let mut pause = FIRST_STORE_RETRY;
            loop {
                match this.engine.resume(&run_id).await {
                    Ok(_) | Err(EngineError::Finished(_)) => {}
                    // The store went away mid-run: what was recorded stays
                    // recorded; the run continues from it once the store
                    // is back (each action's intent is durable before its
                    // call, so nothing is applied twice).
                    Err(EngineError::Store(err))
                        if err.is_transient() && !this.engine.is_stopping() =>
                    {
                        tracing::warn!(
                            run_id = %run_id,
                            "run paused, the store is unavailable; trying again in {} ms: {err}",
                            pause.as_millis()
                        );
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(LAST_STORE_RETRY);
                        continue;
                    }
                    Err(err) => tracing::error!(run_id = %run_id, "run stopped: {err}"),
                }
                pause = FIRST_STORE_RETRY;
                let mut active = this.active.lock().unwrap_or_else(|e| e.into_inner());
                match active.get_mut(&run_id) {
                    Some(again) if *again && !this.engine.is_stopping() => *again = false,
                    _ => {
                        active.remove(&run_id);
                        break;
                    }
                }
            }
            this.settled.send_modify(|n| *n += 1);
        });
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
            let cut_off: Vec<String> = self
                .active
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .drain()
                .map(|(id, _)| id)
                .collect();
            for run_id in &cut_off {
                if let Err(err) = self.engine.record_interrupted(run_id).await {
                    tracing::error!(run_id = %run_id, "cannot record the interruption: {err}");
                }
            }
            drained.cut_off = cut_off;
        }
        drained
    }
}
