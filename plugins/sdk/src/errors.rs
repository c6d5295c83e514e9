//! Turning provider responses into [`ProviderError`]s.
//!
//! Plugins parse their provider's error body into a message (for JSON APIs,
//! [`json_error`] knows the usual shapes) and call [`from_status`]; provider
//! quirks (a status that means "already done") stay in the plugin.

use crate::ProviderError;
use crate::RateLimit;
use crate::http::Response;

/// The usual mapping of an unsuccessful HTTP status:
/// 401/403 → unauthorized, 404 → not found, 429 → rate limited (honouring
/// `Retry-After`, or a rate-limit reset header, see
/// [`crate::ratelimit::wait_ms`]), 5xx and 408 → transient, other 4xx →
/// invalid. A 403 that is a rate limit (GitHub's: a `Retry-After`, or a spent
/// `X-RateLimit-Remaining`, see [`crate::ratelimit::refusal_wait_ms`]) is
/// rate limited too.
pub fn from_status(response: &Response, message: impl Into<String>) -> ProviderError {
    let message = format!("HTTP {}: {}", response.status, message.into());
    if let Some(wait) = crate::ratelimit::refusal_wait_ms(response) {
        return ProviderError::RateLimited(RateLimit {
            retry_after_ms: wait,
            detail: message,
        });
    }
    match response.status {
        401 | 403 => ProviderError::Unauthorized(message),
        404 => ProviderError::NotFound(message),
        429 => ProviderError::RateLimited(RateLimit {
            retry_after_ms: crate::ratelimit::wait_ms(response),
            detail: message,
        }),
        408 | 500..=599 => ProviderError::Transient(message),
        _ => ProviderError::Invalid(message),
    }
}

/// A `Retry-After` header in milliseconds: a delay in seconds, or an
/// HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`) turned into the delay from now.
pub fn retry_after_ms(response: &Response) -> Option<u64> {
    let value = response.header("retry-after")?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs * 1000);
    }
    let at = crate::time::parse_http_date(value)?;
    let now = crate::time::unix_now() as i64;
    Some(at.saturating_sub(now).max(0) as u64 * 1000)
}

/// An error body's code and message, read from the JSON shapes providers
/// use:
///
/// | shape | who |
/// |---|---|
/// | `{"message","errors":[{"field","code"}]}` | GitHub (422 validation) |
/// | `{"errors":["…", …]}` | HashiCorp Vault, Consul |
/// | `{"errorCode","errorSummary","errorCauses":[{"errorSummary"}]}` | Okta |
/// | `{"ErrorCode","ErrorMessage"}` | CyberArk PVWA |
/// | `{"error":"…","error_description":"…"}` | OAuth 2.0 (RFC 6749 §5.2) |
/// | `{"error":{"code","message"}}` | Google, Azure, many others |
/// | `{"title","detail"}` | problem details (RFC 9457) |
/// | `{"message"}` / `{"Message"}` / `{"code"}` | generic, ASP.NET |
///
/// A body that is not JSON gives its first line (an HTML page is named as
/// such: it usually means a wrong base URL or path, not an API error).
/// Returns `(code, message)`; the message is never empty.
pub fn json_error(body: &[u8]) -> (Option<String>, String) {
    let text = String::from_utf8_lossy(body);
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
        return (None, non_json_message(&text));
    };
    fn s(v: &serde_json::Value) -> Option<&str> {
        v.as_str().map(str::trim).filter(|s| !s.is_empty())
    }
    let code_of = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    // GitHub: {"message": "Validation Failed", "errors": [{"resource",
    // "field", "code"[, "message"]} | "…"], "documentation_url"}.
    if let (Some(message), Some(errors)) = (
        value.get("message").and_then(s),
        value.get("errors").and_then(|e| e.as_array()),
    ) {
        let details: Vec<String> = errors
            .iter()
            .filter_map(|e| {
                s(e).map(str::to_string)
                    .or_else(|| e.get("message").and_then(s).map(str::to_string))
                    .or_else(|| {
                        let code = e.get("code").and_then(s)?;
                        Some(match e.get("field").and_then(s) {
                            Some(field) => format!("{field}: {code}"),
                            None => code.to_string(),
                        })
                    })
            })
            .collect();
        let message = if details.is_empty() {
            message.to_string()
        } else {
            format!("{message} ({})", details.join("; "))
        };
        let code = value.get("status").and_then(code_of);
        return (code, tidy(&message));
    }
    // Vault: {"errors": [...]}, possibly empty.
    if let Some(errors) = value.get("errors").and_then(|e| e.as_array()) {
        let messages: Vec<&str> = errors
            .iter()
            .filter_map(|e| s(e).or_else(|| e.get("message").and_then(s)))
            .collect();
        let message = if messages.is_empty() {
            "(no error message)".to_string()
        } else {
            messages.join("; ")
        };
        return (None, tidy(&message));
    }
    // Okta.
    if let Some(summary) = value.get("errorSummary").and_then(s) {
        let causes: Vec<&str> = value
            .get("errorCauses")
            .and_then(|c| c.as_array())
            .map(|c| {
                c.iter()
                    .filter_map(|c| c.get("errorSummary").and_then(s))
                    .filter(|c| !summary.contains(c))
                    .collect()
            })
            .unwrap_or_default();
        let message = if causes.is_empty() {
            summary.to_string()
        } else {
            format!("{summary} ({})", causes.join("; "))
        };
        return (value.get("errorCode").and_then(code_of), tidy(&message));
    }
    // CyberArk and other PascalCase APIs.
    if let Some(message) = value.get("ErrorMessage").and_then(s) {
        return (value.get("ErrorCode").and_then(code_of), tidy(message));
    }
    match value.get("error") {
        // OAuth 2.0.
        Some(serde_json::Value::String(code)) => {
            let message = value
                .get("error_description")
                .and_then(s)
                .unwrap_or(code.as_str());
            return (Some(code.clone()), tidy(message));
        }
        // Nested {"error": {"code", "message"}}.
        Some(nested @ serde_json::Value::Object(_)) => {
            if let Some(message) = nested.get("message").and_then(s) {
                return (nested.get("code").and_then(code_of), tidy(message));
            }
        }
        _ => {}
    }
    if let Some(detail) = value.get("detail").and_then(s) {
        let message = match value.get("title").and_then(s) {
            Some(title) => format!("{title}: {detail}"),
            None => detail.to_string(),
        };
        return (value.get("type").and_then(code_of), tidy(&message));
    }
    for key in ["message", "Message", "title"] {
        if let Some(message) = value.get(key).and_then(s) {
            let code = value
                .get("code")
                .or_else(|| value.get("Code"))
                .and_then(code_of);
            return (code, tidy(message));
        }
    }
    (None, tidy(&text))
}

