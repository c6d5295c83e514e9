//! A client for JSON REST APIs, shared by every plugin that talks to one
//! (Vault, Okta, CyberArk, …): base URL checks, safe URL building,
//! authentication headers, error bodies, rate limits.
//!
//! ```ignore
//! use cordon_plugin_sdk::rest::{Api, ApiPath};
//!
//! let api = Api::new(&config_or("org_url", ""))?
//!     .authorization("SSWS", &secret("api_token")?)
//!     .track_rate_limit_budget();
//! let user = api
//!     .get(&ApiPath::new("api/v1/users").segment(&target.id))?
//!     .json()?;
//! ```
//!
//! - [`ApiPath`] builds paths from literal parts the plugin writes and values
//!   that come from signals, percent-encoding the values so an identity id
//!   can never change the path (`../`, `?`, `#`).
//! - Unsuccessful answers become [`ApiError`]s carrying the status, the
//!   provider's error code and message (read by
//!   [`crate::errors::json_error`]) and, for 429s, how long to wait
//!   ([`crate::ratelimit::wait_ms`]). Plugins match on them for provider
//!   quirks and let `?` turn the rest into the usual [`ProviderError`]s.
//! - With [`Api::track_rate_limit_budget`], a call that already spent the
//!   window's budget (`X-Rate-Limit-Remaining: 0`) returns rate-limited
//!   instead of sending a request the provider would refuse.
//! - Header values (credentials) never appear in errors; URLs in errors are
//!   paths without their query.

use crate::http::{Method, Request, Response};
pub use crate::path::ApiPath;
use crate::ratelimit::Budget;
use crate::{ProviderError, RateLimit};
use std::cell::Cell;
use std::time::Duration;

/// An unsuccessful answer from the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The request's method.
    pub method: Method,
    /// The request's path (with the base URL's path), without query.
    pub path: String,
    /// The HTTP status.
    pub status: u16,
    /// The provider's error code, when its body has one (`E0000007`).
    pub code: Option<String>,
    /// The provider's error message (one line).
    pub message: String,
    /// Whether the answer is a rate limit: a 429, or a 403 with a
    /// `Retry-After` or a spent budget (GitHub), see
    /// [`crate::ratelimit::refusal_wait_ms`].
    pub rate_limited: bool,
    /// For a rate limit: how long the provider asked us to wait.
    pub wait_ms: Option<u64>,
}

impl ApiError {
    /// Reads an unsuccessful response.
    pub fn from_response(method: Method, path: &str, response: &Response) -> ApiError {
        let (code, message) = crate::errors::json_error(&response.body);
        ApiError {
            method,
            path: path.to_string(),
            status: response.status,
            code,
            message,
            rate_limited: crate::ratelimit::refusal_wait_ms(response).is_some(),
            wait_ms: crate::ratelimit::refusal_wait_ms(response).flatten(),
        }
    }

    /// Whether the provider's message contains `text` (case-insensitive).
    pub fn mentions(&self, text: &str) -> bool {
        self.message
            .to_ascii_lowercase()
            .contains(&text.to_ascii_lowercase())
    }

    /// Whether the provider's error code is `code`.
    pub fn has_code(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// `POST /v1/x: HTTP 400 [CODE] message`.
    pub fn summary(&self) -> String {
        let code = self
            .code
            .as_deref()
            .map(|c| format!(" {c}"))
            .unwrap_or_default();
        format!(
            "{} /{}: HTTP {}{code}: {}",
            self.method.as_str(),
            self.path,
            self.status,
            self.message
        )
    }

    /// The usual mapping: a rate limit (429, or a rate-limiting 403) →
    /// rate limited (with the provider's wait), 401/403 → unauthorized, 404 →
    /// not found, 408 and 5xx → transient, other statuses → invalid.
    pub fn to_provider_error(&self) -> ProviderError {
        let message = self.summary();
        if self.rate_limited || self.status == 429 {
            return ProviderError::RateLimited(RateLimit {
                retry_after_ms: self.wait_ms,
                detail: message,
            });
        }
        match self.status {
            401 | 403 => ProviderError::Unauthorized(message),
            404 => ProviderError::NotFound(message),
            408 | 500..=599 => ProviderError::Transient(message),
            _ => ProviderError::Invalid(message),
        }
    }
}

impl From<ApiError> for ProviderError {
    fn from(err: ApiError) -> ProviderError {
        err.to_provider_error()
    }
}

/// Why a call did not succeed.
#[derive(Debug, Clone)]
pub enum CallError {
    /// The provider answered with an unsuccessful status.
    Api(ApiError),
    /// There was no answer (transport failure, origin denied by the host) or
    /// the request was not sent (bad path, spent rate-limit budget).
    Local(ProviderError),
}

impl CallError {
    /// The provider's answer, if there was one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            CallError::Api(e) => Some(e),
            CallError::Local(_) => None,
        }
    }

    /// The HTTP status, if the provider answered.
    pub fn status(&self) -> Option<u16> {
        self.api().map(|e| e.status)
    }
}

