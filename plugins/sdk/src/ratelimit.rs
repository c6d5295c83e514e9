//! Rate-limit headers: how long a provider asks us to wait, and whether the
//! budget of the current window is already spent.
//!
//! Providers announce limits in one of two ways:
//!
//! - `Retry-After` on the 429 (Vault, most HTTP APIs): a delay, see
//!   [`crate::errors::retry_after_ms`];
//! - a budget on every response, `X-Rate-Limit-Limit`, `X-Rate-Limit-Remaining`
//!   and `X-Rate-Limit-Reset` (epoch seconds of the window's end; Okta, and
//!   GitHub-style `X-RateLimit-*`). A 429 then carries no `Retry-After`: the
//!   caller waits until the reset.
//!
//! [`wait_ms`] reads either. [`Budget`] reads the second kind so that a
//! plugin making several requests in one call does not send one it knows
//! will be refused: [`crate::rest::Api`] does this for every plugin that
//! turns it on.

use crate::ProviderError;
use crate::http::Response;

/// The rate-limit budget a response announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Requests allowed per window, when announced.
    pub limit: Option<u64>,
    /// Requests left in the current window.
    pub remaining: u64,
    /// End of the current window, epoch seconds.
    pub reset_epoch_secs: u64,
}

/// The first of these headers `response` carries, parsed as an integer.
fn header_u64(response: &Response, names: &[&str]) -> Option<u64> {
    names
        .iter()
        .find_map(|name| response.header(name))
        .and_then(|v| v.trim().parse().ok())
}

const LIMIT: &[&str] = &["x-rate-limit-limit", "x-ratelimit-limit"];
const REMAINING: &[&str] = &["x-rate-limit-remaining", "x-ratelimit-remaining"];
const RESET: &[&str] = &["x-rate-limit-reset", "x-ratelimit-reset"];

impl Budget {
    /// The budget a response announced, if it carries both a remaining count
    /// and a reset time.
    pub fn from_response(response: &Response) -> Option<Budget> {
        Some(Budget {
            limit: header_u64(response, LIMIT),
            remaining: header_u64(response, REMAINING)?,
            reset_epoch_secs: header_u64(response, RESET)?,
        })
    }

    /// Whether the window's budget is spent at `now_epoch_secs` (its reset
    /// has not come yet and nothing remains).
    pub fn exhausted_at(&self, now_epoch_secs: u64) -> bool {
        self.remaining == 0 && now_epoch_secs < self.reset_epoch_secs
    }

    /// The error to return instead of sending a request that would be
    /// refused: rate limited until the reset.
    pub fn wait_error(&self, detail: impl Into<String>) -> ProviderError {
        crate::errors::rate_limited_until(self.reset_epoch_secs, detail)
    }
}

/// How long a 429 asks us to wait, in milliseconds: `Retry-After` when
/// present, else until `X-Rate-Limit-Reset` (plus one second for the clock's
/// granularity), else unknown (the host backs off exponentially).
pub fn wait_ms(response: &Response) -> Option<u64> {
    if let Some(ms) = crate::errors::retry_after_ms(response) {
        return Some(ms);
    }
    let reset = header_u64(response, RESET)?;
    Some(crate::errors::wait_until_ms(reset))
}

/// Whether an unsuccessful answer is a rate limit, and how long it asks us
/// to wait: `Some(wait)` for a 429 (wait as [`wait_ms`]), and for a 403 that
/// carries a `Retry-After` (GitHub's secondary rate limits) or a spent
/// `X-RateLimit-Remaining: 0` with its reset (GitHub's primary limit);
/// `None` for anything else, a 403 that is a real refusal included.
pub fn refusal_wait_ms(response: &Response) -> Option<Option<u64>> {
    match response.status {
        429 => Some(wait_ms(response)),
        403 => {
            if let Some(ms) = crate::errors::retry_after_ms(response) {
                return Some(Some(ms));
            }
            let spent = header_u64(response, REMAINING) == Some(0);
            let reset = header_u64(response, RESET)?;
            spent.then(|| Some(crate::errors::wait_until_ms(reset)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(headers: &[(&str, &str)]) -> Response {
        Response {
            status: 200,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
        }
    }

    #[test]
    fn reads_okta_and_github_style_budgets() {
        let okta = response(&[
            ("X-Rate-Limit-Limit", "600"),
            ("X-Rate-Limit-Remaining", "0"),
            ("X-Rate-Limit-Reset", "1700000060"),
        ]);
        let budget = Budget::from_response(&okta).unwrap();
        assert_eq!(
            budget,
            Budget {
                limit: Some(600),
                remaining: 0,
                reset_epoch_secs: 1_700_000_060
            }
        );
        assert!(budget.exhausted_at(1_700_000_059));
        assert!(!budget.exhausted_at(1_700_000_060), "the window has reset");
        let github = response(&[
            ("x-ratelimit-remaining", "12"),
            ("x-ratelimit-reset", "1700000060"),
        ]);
        let budget = Budget::from_response(&github).unwrap();
        assert_eq!((budget.limit, budget.remaining), (None, 12));
        assert!(!budget.exhausted_at(0));
        assert_eq!(
            Budget::from_response(&response(&[("x-rate-limit-remaining", "3")])),
            None
        );
    }

    #[test]
    fn waits_for_retry_after_first_then_the_reset() {
        let now = crate::time::unix_now();
        let both = response(&[
            ("Retry-After", "2"),
            ("X-Rate-Limit-Reset", &(now + 30).to_string()),
        ]);
        assert_eq!(wait_ms(&both), Some(2000));
        let reset_only = response(&[("X-Rate-Limit-Reset", &(now + 3).to_string())]);
        let wait = wait_ms(&reset_only).unwrap();
        assert!((3000..=4000).contains(&wait), "{wait}");
        let past = response(&[("X-Rate-Limit-Reset", "5")]);
        assert_eq!(wait_ms(&past), Some(1000));
        assert_eq!(wait_ms(&response(&[])), None);
        match Budget::from_response(&response(&[
            ("X-Rate-Limit-Remaining", "0"),
            ("X-Rate-Limit-Reset", &(now + 3).to_string()),
        ]))
        .unwrap()
        .wait_error("spent")
        {
            ProviderError::RateLimited(r) => {
                assert!((3000..=5000).contains(&r.retry_after_ms.unwrap()));
                assert_eq!(r.detail, "spent");
            }
            other => panic!("{other:?}"),
        }
    }
}
