//! Turning provider responses into [`ProviderError`]s.
//!
//! Plugins parse their provider's error body into a message and call
//! [`from_status`]; provider quirks (a status that means "already done")
//! stay in the plugin.

use crate::ProviderError;
use crate::RateLimit;
use crate::http::Response;

/// The usual mapping of an unsuccessful HTTP status:
/// 401/403 → unauthorized, 404 → not found, 429 → rate limited (honouring
/// `Retry-After`), 5xx and 408 → transient, other 4xx → invalid.
pub fn from_status(response: &Response, message: impl Into<String>) -> ProviderError {
    let message = format!("HTTP {}: {}", response.status, message.into());
    match response.status {
        401 | 403 => ProviderError::Unauthorized(message),
        404 => ProviderError::NotFound(message),
        429 => ProviderError::RateLimited(RateLimit {
            retry_after_ms: retry_after_ms(response),
            detail: message,
        }),
        408 | 500..=599 => ProviderError::Transient(message),
        _ => ProviderError::Invalid(message),
    }
}

/// A `Retry-After` header (delay in seconds) in milliseconds.
pub fn retry_after_ms(response: &Response) -> Option<u64> {
    let value = response.header("retry-after")?.trim();
    value.parse::<u64>().ok().map(|secs| secs * 1000)
}

/// A rate limit that lifts at `reset_epoch_secs` (e.g. Okta's `X-Rate-Limit-Reset`).
pub fn rate_limited_until(reset_epoch_secs: u64, detail: impl Into<String>) -> ProviderError {
    let now = crate::time::unix_now();
    // One extra second: the reset is a whole second and clocks drift.
    let wait = reset_epoch_secs.saturating_sub(now) + 1;
    ProviderError::RateLimited(RateLimit {
        retry_after_ms: Some(wait * 1000),
        detail: detail.into(),
    })
}

/// Shorthand for [`ProviderError::Invalid`].
pub fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::Invalid(message.into())
}

/// Shorthand for [`ProviderError::NotFound`].
pub fn not_found(message: impl Into<String>) -> ProviderError {
    ProviderError::NotFound(message.into())
}

/// Shorthand for [`ProviderError::Transient`].
pub fn transient(message: impl Into<String>) -> ProviderError {
    ProviderError::Transient(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)]) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
        }
    }

    #[test]
    fn maps_statuses() {
        assert!(matches!(
            from_status(&response(403, &[]), "no"),
            ProviderError::Unauthorized(_)
        ));
        assert!(matches!(
            from_status(&response(404, &[]), "no"),
            ProviderError::NotFound(_)
        ));
        assert!(matches!(
            from_status(&response(503, &[]), "no"),
            ProviderError::Transient(_)
        ));
        assert!(matches!(
            from_status(&response(409, &[]), "no"),
            ProviderError::Invalid(_)
        ));
        match from_status(&response(429, &[("Retry-After", "3")]), "slow down") {
            ProviderError::RateLimited(r) => assert_eq!(r.retry_after_ms, Some(3000)),
            other => panic!("{other:?}"),
        }
    }
}