impl From<CallError> for ProviderError {
    fn from(err: CallError) -> ProviderError {
        match err {
            CallError::Api(e) => e.to_provider_error(),
            CallError::Local(e) => e,
        }
    }
}

/// A JSON REST API at one base URL, with its authentication headers.
#[derive(Debug)]
pub struct Api {
    base: String,
    headers: Vec<(String, String)>,
    budget: Option<Cell<Option<Budget>>>,
    timeout: Option<Duration>,
}

impl Api {
    /// An API at `base_url` (`https://host[:port][/prefix]`). Anything but an
    /// absolute http(s) URL without query or fragment is invalid; a trailing
    /// `/` is dropped.
    pub fn new(base_url: &str) -> Result<Api, ProviderError> {
        let base = base_url.trim().trim_end_matches('/');
        let rest = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"));
        let valid = rest.is_some_and(|r| {
            let host = r.split('/').next().unwrap_or("");
            !host.is_empty() && !r.contains(['?', '#', ' ']) && !host.contains('@')
        });
        if !valid {
            return Err(ProviderError::Invalid(format!(
                "`{base_url}` is not a base URL: expected https://host[:port][/path] (no query, no credentials)"
            )));
        }
        Ok(Api {
            base: base.to_string(),
            headers: Vec::new(),
            budget: None,
            timeout: None,
        })
    }

    /// Sends `name: value` with every request (replacing an earlier value).
    pub fn header(mut self, name: &str, value: &str) -> Api {
        self.set_header(name, value);
        self
    }

