//! Paths under an API's base URL, built from literal parts the plugin
//! writes and values that come from signals. Values are percent-encoded, so
//! an identity id can never change the path (`../`, `?`, `#`); an empty
//! value, or a dot segment where several segments are allowed, makes the
//! request fail as invalid before it is sent. Used by [`crate::rest::Api`].

use crate::encoding::percent_encode;
use std::fmt;

/// A path (and query) under an API's base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPath {
    path: String,
    query: Vec<(String, String)>,
    problem: Option<String>,
}

impl ApiPath {
    /// A path written by the plugin (`api/v1/users`), used as is.
    pub fn new(literal: &str) -> ApiPath {
        ApiPath {
            path: literal.trim_matches('/').to_string(),
            query: Vec::new(),
            problem: None,
        }
    }

    /// Appends a literal part written by the plugin (`lifecycle/suspend`).
    pub fn then(mut self, literal: &str) -> ApiPath {
        let literal = literal.trim_matches('/');
        if !literal.is_empty() {
            self.push(literal);
        }
        self
    }

    /// Appends a value (an id from a signal) as exactly one segment: every
    /// character but `A-Z a-z 0-9 - _ . ~` is percent-encoded, `/` included,
    /// and the dot segments `.` and `..` are encoded too. An empty value makes
    /// the request fail as invalid.
    pub fn segment(mut self, value: &str) -> ApiPath {
        if value.is_empty() {
            self.problem
                .get_or_insert_with(|| "an identifier in the request path is empty".into());
        }
        let encoded = match value {
            "." => "%2E".to_string(),
            ".." => "%2E%2E".to_string(),
            _ => percent_encode(value),
        };
        self.push(&encoded);
        self
    }

    /// Appends a value that spans segments (a Vault lease prefix such as
    /// `database/creds/`): `/` separates segments, each is encoded as in
    /// [`ApiPath::segment`]; a trailing `/` is kept. `.`, `..` or empty
    /// segments in the middle make the request fail as invalid.
    pub fn segments(mut self, value: &str) -> ApiPath {
        let trailing = value.ends_with('/') && value.len() > 1;
        let inner = value.strip_suffix('/').unwrap_or(value);
        let parts: Vec<&str> = inner.split('/').collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            self.problem.get_or_insert_with(|| {
                format!("`{value}` is not a valid path: empty, `.` or `..` segments")
            });
        }
        let encoded: Vec<String> = parts.iter().map(|p| percent_encode(p)).collect();
        self.push(&encoded.join("/"));
        if trailing {
            self.path.push('/');
        }
        self
    }

    /// Ends the path with `/` (some APIs document their paths that way,
    /// e.g. CyberArk's `…/Terminate/`).
    pub fn slash(mut self) -> ApiPath {
        if !self.path.ends_with('/') {
            self.path.push('/');
        }
        self
    }

    /// Adds a query parameter (both parts are encoded).
    pub fn query(mut self, name: &str, value: &str) -> ApiPath {
        self.query.push((name.to_string(), value.to_string()));
        self
    }

    /// Why this path must not be sent, if it must not.
    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    /// The path without its query, as errors show it.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn push(&mut self, part: &str) {
        if !self.path.is_empty() && !self.path.ends_with('/') {
            self.path.push('/');
        }
        self.path.push_str(part);
    }
}

impl fmt::Display for ApiPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)?;
        for (i, (name, value)) in self.query.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            write!(f, "{sep}{}={}", percent_encode(name), percent_encode(value))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_paths_from_literals_and_encoded_values() {
        let path = ApiPath::new("/api/v1/users/")
            .segment("alice@example.com")
            .then("lifecycle/suspend");
        assert_eq!(
            path.to_string(),
            "api/v1/users/alice%40example.com/lifecycle/suspend"
        );
        let sneaky = ApiPath::new("api/v1/users")
            .segment("../../admin?x=1#f")
            .segment("..");
        assert_eq!(
            sneaky.to_string(),
            "api/v1/users/..%2F..%2Fadmin%3Fx%3D1%23f/%2E%2E"
        );
        assert_eq!(
            ApiPath::new("API/LiveSessions")
                .segment("a b")
                .then("Terminate")
                .slash()
                .to_string(),
            "API/LiveSessions/a%20b/Terminate/"
        );
        let query = ApiPath::new("API/LiveSessions")
            .query("Search", "svc agent&7")
            .query("Limit", "100");
        assert_eq!(
            query.to_string(),
            "API/LiveSessions?Search=svc%20agent%267&Limit=100"
        );
        assert_eq!(query.path(), "API/LiveSessions");
    }

    #[test]
    fn multi_segment_values_keep_slashes_but_refuse_dot_segments() {
        let prefix = ApiPath::new("sys/leases/revoke-prefix").segments("aws/creds/agent 7/");
        assert_eq!(
            prefix.to_string(),
            "sys/leases/revoke-prefix/aws/creds/agent%207/"
        );
        assert!(prefix.problem().is_none());
        for bad in ["aws/../sys", "a//b", "./x", ""] {
            let path = ApiPath::new("sys/leases/revoke-prefix").segments(bad);
            assert!(path.problem().is_some(), "{bad}");
        }
        assert!(ApiPath::new("x").segment("").problem().is_some());
    }
}
