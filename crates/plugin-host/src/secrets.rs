//! Secrets granted to a plugin: resolved from the operator's references,
//! handed only to that plugin, and scrubbed from everything the host writes.

use crate::settings::{PluginConfig, SecretRef, SecretSource};
use cordon_input::InputErrors;
use cordon_input::diagnostic::located_error;
use std::collections::BTreeMap;
use std::fmt;
use zeroize::Zeroizing;

/// The secret values granted to one plugin.
pub struct Secrets {
    values: BTreeMap<String, Zeroizing<String>>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Shortest value the redactor scrubs; shorter ones would mangle ordinary text.
const MIN_REDACTED_LEN: usize = 4;

impl Secrets {
    /// Resolves every reference of `plugin`, reporting each one that cannot be
    /// read (by name and source, never by value).
    pub fn resolve(plugin: &PluginConfig) -> Result<Secrets, InputErrors> {
        let mut values = BTreeMap::new();
        let mut errors = InputErrors::default();
        for (name, reference) in &plugin.secrets {
            match read(reference) {
                Ok(value) => {
                    values.insert(name.clone(), value);
                }
                Err(message) => errors.push(located_error(
                    &reference.location,
                    format!("plugins.{}.secrets.{name}", plugin.name),
                    message,
                )),
            }
        }
        errors.into_result(Secrets { values })
    }

    /// Secrets from values (tests and benchmarks).
    pub fn from_values(values: impl IntoIterator<Item = (String, String)>) -> Secrets {
        Secrets {
            values: values
                .into_iter()
                .map(|(k, v)| (k, Zeroizing::new(v)))
                .collect(),
        }
    }

    /// No secrets: the start of a call's derived ones.
    pub fn none() -> Secrets {
        Secrets {
            values: BTreeMap::new(),
        }
    }

    /// Adds a value to scrub: a secret the plugin derived during a call
    /// (host `redact`). Values shorter than the redactor's minimum are
    /// ignored, as for granted ones.
    pub fn add_derived(&mut self, value: String) {
        if value.len() >= MIN_REDACTED_LEN {
            let name = format!("derived#{}", self.values.len());
            self.values.insert(name, Zeroizing::new(value));
        }
    }

    /// The value of a granted secret.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|v| v.as_str())
    }

    /// Whether `name` was granted.
    pub fn is_granted(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// `text` with every granted secret value replaced by `[REDACTED]`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for value in self.values.values() {
            if value.len() >= MIN_REDACTED_LEN && out.contains(value.as_str()) {
                out = out.replace(value.as_str(), "[REDACTED]");
            }
        }
        out
    }
}

impl SecretRef {
    /// Reads the secret's value now (an error names where it was looked for,
    /// never a value).
    pub fn read(&self) -> Result<Zeroizing<String>, String> {
        read(self)
    }
}

fn read(reference: &SecretRef) -> Result<Zeroizing<String>, String> {
    let value = match &reference.source {
        SecretSource::Env(var) => {
            std::env::var(var).map_err(|_| format!("{} is not set", reference.source))?
        }
        SecretSource::File(path) => read_file(path)
            .map_err(|why| format!("cannot read {}: {why}", reference.source))?
            .trim_end_matches(['\r', '\n'])
            .to_string(),
    };
    if value.is_empty() {
        return Err(format!("{} is empty", reference.source));
    }
    Ok(Zeroizing::new(value))
}

/// The most a secret file may hold.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Reads a secret file, refusing anything but a regular file of at most
/// [`MAX_SECRET_BYTES`]: a FIFO or device would block or never end.
fn read_file(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read;
    let kind = |err: std::io::Error| err.kind().to_string();
    let metadata = std::fs::metadata(path).map_err(kind)?;
    if !metadata.is_file() {
        return Err("it is not a regular file (a FIFO, device or folder is never read)".into());
    }
    if metadata.len() > MAX_SECRET_BYTES {
        return Err(format!("it holds more than {MAX_SECRET_BYTES} bytes"));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(kind)?
        .take(MAX_SECRET_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(kind)?;
    if text.len() as u64 > MAX_SECRET_BYTES {
        return Err(format!("it holds more than {MAX_SECRET_BYTES} bytes"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_granted_values_everywhere() {
        let secrets = Secrets::from_values([
            ("key".to_string(), "wJalrXUtnFEMI".to_string()),
            ("short".to_string(), "ab".to_string()),
        ]);
        assert_eq!(
            secrets.redact("sig over wJalrXUtnFEMI and wJalrXUtnFEMI, ab"),
            "sig over [REDACTED] and [REDACTED], ab"
        );
        assert!(!format!("{secrets:?}").contains("wJalr"));
    }
}