fn non_json_message(text: &str) -> String {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return "(empty body)".to_string();
    }
    let lower = trimmed.to_ascii_lowercase();
    if lower.starts_with("<!doctype html") || lower.starts_with("<html") {
        let title = lower
            .find("<title>")
            .and_then(|start| {
                let rest = &trimmed[start + 7..];
                rest.find('<').map(|end| rest[..end].trim().to_string())
            })
            .filter(|t| !t.is_empty());
        return match title {
            Some(title) => format!(
                "an HTML page ({title}), not an API answer: check the base URL and the path"
            ),
            None => "an HTML page, not an API answer: check the base URL and the path".to_string(),
        };
    }
    tidy(trimmed.lines().next().unwrap_or(trimmed))
}

/// One line, at most 300 characters.
fn tidy(message: &str) -> String {
    let one_line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 300 {
        let cut: String = one_line.chars().take(300).collect();
        format!("{cut}…")
    } else {
        one_line
    }
}

/// A rate limit that lifts at `reset_epoch_secs` (e.g. Okta's `X-Rate-Limit-Reset`).
pub fn rate_limited_until(reset_epoch_secs: u64, detail: impl Into<String>) -> ProviderError {
    ProviderError::RateLimited(RateLimit {
        retry_after_ms: Some(wait_until_ms(reset_epoch_secs)),
        detail: detail.into(),
    })
}

/// Milliseconds to wait for a reset at `reset_epoch_secs`, from now: one
/// second more than the whole seconds left, as the reset is a whole second,
/// `now` is rounded down and clocks drift.
pub fn wait_until_ms(reset_epoch_secs: u64) -> u64 {
    let now = crate::time::unix_now();
    (reset_epoch_secs.saturating_sub(now) + 1) * 1000
}

