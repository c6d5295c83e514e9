//! Blocking HTTP for plugins, over `wasi:http`.
//!
//! The host decides which origins a plugin may reach; a request to any other
//! origin fails here with [`ProviderError::Invalid`] (and the host fails the
//! action whatever the plugin returns). Transport failures are
//! [`ProviderError::Transient`], so the host retries them.

use crate::ProviderError;
use std::time::Duration;
use wstd::http::{Body, Client, ErrorCode};

/// The `User-Agent` sent when a plugin sets none.
pub const USER_AGENT: &str = concat!("cordon-plugin-sdk/", env!("CARGO_PKG_VERSION"));

/// HTTP methods plugins use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    /// The method's name, e.g. `GET`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// A request being built.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Option<Duration>,
}

impl Request {
    /// A request to an absolute URL (`https://host[:port]/path?query`).
    pub fn new(method: Method, url: impl Into<String>) -> Request {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
        }
    }

    pub fn get(url: impl Into<String>) -> Request {
        Request::new(Method::Get, url)
    }

    pub fn post(url: impl Into<String>) -> Request {
        Request::new(Method::Post, url)
    }

    pub fn put(url: impl Into<String>) -> Request {
        Request::new(Method::Put, url)
    }

    pub fn delete(url: impl Into<String>) -> Request {
        Request::new(Method::Delete, url)
    }

    pub fn patch(url: impl Into<String>) -> Request {
        Request::new(Method::Patch, url)
    }

    /// Sets a header, replacing any earlier value of the same name
    /// (case-insensitive): a plugin's `Accept` replaces the default one.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        let name = name.into();
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        self.headers.push((name, value.into()));
        self
    }

    /// Adds a header even if one of that name is already set (for the rare
    /// header that may repeat).
    pub fn append_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and its content type.
    pub fn json(self, value: &serde_json::Value) -> Request {
        self.header("content-type", "application/json")
            .body(value.to_string())
    }

    /// Limits the wait for a connection and for the response (the host caps
    /// it to the plugin's call timeout in any case).
    pub fn timeout(mut self, timeout: Duration) -> Request {
        self.timeout = Some(timeout);
        self
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The headers set so far.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// Headers, mutably (for signers that add their own).
    pub fn headers_mut(&mut self) -> &mut Vec<(String, String)> {
        &mut self.headers
    }

    /// The body set so far.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }

    /// The headers as they go out: those set, plus a `User-Agent` when none
    /// is (some APIs, GitHub's among them, refuse requests without one) and
    /// the body's `Content-Length` (a fixed body is never sent chunked; a
    /// `POST`, `PUT`, `PATCH` or `DELETE` without a body says
    /// `Content-Length: 0`: a body of unknown length would go out chunked,
    /// and a server that answers a `DELETE` without reading its (empty)
    /// chunked body resets the connection).
    pub fn wire_headers(&self) -> Vec<(String, String)> {
        let mut headers = self.headers.clone();
        let has = |headers: &[(String, String)], name: &str| {
            headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        if !has(&headers, "user-agent") {
            headers.push(("user-agent".to_string(), USER_AGENT.to_string()));
        }
        let carries_body = !self.body.is_empty()
            || matches!(
                self.method,
                Method::Post | Method::Put | Method::Patch | Method::Delete
            );
        if carries_body {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case("content-length"));
            headers.push(("content-length".to_string(), self.body.len().to_string()));
        }
        headers
    }

    /// Sends the request and reads the whole response.
    pub fn send(self) -> Result<Response, ProviderError> {
        let method = self.method;
        let url = self.url.clone();
        wstd::runtime::block_on(async move { self.send_async().await })
            .map_err(|err| transport_error(method, &url, err))
    }

    async fn send_async(self) -> Result<Response, wstd::http::Error> {
        let mut builder = wstd::http::Request::builder()
            .method(self.method.as_str())
            .uri(&self.url);
        for (name, value) in &self.wire_headers() {
            builder = builder.header(name.as_str(), value.as_str());
        }
        // wstd writes a complete body with one `write`, even an empty one; a
        // host that already closed the body stream (the request's
        // `Content-Length: 0` said it is complete, or a GET has none) fails
        // that write, and the call with it ("connection reset"), at random.
        // An empty body is therefore a stream with no chunk: nothing is
        // written, the body is just finished.
        let body = if self.body.is_empty() {
            Body::from_stream(futures_lite::stream::empty::<Vec<u8>>())
        } else {
            Body::from(self.body)
        };
        let request = builder.body(body)?;
        let mut client = Client::new();
        if let Some(timeout) = self.timeout {
            client.set_connect_timeout(timeout);
            client.set_first_byte_timeout(timeout);
            client.set_between_bytes_timeout(timeout);
        }
        let mut response = client.send(request).await?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response.body_mut().contents().await?.to_vec();
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

fn transport_error(method: Method, url: &str, err: wstd::http::Error) -> ProviderError {
    let target = strip_query(url);
    match err.downcast_ref::<ErrorCode>() {
        Some(ErrorCode::HttpRequestDenied) => ProviderError::Invalid(format!(
            "{} {target} was denied by the host: the origin is not in this plugin's allowed_hosts",
            method.as_str()
        )),
        Some(code) => {
            ProviderError::Transient(format!("{} {target} failed: {code:?}", method.as_str()))
        }
        None => ProviderError::Transient(format!("{} {target} failed: {err}", method.as_str())),
    }
}

/// A URL without its query string (queries may carry credentials).
pub fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// A complete response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; a malformed body is a transient error (a
    /// proxy's error page, a truncated response).
    pub fn json(&self) -> Result<serde_json::Value, ProviderError> {
        serde_json::from_slice(&self.body).map_err(|err| {
            ProviderError::Transient(format!(
                "expected a JSON response (status {}), got something else: {err}",
                self.status
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(headers: &[(String, String)], name: &str) -> Vec<String> {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    }

    #[test]
    fn a_header_set_twice_goes_out_once() {
        let request = Request::get("https://x/")
            .header("accept", "application/json")
            .header("Accept", "application/vnd.github+json");
        assert_eq!(
            names(&request.wire_headers(), "accept"),
            ["application/vnd.github+json"]
        );
        let repeated = Request::get("https://x/")
            .append_header("x-tag", "a")
            .append_header("x-tag", "b");
        assert_eq!(names(&repeated.wire_headers(), "x-tag"), ["a", "b"]);
    }

    #[test]
    fn every_request_names_its_user_agent_unless_the_plugin_does() {
        let default = Request::get("https://x/").wire_headers();
        assert_eq!(names(&default, "user-agent"), [USER_AGENT]);
        assert!(USER_AGENT.starts_with("cordon-plugin-sdk/"));
        let own = Request::get("https://x/")
            .header("User-Agent", "acme-cordon/1.0")
            .wire_headers();
        assert_eq!(names(&own, "user-agent"), ["acme-cordon/1.0"]);
    }

    #[test]
    fn fixed_bodies_carry_their_length() {
        let json = Request::post("https://x/").json(&serde_json::json!({"a": 1}));
        assert_eq!(names(&json.wire_headers(), "content-length"), ["7"]);
        let empty_put = Request::put("https://x/users/u/suspended");
        assert_eq!(names(&empty_put.wire_headers(), "content-length"), ["0"]);
        let get = Request::get("https://x/");
        assert!(names(&get.wire_headers(), "content-length").is_empty());
        let empty_delete = Request::delete("https://x/repos/o/r/keys/7");
        assert_eq!(names(&empty_delete.wire_headers(), "content-length"), ["0"]);
        let delete_with_body = Request::delete("https://x/grant").body("{}");
        assert_eq!(
            names(&delete_with_body.wire_headers(), "content-length"),
            ["2"]
        );
    }
}
