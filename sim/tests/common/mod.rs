//! Helpers shared by the integration tests.
#![allow(dead_code)]

use reqwest::{Client, Response, StatusCode};
use serde_json::Value;

/// A plain HTTP client (no redirects, short timeout).
pub fn client() -> Client {
    Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("client")
}

/// Status and JSON body (Null when the body is empty or not JSON).
pub async fn parts(resp: Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A header as a string.
pub fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii header").to_owned())
}
