//! Fixed-window rate limiting computed from wall-clock time.
//!
//! Windows are aligned on multiples of `window_secs` since the Unix epoch, so the end of the
//! current window is a whole number of epoch seconds (what Okta's `X-Rate-Limit-Reset` and
//! Vault's `Retry-After` express). A client that waits until that instant finds a fresh window.
//! The limiter is used under a mutex and never admits more than `limit` requests in one window.

use serde::{Deserialize, Serialize};

/// A rate limit: at most `limit` requests per fixed window of `window_secs` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitConfig {
    /// Requests admitted per window (0 rejects everything).
    pub limit: u32,
    /// Window length in seconds (0 is treated as 1).
    pub window_secs: u64,
}

impl RateLimitConfig {
    /// `limit` requests per `window_secs` seconds.
    pub fn new(limit: u32, window_secs: u64) -> Self {
        Self { limit, window_secs }
    }

    /// Okta's default for the core user endpoints of a small org: 600 requests per minute.
    pub fn okta_default() -> Self {
        Self::new(600, 60)
    }
}

/// The limiter's verdict for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Whether the request was admitted.
    pub allowed: bool,
    /// The configured limit.
    pub limit: u32,
    /// Requests still admissible in this window after this one.
    pub remaining: u32,
    /// End of the current window, in epoch seconds.
    pub reset_epoch_secs: u64,
    /// Whole seconds until the window ends, rounded up (at least 1).
    pub retry_after_secs: u64,
}

/// A fixed-window counter.
#[derive(Clone, Debug)]
pub struct FixedWindow {
    config: RateLimitConfig,
    window: u64,
    used: u32,
}

impl FixedWindow {
    /// A limiter with an empty current window.
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            config,
            window: u64::MAX,
            used: 0,
        }
    }

    /// The limiter's configuration.
    pub fn config(&self) -> RateLimitConfig {
        self.config
    }

    /// Counts one request arriving at `now_ms` (epoch milliseconds) and decides on it.
    /// Rejected requests do not use up the window.
    pub fn check(&mut self, now_ms: u64) -> Decision {
        let window_ms = self.config.window_secs.max(1) * 1000;
        let index = now_ms / window_ms;
        if index != self.window {
            self.window = index;
            self.used = 0;
        }
        let end_ms = (index + 1) * window_ms;
        let allowed = self.used < self.config.limit;
        if allowed {
            self.used += 1;
        }
        Decision {
            allowed,
            limit: self.config.limit,
            remaining: self.config.limit.saturating_sub(self.used),
            reset_epoch_secs: end_ms / 1000,
            retry_after_secs: (end_ms - now_ms).div_ceil(1000).max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_more_than_limit_per_window() {
        let mut w = FixedWindow::new(RateLimitConfig::new(3, 2));
        let base = 1_700_000_000_000; // aligned on 2 s
        let ok: Vec<bool> = (0..5).map(|i| w.check(base + i).allowed).collect();
        assert_eq!(ok, [true, true, true, false, false]);
        let d = w.check(base + 1500);
        assert!(!d.allowed);
        assert_eq!(d.remaining, 0);
        assert_eq!(d.reset_epoch_secs, 1_700_000_002);
        assert_eq!(d.retry_after_secs, 1);
        // next window
        let d = w.check(base + 2000);
        assert!(d.allowed);
        assert_eq!(d.remaining, 2);
        assert_eq!(d.reset_epoch_secs, 1_700_000_004);
        assert_eq!(d.retry_after_secs, 2);
    }

    #[test]
    fn zero_limit_rejects_everything() {
        let mut w = FixedWindow::new(RateLimitConfig::new(0, 0));
        assert!(!w.check(5).allowed);
    }
}
