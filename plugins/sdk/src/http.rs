//! Blocking HTTP for plugins, over `wasi:http`.
//!
//! The host decides which origins a plugin may reach; a request to any other
//! origin fails here with [`ProviderError::Invalid`] (and the host fails the
//! action whatever the plugin returns). Transport failures are
//! [`ProviderError::Transient`], so the host retries them.

use crate::ProviderError;
use std::time::Duration;
use wstd::http::{Body, Client, ErrorCode};

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

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
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
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = builder.body(Body::from(self.body))?;
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
