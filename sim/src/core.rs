//! The part every simulator shares: fault knobs, the rate limiter, the request log and the
//! request counters, behind one cheap, cloneable handle.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::faults::{Faults, FaultsUpdate, Injected};
use crate::ratelimit::{Decision, FixedWindow, RateLimitConfig};
use crate::util::{Rng, now_ms};

/// The request log keeps at most this many records (the oldest are dropped); the counters in
/// [`RequestStats`] stay exact.
pub const LOG_CAPACITY: usize = 100_000;

/// One provider request as the simulator saw it. Admin requests (`/__sim/…`) are not logged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    /// Arrival order, from 1.
    pub seq: u64,
    /// HTTP method.
    pub method: String,
    /// Request path (no query string).
    pub path: String,
    /// Status code of the response.
    pub status: u16,
    /// Arrival time, epoch milliseconds.
    pub at_ms: u64,
    /// End of the rate-limit window the request was counted in (epoch seconds), when a rate
    /// limit is configured.
    pub window_reset_secs: Option<u64>,
}

impl RequestRecord {
    /// Arrival time as a `SystemTime`.
    pub fn at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.at_ms)
    }
}

/// Request counters of one simulator (admin requests excluded).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RequestStats {
    /// Every provider request answered.
    pub total: u64,
    /// Requests answered 429.
    pub rate_limited: u64,
    /// Requests that got an injected 500 or 503.
    pub injected_faults: u64,
    /// Requests admitted by the limiter and not failed by an injected fault.
    pub passed: u64,
    /// Responses per status code.
    pub by_status: BTreeMap<u16, u64>,
    /// TCP connections accepted (admin requests' included).
    pub connections: u64,
}

struct CoreInner {
    faults: Faults,
    rng: Rng,
    limiter: Option<FixedWindow>,
    log: VecDeque<RequestRecord>,
    stats: RequestStats,
    next_seq: u64,
}

/// Shared knobs and observations of one simulator. Cheap to clone; every clone sees the same
/// data. Obtained from a provider state handle with `sim()`.
#[derive(Clone)]
pub struct SimCore {
    inner: Arc<Mutex<CoreInner>>,
}

/// What the pipeline decided for one arriving request.
pub(crate) struct Admission {
    pub seq: u64,
    pub at_ms: u64,
    pub latency: Duration,
    pub rate: Option<Decision>,
    pub injected: Injected,
}

