//! Fault injection knobs shared by every simulator.

use serde::{Deserialize, Serialize};

/// Fault knobs. Settable at start (in each simulator's config), at runtime through the state
/// handle (`set_faults`, `update_faults`) and over HTTP (`POST /__sim/faults`).
///
/// Order of application to each provider request: the rate limit first (a rejected request
/// gets its 429 and nothing else), then `burst_5xx`, then `error_rate`, then `throttle_rate`,
/// then `hang_rate`, then
/// the provider's own authentication and logic (after which `lose_answers` may hold the
/// response). `latency_ms` delays every provider response, whatever it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Probability in `0..=1` that a request fails with 500 and the provider's error body.
    pub error_rate: f64,
    /// Added delay, in milliseconds, before every provider response.
    pub latency_ms: u64,
    /// The next N requests fail with 503 (counts down to zero).
    pub burst_5xx: u32,
    /// Probability in `0..=1` that a request is refused with the provider's 429 (a rate limit
    /// the client did not see coming; `Retry-After: 1`).
    pub throttle_rate: f64,
    /// Probability in `0..=1` that a request hangs before the provider handles it: nothing is
    /// applied and no answer comes until the client gives up (a hung connection).
    pub hang_rate: f64,
    /// The next N requests whose path contains [`Faults::lose_path`] (every path, if unset) are
    /// handled, so their effect is applied, but never answered: the response is held until the
    /// client gives up, as when an answer is lost in transit (counts down to zero).
    pub lose_answers: u32,
    /// Which requests `lose_answers` counts: those whose path contains this.
    pub lose_path: Option<String>,
    /// Seed of the random generator used for `error_rate` and generated ids; `None` seeds from
    /// the clock. Setting it at runtime reseeds the generator.
    pub seed: Option<u64>,
}

impl Faults {
    /// No faults at all (the default).
    pub fn none() -> Self {
        Self::default()
    }

    /// The next `n` requests whose path contains `path` are applied and never answered.
    pub fn lose_answers(n: u32, path: &str) -> Self {
        Self {
            lose_answers: n,
            lose_path: Some(path.to_owned()),
            ..Self::default()
        }
    }

    /// Only a deterministic seed, no faults.
    pub fn seeded(seed: u64) -> Self {
        Self {
            seed: Some(seed),
            ..Self::default()
        }
    }
}

/// A partial update of [`Faults`]: absent fields keep their current value. This is the body of
/// `POST /__sim/faults`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultsUpdate {
    /// New `error_rate`, if given.
    pub error_rate: Option<f64>,
    /// New `latency_ms`, if given.
    pub latency_ms: Option<u64>,
    /// New `burst_5xx`, if given.
    pub burst_5xx: Option<u32>,
    /// New `throttle_rate`, if given.
    pub throttle_rate: Option<f64>,
    /// New `hang_rate`, if given.
    pub hang_rate: Option<f64>,
    /// New `lose_answers`, if given.
    pub lose_answers: Option<u32>,
    /// New `lose_path`, if given (an empty string clears it).
    pub lose_path: Option<String>,
    /// New seed (reseeds the generator), if given.
    pub seed: Option<u64>,
}

impl FaultsUpdate {
    /// Applies the update to `faults`.
    pub fn apply(&self, faults: &mut Faults) {
        if let Some(r) = self.error_rate {
            faults.error_rate = r.clamp(0.0, 1.0);
        }
        if let Some(l) = self.latency_ms {
            faults.latency_ms = l;
        }
        if let Some(b) = self.burst_5xx {
            faults.burst_5xx = b;
        }
        if let Some(r) = self.throttle_rate {
            faults.throttle_rate = r.clamp(0.0, 1.0);
        }
        if let Some(r) = self.hang_rate {
            faults.hang_rate = r.clamp(0.0, 1.0);
        }
        if let Some(n) = self.lose_answers {
            faults.lose_answers = n;
        }
        if let Some(p) = &self.lose_path {
            faults.lose_path = (!p.is_empty()).then(|| p.clone());
        }
        if let Some(s) = self.seed {
            faults.seed = Some(s);
        }
    }
}

/// What the fault layer decided for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injected {
    /// No injected fault: the provider handles the request.
    None,
    /// An injected 500 (from `error_rate`).
    ServerError,
    /// An injected 503 (from `burst_5xx`).
    Unavailable,
    /// An injected 429 (from `throttle_rate`).
    Throttled,
    /// Never handled nor answered (from `hang_rate`).
    Hang,
    /// Handled, then never answered (from `lose_answers`).
    LoseAnswer,
}
