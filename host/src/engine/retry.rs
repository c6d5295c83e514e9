//! Backoff between attempts and the per-plugin rate gate.

use rand::Rng;
use std::sync::Mutex;
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

/// Holds every call to one plugin while its provider asked us to wait.
///
/// A 429 with a reset time means the whole quota is spent, not just one
/// call's share: every call to that plugin waits until the reset.
#[derive(Debug, Default)]
pub struct RateGate {
    open_at: Mutex<Option<Instant>>,
}

impl RateGate {
    /// Waits until the gate is open.
    pub async fn wait(&self) {
        loop {
            let open_at = *self.open_at.lock().expect("rate gate");
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
            .expect("rate gate")
            .is_none_or(|at| at <= Instant::now())
    }

    /// Closes the gate for `delay` from now (never shortens an earlier close).
    pub fn close_for(&self, delay: Duration) {
        let until = Instant::now() + delay;
        let mut open_at = self.open_at.lock().expect("rate gate");
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
