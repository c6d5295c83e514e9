//! Secrets, configuration and logging, from the host.

use crate::ProviderError;
use crate::bindings::cordon::provider::host;

/// A secret granted to this plugin. Asking for one that was not granted is
/// reported by the host as a sandbox violation and fails the action.
pub fn secret(name: &str) -> Result<String, ProviderError> {
    host::secret(name).map_err(ProviderError::Unauthorized)
}

/// A configuration value set by the operator, if set and not empty.
pub fn config(key: &str) -> Option<String> {
    host::config(key).filter(|v| !v.is_empty())
}

/// Treats `value` as a secret for the rest of this call: the host scrubs it
/// from everything the call returns, logs and records, like a granted
/// secret. Call it for every secret the plugin obtains itself (a logon
/// token, a session cookie, a signed URL) as soon as it has it.
pub fn redact(value: &str) {
    host::redact(value);
}

/// A config value or a default.
pub fn config_or(key: &str, default: &str) -> String {
    config(key).unwrap_or_else(|| default.to_string())
}

/// Logging into the host's log (granted secret values are redacted there too).
pub mod log {
    use super::host::{self, LogLevel};

    pub fn debug(message: &str) {
        host::log(LogLevel::Debug, message);
    }

    pub fn info(message: &str) {
        host::log(LogLevel::Info, message);
    }

    pub fn warn(message: &str) {
        host::log(LogLevel::Warn, message);
    }

    pub fn error(message: &str) {
        host::log(LogLevel::Error, message);
    }
}