    /// Sets (or replaces) a header sent with every request, e.g. a session
    /// token obtained by logging on.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
    }

    /// `Authorization: <scheme> <credentials>`, e.g. `SSWS …` for Okta API
    /// tokens; an empty scheme sends the credentials raw (CyberArk).
    pub fn authorization(self, scheme: &str, credentials: &str) -> Api {
        let value = if scheme.is_empty() {
            credentials.to_string()
        } else {
            format!("{scheme} {credentials}")
        };
        self.header("authorization", &value)
    }

    /// `Authorization: Basic base64(user:password)` (RFC 7617), e.g. an
    /// OAuth app's client id and secret.
    pub fn basic(self, user: &str, password: &str) -> Api {
        let credentials = crate::encoding::base64(format!("{user}:{password}").as_bytes());
        self.authorization("Basic", &credentials)
    }

    /// `Authorization: Bearer <token>` (OAuth 2.0 access tokens).
    pub fn bearer(self, token: &str) -> Api {
        self.authorization("Bearer", token)
    }

    /// Follows the `X-Rate-Limit-Remaining`/`X-Rate-Limit-Reset` budget the
    /// provider announces: once it is spent, requests are not sent and fail
    /// as rate limited until the reset.
    pub fn track_rate_limit_budget(mut self) -> Api {
        self.budget = Some(Cell::new(None));
        self
    }

    /// Limits the wait for each answer (the host's call timeout applies anyway).
    pub fn timeout(mut self, timeout: Duration) -> Api {
        self.timeout = Some(timeout);
        self
    }

    /// The base URL, without trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The host (and port) of the base URL, e.g. `example.okta.com`.
    pub fn host(&self) -> &str {
        let rest = self.base.split_once("://").map_or(&*self.base, |(_, r)| r);
        rest.split('/').next().unwrap_or(rest)
    }

    /// The path part of the base URL without its slashes (`v1`,
    /// `PasswordVault`), or empty.
    pub fn base_path(&self) -> &str {
        let rest = self.base.split_once("://").map_or(&*self.base, |(_, r)| r);
        rest.split_once('/')
            .map_or("", |(_, p)| p.trim_matches('/'))
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &ApiPath) -> String {
        format!("{}/{path}", self.base)
    }

    /// The budget the last answer announced, when tracking it.
    pub fn budget(&self) -> Option<Budget> {
        self.budget.as_ref().and_then(Cell::get)
    }

    /// `GET`.
    pub fn get(&self, path: &ApiPath) -> Result<Response, CallError> {
        self.send(Method::Get, path, None)
    }

    /// `POST` with a JSON body.
    pub fn post_json(
        &self,
        path: &ApiPath,
        body: &serde_json::Value,
    ) -> Result<Response, CallError> {
        self.send(Method::Post, path, Some(body))
    }

    /// `POST` without a body.
    pub fn post_empty(&self, path: &ApiPath) -> Result<Response, CallError> {
        self.send(Method::Post, path, None)
    }

    /// `PATCH` with a JSON body.
    pub fn patch_json(
        &self,
        path: &ApiPath,
        body: &serde_json::Value,
    ) -> Result<Response, CallError> {
        self.send(Method::Patch, path, Some(body))
    }

    /// `PUT` with a JSON body.
    pub fn put_json(
        &self,
        path: &ApiPath,
        body: &serde_json::Value,
    ) -> Result<Response, CallError> {
        self.send(Method::Put, path, Some(body))
    }

    /// `PUT` without a body (sent with `Content-Length: 0`).
    pub fn put_empty(&self, path: &ApiPath) -> Result<Response, CallError> {
        self.send(Method::Put, path, None)
    }

    /// `DELETE`.
    pub fn delete(&self, path: &ApiPath) -> Result<Response, CallError> {
        self.send(Method::Delete, path, None)
    }

    /// `DELETE` with a JSON body (e.g. GitHub's OAuth grant revocation).
    pub fn delete_json(
        &self,
        path: &ApiPath,
        body: &serde_json::Value,
    ) -> Result<Response, CallError> {
        self.send(Method::Delete, path, Some(body))
    }

    /// Sends `User-Agent: <value>` (the SDK's own is sent otherwise).
    pub fn user_agent(self, value: &str) -> Api {
        self.header("user-agent", value)
    }

    /// The request [`Api::send`] would send: `Accept: application/json`
    /// unless the API sets its own `Accept`, the API's headers, the body.
    pub fn request(
        &self,
        method: Method,
        path: &ApiPath,
        body: Option<&serde_json::Value>,
    ) -> Request {
        let mut request = Request::new(method, self.url(path)).header("accept", "application/json");
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(timeout) = self.timeout {
            request = request.timeout(timeout);
        }
        request
    }

    /// Sends a request; a 2xx answer is `Ok`, anything else an [`ApiError`].
    pub fn send(
        &self,
        method: Method,
        path: &ApiPath,
        body: Option<&serde_json::Value>,
    ) -> Result<Response, CallError> {
        if let Some(problem) = path.problem() {
            return Err(CallError::Local(ProviderError::Invalid(
                problem.to_string(),
            )));
        }
        if let Some(budget) = self.budget()
            && budget.exhausted_at(crate::time::unix_now())
        {
            return Err(CallError::Local(budget.wait_error(format!(
                "the rate-limit budget of this window is spent (X-Rate-Limit-Remaining: 0): not sending {} /{} before {}",
                method.as_str(),
                path.path(),
                budget.reset_epoch_secs
            ))));
        }
        let response = self
            .request(method, path, body)
            .send()
            .map_err(CallError::Local)?;
        if let Some(cell) = &self.budget
            && let Some(budget) = Budget::from_response(&response)
        {
            cell.set(Some(budget));
        }
        if response.is_success() {
            Ok(response)
        } else {
            let shown = match self.base_path() {
                "" => path.path().to_string(),
                prefix => format!("{prefix}/{}", path.path()),
            };
            Err(CallError::Api(ApiError::from_response(
                method, &shown, &response,
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_base_urls() {
        let api = Api::new("https://example.okta.com/").unwrap();
        assert_eq!(api.base_url(), "https://example.okta.com");
        assert_eq!(api.host(), "example.okta.com");
        let pvwa = Api::new("http://127.0.0.1:8202/PasswordVault").unwrap();
        assert_eq!(
            pvwa.url(&ApiPath::new("API/Accounts").segment("12_34")),
            "http://127.0.0.1:8202/PasswordVault/API/Accounts/12_34"
        );
        assert_eq!(pvwa.host(), "127.0.0.1:8202");
        assert_eq!(pvwa.base_path(), "PasswordVault");
        assert_eq!(api.base_path(), "");
        for bad in [
            "",
            "example.okta.com",
            "ftp://x",
            "https://",
            "https://x?y=1",
            "https://user:pw@x",
        ] {
            assert!(
                matches!(Api::new(bad), Err(ProviderError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn headers_replace_and_authorization_schemes() {
        let api = Api::new("https://x")
            .unwrap()
            .authorization("SSWS", "t1")
            .bearer("t2");
        assert_eq!(
            api.headers,
            [("authorization".to_string(), "Bearer t2".to_string())]
        );
        let raw = Api::new("https://x").unwrap().authorization("", "tok");
        assert_eq!(raw.headers[0].1, "tok");
    }

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn maps_api_errors() {
        let err = ApiError::from_response(
            Method::Post,
            "v1/auth/token/revoke-accessor",
            &response(400, &[], r#"{"errors":["invalid accessor"]}"#),
        );
        assert!(err.mentions("Invalid Accessor"));
        assert_eq!(
            err.summary(),
            "POST /v1/auth/token/revoke-accessor: HTTP 400: invalid accessor"
        );
        assert!(matches!(err.to_provider_error(), ProviderError::Invalid(_)));
        let okta = ApiError::from_response(
            Method::Get,
            "api/v1/users/x",
            &response(
                404,
                &[],
                r#"{"errorCode":"E0000007","errorSummary":"Not found: Resource not found: x (User)"}"#,
            ),
        );
        assert!(okta.has_code("E0000007"));
        assert!(matches!(
            ProviderError::from(okta),
            ProviderError::NotFound(m) if m.contains("E0000007") && m.contains("GET /api/v1/users/x")
        ));
        let limited = ApiError::from_response(
            Method::Get,
            "x",
            &response(429, &[("Retry-After", "4")], r#"{"errors":["quota"]}"#),
        );
        assert!(matches!(
            limited.to_provider_error(),
            ProviderError::RateLimited(RateLimit {
                retry_after_ms: Some(4000),
                ..
            })
        ));
        for (status, unauthorized) in [(401, true), (403, true), (500, false), (503, false)] {
            let e = ApiError::from_response(Method::Get, "x", &response(status, &[], ""));
            assert_eq!(
                matches!(e.to_provider_error(), ProviderError::Unauthorized(_)),
                unauthorized
            );
            assert_eq!(
                matches!(e.to_provider_error(), ProviderError::Transient(_)),
                !unauthorized
            );
        }
    }

    #[test]
    fn an_api_accept_header_replaces_the_default() {
        let api = Api::new("https://api.github.com")
            .unwrap()
            .header("Accept", "application/vnd.github+json");
        let wire = api
            .request(Method::Get, &ApiPath::new("user"), None)
            .wire_headers();
        let accepts: Vec<_> = wire
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("accept"))
            .collect();
        assert_eq!(accepts.len(), 1, "{wire:?}");
        assert_eq!(accepts[0].1, "application/vnd.github+json");
        let put = Api::new("https://x").unwrap().request(
            Method::Put,
            &ApiPath::new("users").segment("u").then("suspended"),
            Some(&serde_json::json!({"reason": "leak"})),
        );
        assert_eq!(put.body_bytes(), br#"{"reason":"leak"}"#);
        assert!(
            put.wire_headers()
                .contains(&("content-length".to_string(), "17".to_string()))
        );
    }

    #[test]
    fn a_rate_limiting_403_is_rate_limited_with_its_wait() {
        let secondary = ApiError::from_response(
            Method::Post,
            "credentials/revoke",
            &response(
                403,
                &[("Retry-After", "2")],
                r#"{"message":"You have exceeded a secondary rate limit."}"#,
            ),
        );
        match secondary.to_provider_error() {
            ProviderError::RateLimited(r) => {
                assert_eq!(r.retry_after_ms, Some(2000));
                assert!(r.detail.contains("secondary rate limit"), "{}", r.detail);
            }
            other => panic!("{other:?}"),
        }
        let refused = ApiError::from_response(
            Method::Post,
            "credentials/revoke",
            &response(403, &[], r#"{"message":"Resource not accessible"}"#),
        );
        assert!(matches!(
            refused.to_provider_error(),
            ProviderError::Unauthorized(_)
        ));
    }

    #[test]
    fn a_validation_failure_keeps_its_message() {
        let err = ApiError::from_response(
            Method::Post,
            "repos/o/r/keys",
            &response(
                422,
                &[],
                r#"{"message":"Validation Failed","errors":[{"resource":"PublicKey","code":"custom","field":"key","message":"key is already in use"}]}"#,
            ),
        );
        assert_eq!(
            err.summary(),
            "POST /repos/o/r/keys: HTTP 422: Validation Failed (key is already in use)"
        );
    }

    #[test]
    fn a_spent_budget_stops_requests_before_they_are_sent() {
        let api = Api::new("http://127.0.0.1:9")
            .unwrap()
            .track_rate_limit_budget();
        let reset = crate::time::unix_now() + 30;
        api.budget.as_ref().unwrap().set(Some(Budget {
            limit: Some(5),
            remaining: 0,
            reset_epoch_secs: reset,
        }));
        match api.get(&ApiPath::new("api/v1/users").segment("x")) {
            Err(CallError::Local(ProviderError::RateLimited(r))) => {
                assert!(r.retry_after_ms.unwrap() >= 30_000);
                assert!(r.detail.contains("not sending GET /api/v1/users/x"));
            }
            other => panic!("{other:?}"),
        }
        let bad = api.get(&ApiPath::new("x").segment(""));
        assert!(matches!(
            bad,
            Err(CallError::Local(ProviderError::Invalid(_)))
        ));
    }
}
