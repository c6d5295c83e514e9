//! What a plugin is granted in the operator config: its component and
//! digest pin, the origins it may reach, its secrets (by reference), plain
//! settings and limits. `cordon`'s config parser builds these.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// One plugin's configuration.
#[derive(Debug, Clone)]
pub struct PluginConfig {
    /// The name playbooks use for it.
    pub name: String,
    /// The component file.
    pub component: PathBuf,
    /// The pinned sha256 of the component file (lowercase hex).
    pub sha256: String,
    /// Origins the plugin may send HTTP requests to; everything else is denied.
    pub allowed_hosts: Vec<Origin>,
    /// Secrets granted to the plugin, by the name the plugin asks for.
    pub secrets: BTreeMap<String, SecretRef>,
    /// Plain configuration values the plugin reads with `config(key)`.
    pub config: BTreeMap<String, String>,
    /// Resource limits of each call.
    pub limits: Limits,
    /// Where the plugin is configured (`file:line:col` of its `component`
    /// field), for load errors; empty when it was not read from a file.
    pub location: String,
}

/// Per-plugin resource limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Wall-clock limit of one call, in milliseconds.
    pub timeout_ms: u64,
    /// Wall-clock limit of one outbound request (to connect, to the first
    /// byte, between bytes), in milliseconds; 0 means half of `timeout_ms`.
    /// A request that hangs past it fails as a transient error the plugin
    /// and the engine retry, while the call still has time to answer.
    pub request_timeout_ms: u64,
    /// CPU time one call may spend running guest code, in milliseconds.
    pub cpu_ms: u64,
    /// Linear memory cap per instance, in MiB.
    pub memory_mb: u64,
    /// How many calls may run at once.
    pub concurrency: u32,
}

impl Limits {
    /// The per-request timeout in force: `request_timeout_ms`, or half the
    /// call's timeout when it is 0, and never past the call's timeout.
    pub fn request_timeout(&self) -> std::time::Duration {
        let ms = match self.request_timeout_ms {
            0 => (self.timeout_ms / 2).max(1),
            ms => ms.min(self.timeout_ms),
        };
        std::time::Duration::from_millis(ms)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout_ms: 10_000,
            request_timeout_ms: 0,
            cpu_ms: 2_000,
            memory_mb: 64,
            concurrency: 16,
        }
    }
}

/// A scheme, host and port a plugin may reach, e.g. `https://iam.amazonaws.com:443`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// `http` or `https`, lowercase.
    pub scheme: String,
    /// The host name or address, lowercase.
    pub host: String,
    /// The port, explicit or the scheme's default.
    pub port: u16,
}

/// Why text is not an [`Origin`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    /// No `://` separates a scheme from the rest.
    #[error("`{text}` is not an origin like https://host[:port]")]
    NotAnOrigin {
        /// The text as given.
        text: String,
    },
    /// The scheme is neither `http` nor `https`.
    #[error("scheme `{scheme}` is not http or https")]
    Scheme {
        /// The scheme, lowercased.
        scheme: String,
    },
    /// A path, query, fragment or user part follows the host.
    #[error("`{text}` must be an origin only (scheme, host, port), without path, query or user")]
    NotOnlyOrigin {
        /// The text as given.
        text: String,
    },
    /// The port is not a number from 0 to 65535.
    #[error("port `{port}` in `{text}` is not a number")]
    Port {
        /// The port as written.
        port: String,
        /// The text as given.
        text: String,
    },
    /// The host is neither a name, an IPv4 address nor a bracketed IPv6 address.
    #[error("`{text}` does not name a host (a DNS name, an IPv4 address or [an IPv6 address])")]
    Host {
        /// The text as given.
        text: String,
    },
    /// Nothing names a host.
    #[error("`{text}` has no host")]
    NoHost {
        /// The text as given.
        text: String,
    },
}

impl Origin {
    /// Parses `scheme://host[:port]` (a trailing `/` is allowed, a path is not).
    pub fn parse(text: &str) -> Result<Origin, OriginError> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| OriginError::NotAnOrigin { text: text.into() })?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return Err(OriginError::Scheme { scheme }),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@']) {
            return Err(OriginError::NotOnlyOrigin { text: text.into() });
        }
        let port_of = |port: &str| {
            port.parse::<u16>().map_err(|_| OriginError::Port {
                port: port.into(),
                text: text.into(),
            })
        };
        let bad_host = || OriginError::Host { text: text.into() };
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            // An IPv6 literal: `[addr]` or `[addr]:port`.
            let (addr, after) = inner.split_once(']').ok_or_else(bad_host)?;
            addr.parse::<std::net::Ipv6Addr>().map_err(|_| bad_host())?;
            let port = match after {
                "" => default_port,
                after => port_of(after.strip_prefix(':').ok_or_else(bad_host)?)?,
            };
            (format!("[{addr}]"), port)
        } else {
            let (host, port) = match rest.rsplit_once(':') {
                Some((host, port)) => (host, port_of(port)?),
                None => (rest, default_port),
            };
            if host.is_empty() {
                return Err(OriginError::NoHost { text: text.into() });
            }
            let valid = host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
            if !valid {
                return Err(bad_host());
            }
            (host.to_string(), port)
        };
        Ok(Origin {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// Where a secret's value comes from. The value itself is read only when the
/// plugin is loaded and never printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// Where the value is read from.
    pub source: SecretSource,
    /// `file:line:col` of the reference in the config, for error messages.
    pub location: String,
}

/// The two places a secret can come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `env:NAME`: an environment variable of the `cordon` process.
    Env(String),
    /// `file:PATH`: a file's content, without its trailing newline.
    File(PathBuf),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(name) => write!(f, "environment variable {name}"),
            SecretSource::File(path) => write!(f, "file {}", path.display()),
        }
    }
}
