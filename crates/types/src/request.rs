//! What the sandbox records of a plugin's outbound requests.

use serde::{Deserialize, Serialize};

/// One outbound HTTP request, as recorded with the action (never headers or bodies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// The HTTP method.
    pub method: String,
    /// `scheme://host:port`.
    pub origin: String,
    /// The path without its query string (queries can carry credentials).
    pub path: String,
    /// The response status, when one arrived.
    pub status: Option<u16>,
    /// How long the request took.
    pub duration_ms: u64,
    /// Set when the allow-list refused the request.
    pub denied: bool,
    /// A transport error, when the request failed without a response.
    pub error: Option<String>,
}