/// The message an error carries, whatever its kind (for logs).
pub fn message(err: &ProviderError) -> &str {
    match err {
        ProviderError::NotFound(m)
        | ProviderError::Unauthorized(m)
        | ProviderError::Transient(m)
        | ProviderError::Invalid(m)
        | ProviderError::Unsupported(m) => m,
        ProviderError::RateLimited(r) => &r.detail,
    }
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
        match from_status(&response(429, &[]), "slow down") {
            ProviderError::RateLimited(r) => assert_eq!(r.retry_after_ms, None),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_403_that_is_a_rate_limit_waits_as_asked() {
        match from_status(&response(403, &[("Retry-After", "2")]), "secondary") {
            ProviderError::RateLimited(r) => assert_eq!(r.retry_after_ms, Some(2000)),
            other => panic!("{other:?}"),
        }
        let reset = (crate::time::unix_now() + 5).to_string();
        match from_status(
            &response(
                403,
                &[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", &reset),
                ],
            ),
            "primary",
        ) {
            ProviderError::RateLimited(r) => {
                assert!((5000..=7000).contains(&r.retry_after_ms.unwrap()))
            }
            other => panic!("{other:?}"),
        }
        let budget_left = response(
            403,
            &[
                ("x-ratelimit-remaining", "12"),
                ("x-ratelimit-reset", &reset),
            ],
        );
        assert!(matches!(
            from_status(&budget_left, "no"),
            ProviderError::Unauthorized(_)
        ));
    }

    #[test]
    fn every_error_has_a_message() {
        assert_eq!(message(&invalid("bad")), "bad");
        let limited = from_status(&response(429, &[]), "slow");
        assert_eq!(message(&limited), "HTTP 429: slow");
    }

    #[test]
    fn retry_after_takes_seconds_or_a_past_http_date() {
        assert_eq!(
            retry_after_ms(&response(429, &[("retry-after", " 7 ")])),
            Some(7000)
        );
        assert_eq!(
            retry_after_ms(&response(
                429,
                &[("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT")]
            )),
            Some(0),
            "a date in the past means: now"
        );
        assert_eq!(
            retry_after_ms(&response(429, &[("Retry-After", "soon")])),
            None
        );
    }

    fn parsed(body: &str) -> (Option<String>, String) {
        json_error(body.as_bytes())
    }

    #[test]
    fn reads_the_error_shapes_of_known_providers() {
        assert_eq!(
            parsed(r#"{"errors":["invalid accessor"]}"#),
            (None, "invalid accessor".into())
        );
        assert_eq!(
            parsed(
                "{\"errors\":[\"1 error occurred:\\n\\t* role \\\"x\\\" does not exist\\n\\n\"]}"
            ),
            (None, "1 error occurred: * role \"x\" does not exist".into())
        );
        assert_eq!(
            parsed(r#"{"errors":[]}"#),
            (None, "(no error message)".into())
        );
        assert_eq!(
            parsed(
                r#"{"message":"Validation Failed","errors":[{"resource":"Issue","field":"title","code":"missing_field"}],"documentation_url":"https://docs.github.com/rest","status":"422"}"#
            ),
            (
                Some("422".into()),
                "Validation Failed (title: missing_field)".into()
            )
        );
        assert_eq!(
            parsed(
                r#"{"message":"Validation Failed","errors":[{"resource":"PublicKey","code":"custom","field":"key","message":"key is already in use"}]}"#
            ),
            (None, "Validation Failed (key is already in use)".into())
        );
        assert_eq!(
            parsed(r#"{"message":"Validation Failed","errors":[]}"#),
            (None, "Validation Failed".into())
        );
        assert_eq!(
            parsed(
                r#"{"errorCode":"E0000001","errorSummary":"Api validation failed: x","errorLink":"E0000001","errorId":"oae1","errorCauses":[{"errorSummary":"Cannot suspend a user that is not active"}]}"#
            ),
            (
                Some("E0000001".into()),
                "Api validation failed: x (Cannot suspend a user that is not active)".into()
            )
        );
        assert_eq!(
            parsed(
                r#"{"ErrorCode":"ITATS004E","ErrorMessage":"Authentication failure for User [x]."}"#
            ),
            (
                Some("ITATS004E".into()),
                "Authentication failure for User [x].".into()
            )
        );
        assert_eq!(
            parsed(
                r#"{"error":"invalid_client","error_description":"Client authentication failed."}"#
            ),
            (
                Some("invalid_client".into()),
                "Client authentication failed.".into()
            )
        );
        assert_eq!(
            parsed(r#"{"error":{"code":404,"message":"gone"}}"#),
            (Some("404".into()), "gone".into())
        );
        assert_eq!(
            parsed(r#"{"type":"about:blank","title":"Not Found","detail":"no user 7"}"#),
            (Some("about:blank".into()), "Not Found: no user 7".into())
        );
        assert_eq!(
            parsed(r#"{"Message":"The requested resource does not support http method 'PUT'."}"#),
            (
                None,
                "The requested resource does not support http method 'PUT'.".into()
            )
        );
    }

    #[test]
    fn names_html_pages_and_keeps_other_text_short() {
        let (_, message) = json_error(
            b"<!DOCTYPE html><html><head><title>404 - File or directory not found.</title></head></html>",
        );
        assert!(message.starts_with("an HTML page (404 - File"), "{message}");
        assert!(message.contains("check the base URL"));
        assert_eq!(json_error(b"").1, "(empty body)");
        assert_eq!(json_error(b"upstream timeout\nmore").1, "upstream timeout");
        assert_eq!(
            json_error("x".repeat(400).as_bytes()).1.chars().count(),
            301
        );
    }
}