impl SimCore {
    /// A core with the given faults and optional rate limit.
    pub fn new(faults: Faults, rate_limit: Option<RateLimitConfig>) -> Self {
        let rng = Rng::from_option(faults.seed);
        Self {
            inner: Arc::new(Mutex::new(CoreInner {
                faults,
                rng,
                limiter: rate_limit.map(FixedWindow::new),
                log: VecDeque::new(),
                stats: RequestStats::default(),
                next_seq: 1,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, CoreInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current fault knobs.
    pub fn faults(&self) -> Faults {
        self.lock().faults.clone()
    }

    /// Replaces the fault knobs (reseeds the generator if a seed is given).
    pub fn set_faults(&self, faults: Faults) {
        let mut g = self.lock();
        if let Some(seed) = faults.seed {
            g.rng = Rng::seeded(seed);
        }
        g.faults = faults;
    }

    /// Applies a partial update of the fault knobs and returns the result.
    pub fn update_faults(&self, update: &FaultsUpdate) -> Faults {
        let mut g = self.lock();
        update.apply(&mut g.faults);
        if let Some(seed) = update.seed {
            g.rng = Rng::seeded(seed);
        }
        g.faults.clone()
    }

    /// The configured rate limit, if any.
    pub fn rate_limit(&self) -> Option<RateLimitConfig> {
        self.lock().limiter.as_ref().map(FixedWindow::config)
    }

    /// Replaces the rate limit (`None` removes it); the new limiter starts with a fresh window.
    pub fn set_rate_limit(&self, rate_limit: Option<RateLimitConfig>) {
        self.lock().limiter = rate_limit.map(FixedWindow::new);
    }

    /// A copy of the request log, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        let mut v: Vec<_> = self.lock().log.iter().cloned().collect();
        v.sort_by_key(|r| r.seq);
        v
    }

    /// The request counters.
    pub fn stats(&self) -> RequestStats {
        self.lock().stats.clone()
    }

    /// Clears the request log and the counters (not the provider's data nor the limiter).
    pub fn reset_requests(&self) {
        let mut g = self.lock();
        g.log.clear();
        g.stats = RequestStats::default();
    }

    /// Draws `n` alphanumeric characters from the core's generator (reproducible under a
    /// fault `seed`; used for ids in error bodies).
    pub fn random_alnum(&self, n: usize) -> String {
        self.lock().rng.alnum(n)
    }

    /// Decides on an arriving request to `path`: rate limit, then `burst_5xx`, then
    /// `error_rate`, then `throttle_rate`, then `hang_rate`, then `lose_answers`.
    pub(crate) fn admit(&self, path: &str) -> Admission {
        let at_ms = now_ms();
        let mut g = self.lock();
        let seq = g.next_seq;
        g.next_seq += 1;
        let latency = Duration::from_millis(g.faults.latency_ms);
        let rate = g.limiter.as_mut().map(|l| l.check(at_ms));
        let mut injected = Injected::None;
        if rate.is_none_or(|d| d.allowed) {
            let draw = g.rng.next_f64();
            if g.faults.burst_5xx > 0 {
                g.faults.burst_5xx -= 1;
                injected = Injected::Unavailable;
            } else if draw < g.faults.error_rate {
                injected = Injected::ServerError;
            } else if g.faults.throttle_rate > 0.0 && g.rng.next_f64() < g.faults.throttle_rate {
                injected = Injected::Throttled;
            } else if g.faults.hang_rate > 0.0 && g.rng.next_f64() < g.faults.hang_rate {
                injected = Injected::Hang;
            } else if g.faults.lose_answers > 0
                && g.faults
                    .lose_path
                    .as_deref()
                    .is_none_or(|p| path.contains(p))
            {
                g.faults.lose_answers -= 1;
                injected = Injected::LoseAnswer;
            }
        }
        Admission {
            seq,
            at_ms,
            latency,
            rate,
            injected,
        }
    }

    /// Counts one accepted TCP connection.
    pub(crate) fn connected(&self) {
        self.lock().stats.connections += 1;
    }

    /// Records the response to an admitted request.
    pub(crate) fn finish(&self, adm: &Admission, method: &str, path: &str, status: u16) {
        let mut g = self.lock();
        let s = &mut g.stats;
        s.total += 1;
        *s.by_status.entry(status).or_default() += 1;
        let limited = adm.rate.is_some_and(|d| !d.allowed);
        if limited {
            s.rate_limited += 1;
        } else if adm.injected != Injected::None {
            s.injected_faults += 1;
        } else {
            s.passed += 1;
        }
        if g.log.len() >= LOG_CAPACITY {
            g.log.pop_front();
        }
        g.log.push_back(RequestRecord {
            seq: adm.seq,
            method: method.to_owned(),
            path: path.to_owned(),
            status,
            at_ms: adm.at_ms,
            window_reset_secs: adm.rate.map(|d| d.reset_epoch_secs),
        });
    }
}

/// Adds the observation and knob methods every simulator's state handle offers (`sim()`,
/// `requests()`, `stats()`, `reset_requests()`, `faults()`, `set_faults()`, `update_faults()`,
/// `set_rate_limit()`), delegating to the handle's field `core: SimCore`.
///
/// ```ignore
/// #[derive(Clone)]
/// pub struct AcmeState { core: cordon_sim::SimCore, data: Arc<Mutex<Data>> }
/// cordon_sim::sim_handle!(AcmeState);
/// ```
#[macro_export]
macro_rules! sim_handle {
    ($state:ty) => {
        impl $state {
            /// The shared knobs and observations of this simulator.
            pub fn sim(&self) -> &$crate::core::SimCore {
                &self.core
            }
            /// A copy of the request log (admin requests excluded), in arrival order.
            pub fn requests(&self) -> Vec<$crate::core::RequestRecord> {
                self.core.requests()
            }
            /// Request counters: total, 429s, injected faults, per status.
            pub fn stats(&self) -> $crate::core::RequestStats {
                self.core.stats()
            }
            /// Clears the request log and counters.
            pub fn reset_requests(&self) {
                self.core.reset_requests()
            }
            /// The current fault knobs.
            pub fn faults(&self) -> $crate::faults::Faults {
                self.core.faults()
            }
            /// Replaces the fault knobs.
            pub fn set_faults(&self, faults: $crate::faults::Faults) {
                self.core.set_faults(faults)
            }
            /// Applies a partial update of the fault knobs.
            pub fn update_faults(
                &self,
                update: &$crate::faults::FaultsUpdate,
            ) -> $crate::faults::Faults {
                self.core.update_faults(update)
            }
            /// Replaces the rate limit (`None` removes it).
            pub fn set_rate_limit(&self, rate_limit: Option<$crate::ratelimit::RateLimitConfig>) {
                self.core.set_rate_limit(rate_limit)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_error_rate() {
        let core = SimCore::new(
            Faults {
                burst_5xx: 2,
                error_rate: 1.0,
                ..Faults::seeded(1)
            },
            None,
        );
        let a = core.admit("/");
        assert_eq!(a.injected, Injected::Unavailable);
        core.finish(&a, "GET", "/x", 503);
        assert_eq!(core.admit("/").injected, Injected::Unavailable);
        assert_eq!(core.admit("/").injected, Injected::ServerError);
        core.update_faults(&FaultsUpdate {
            error_rate: Some(0.0),
            ..Default::default()
        });
        assert_eq!(core.admit("/").injected, Injected::None);
        let stats = core.stats();
        assert_eq!(stats.total, 1);
        assert_eq!(stats.injected_faults, 1);
    }

    #[test]
    fn rate_limited_requests_get_no_fault() {
        let core = SimCore::new(
            Faults {
                burst_5xx: 5,
                ..Faults::none()
            },
            Some(RateLimitConfig::new(0, 60)),
        );
        let a = core.admit("/");
        assert_eq!(a.injected, Injected::None);
        assert!(!a.rate.unwrap().allowed);
        assert_eq!(core.faults().burst_5xx, 5);
    }
}
