//! Backoff between attempts and the per-plugin rate gates.
//!
//! A 429 with a reset time means the provider's whole quota is spent: every
//! call to that plugin — actions and inspections, of every run the engine
//! executes — waits until the reset. [`Gates`] holds one [`RateGate`] per
//! plugin for the engine's lifetime, and [`Gates::slot`] is the one way to
//! get a plugin slot past its gate; a caller that awaits anything between
//! taking the slot and calling re-checks with [`Gates::reopened`].

use crate::plugins::{PluginSlot, Plugins};
use rand::Rng;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// First backoff delay.
const BASE: Duration = Duration::from_millis(200);
/// Longest backoff delay.
const CAP: Duration = Duration::from_secs(20);

/// Exponential backoff with jitter for attempt `n` (1-based): a random delay
/// between half and all of `BASE * 2^(n-1)`, capped.
pub fn backoff(attempt: u32) -> Duration {
    let exp = BASE.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let full = exp.min(CAP);
    let half = full / 2;
    half + Duration::from_millis(rand::rng().random_range(0..=half.as_millis() as u64))
}

/// Told each time a provider makes the engine wait (a 429): a narrow hook
/// for metrics, set with [`crate::Engine::observe_rate_limits`].
pub trait RateLimitObserver: Send + Sync {
    /// `plugin`'s gate closed for `wait`.
    fn rate_limited(&self, plugin: &str, wait: Duration);
}

/// The rate gates of every plugin.
#[derive(Default)]
pub struct Gates {
    gates: Mutex<HashMap<String, Arc<RateGate>>>,
    observer: Option<Arc<dyn RateLimitObserver>>,
}

impl std::fmt::Debug for Gates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gates").finish_non_exhaustive()
    }
}

impl Gates {
    /// Gates that tell `observer` of every wait.
    pub fn observed(observer: Arc<dyn RateLimitObserver>) -> Gates {
        Gates {
            gates: Mutex::default(),
            observer: Some(observer),
        }
    }

    /// The gate of `plugin`.
    pub fn of(&self, plugin: &str) -> Arc<RateGate> {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        gates.entry(plugin.to_string()).or_default().clone()
    }

    /// Waits until the plugin's gate is open and a slot is free, and returns
    /// the slot — re-checking the gate after the wait for the slot, since the
    /// provider may have asked us to wait meanwhile.
    pub async fn slot<'a>(
        &self,
        plugins: &'a dyn Plugins,
        plugin: &'a str,
    ) -> Box<dyn PluginSlot<'a> + 'a> {
        let gate = self.of(plugin);
        loop {
            gate.wait().await;
            let slot = plugins.reserve(plugin).await;
            if gate.is_open() {
                return slot;
            }
        }
    }

    /// Waits until the plugin's gate is open, for a caller that already holds
    /// a slot and then awaited something else (its intent's commit): the
    /// provider may have asked us to wait meanwhile.
    pub async fn reopened(&self, plugin: &str) {
        self.of(plugin).wait().await;
    }

    /// The provider answered 429: closes the plugin's gate for what it asked
    /// (or a backoff for the `waits`-th wait), and returns the delay.
    pub fn rate_limited(&self, plugin: &str, retry_after_ms: Option<u64>, waits: u32) -> Duration {
        let wait = retry_after_ms
            .map(Duration::from_millis)
            .unwrap_or_else(|| backoff(waits));
        self.of(plugin).close_for(wait);
        if let Some(observer) = &self.observer {
            observer.rate_limited(plugin, wait);
        }
        wait
    }
}

/// Holds every call to one plugin while its provider asked us to wait.
#[derive(Debug, Default)]
pub struct RateGate {
    open_at: Mutex<Option<Instant>>,
}

impl RateGate {
    /// Waits until the gate is open.
    pub async fn wait(&self) {
        loop {
            let open_at = *self.open_at.lock().unwrap_or_else(|e| e.into_inner());
            match open_at {
                Some(at) if at > Instant::now() => tokio::time::sleep_until(at).await,
                _ => return,
            }
        }
    }

    /// Whether calls may go now.
    pub fn is_open(&self) -> bool {
        self.open_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none_or(|at| at <= Instant::now())
    }

    /// Closes the gate for `delay` from now (never shortens an earlier close).
    pub fn close_for(&self, delay: Duration) {
        let until = Instant::now() + delay;
        let mut open_at = self.open_at.lock().unwrap_or_else(|e| e.into_inner());
        if open_at.is_none_or(|at| at < until) {
            *open_at = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..30 {
            let d = backoff(attempt);
            let full = BASE.saturating_mul(1 << (attempt - 1).min(16)).min(CAP);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }

    #[tokio::test]
    async fn gate_holds_callers_until_it_opens() {
        let gate = RateGate::default();
        assert!(gate.is_open());
        let start = Instant::now();
        gate.close_for(Duration::from_millis(80));
        gate.close_for(Duration::from_millis(1)); // does not shorten
        assert!(!gate.is_open());
        gate.wait().await;
        assert!(gate.is_open());
        assert!(start.elapsed() >= Duration::from_millis(80));
    }
}
