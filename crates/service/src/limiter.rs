//! Per-caller request rate limits: a token bucket per principal (or per
//! address, for callers that did not authenticate).

use crate::problem::Problem;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Token buckets by caller key.
pub struct Limiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// How many callers are tracked before idle, full buckets are forgotten.
const MAX_TRACKED: usize = 10_000;

impl Limiter {
    /// `per_minute` requests per minute, `burst` at once.
    pub fn new(per_minute: u32, burst: u32) -> Limiter {
        Limiter {
            per_second: f64::from(per_minute) / 60.0,
            burst: f64::from(burst),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `key`'s bucket, or answers 429.
    pub fn check(&self, key: &str) -> Result<(), Problem> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), Problem> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(key) {
            let (per_second, burst) = (self.per_second, self.burst);
            buckets.retain(|_, b| refilled(b, now, per_second, burst) < burst);
        }
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        bucket.tokens = refilled(bucket, now, self.per_second, self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - bucket.tokens) / self.per_second).ceil().max(1.0);
            Err(Problem::too_many(wait as u64))
        }
    }
}

fn refilled(bucket: &Bucket, now: Instant, per_second: f64, burst: f64) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    (bucket.tokens + elapsed * per_second).min(burst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_caller_gets_its_burst_then_the_steady_rate_and_others_are_not_affected() {
        let limiter = Limiter::new(60, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            limiter.check_at("a", t0).unwrap();
        }
        let refused = limiter.check_at("a", t0).unwrap_err();
        assert_eq!((refused.status, refused.retry_after), (429, Some(1)));
        limiter.check_at("b", t0).unwrap();
        limiter.check_at("a", t0 + Duration::from_secs(1)).unwrap();
        assert!(limiter.check_at("a", t0 + Duration::from_secs(1)).is_err());
    }
}
