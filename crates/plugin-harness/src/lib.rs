//! An in-process test harness for plugin authors.
//!
//! It loads one component into the real plugin host — the same sandbox,
//! limits, HTTP allow-list and secret grants `cordon` uses — and calls its
//! actions from a plain `#[test]`: no CLI, no store, no playbook, no
//! authority model.
//!
//! ```ignore
//! use cordon_plugin_harness::{Harness, Target};
//! use cordon_types::IdentityKind;
//!
//! let (sim, demo) = cordon_e2e::sims::okta();          // or your own simulator
//! let okta = Harness::new("okta", "target/plugins/okta.wasm")
//!     .allow(&sim.url)
//!     .config("org_url", &sim.url)
//!     .secret("api_token", OKTA_API_TOKEN)
//!     .load()
//!     .unwrap();
//! let alice = Target::new("okta", IdentityKind::User, &demo.alice_id);
//! let planned = okta.call("suspend-user", &alice).dry_run().send();
//! assert_eq!(planned.outcome().unwrap().status, OutcomeStatus::Planned);
//! ```
//!
//! Every call returns a [`Called`]: what the plugin returned (or why it
//! returned nothing, [`cordon_plugin_host::CallError`]) and every request it
//! made, allowed or denied. [`conformance`] is the suite of rules every
//! provider's actions must keep, run on this harness.

#![warn(missing_docs)]

pub mod conformance;

use cordon_plugin_host::{
    CallError, CallReport, Limits, Origin, PluginConfig, PluginHost, SecretRef, SecretSource,
};
use cordon_types::{
    ActionOutcome, ActionRequest, Identity, IdentityFacts, IdentityKind, PluginInfo,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The component file cannot be read.
    #[error("cannot read component {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An origin given to [`Harness::allow`] is not `scheme://host[:port]`.
    #[error("`{origin}` is not an origin: {reason}")]
    Origin {
        /// What was given.
        origin: String,
        /// Why it was refused.
        reason: String,
    },
    /// The host refused the component (bad digest, a required secret not
    /// granted, a `describe` that failed, …).
    #[error("the plugin host refused `{name}`: {message}")]
    Load {
        /// The plugin's name.
        name: String,
        /// The host's message.
        message: String,
    },
    /// Writing a secret or the compile cache failed.
    #[error("harness I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// A plugin being set up: its component, grants and config.
pub struct Harness {
    name: String,
    component: PathBuf,
    allowed: Vec<String>,
    config: BTreeMap<String, String>,
    secrets: BTreeMap<String, String>,
    limits: Limits,
}

impl Harness {
    /// A plugin called `name` (the name playbooks would use) from `component`.
    pub fn new(name: &str, component: impl AsRef<Path>) -> Harness {
        Harness {
            name: name.to_string(),
            component: component.as_ref().to_path_buf(),
            allowed: Vec::new(),
            config: BTreeMap::new(),
            secrets: BTreeMap::new(),
            limits: Limits::default(),
        }
    }

    /// Lets the plugin reach `origin` (`http://127.0.0.1:PORT`; a path is
    /// ignored, as a simulator's URL may carry one).
    pub fn allow(mut self, origin: &str) -> Harness {
        self.allowed.push(origin.to_string());
        self
    }

    /// A config value the plugin reads with `config(key)`.
    pub fn config(mut self, key: &str, value: &str) -> Harness {
        self.config.insert(key.to_string(), value.to_string());
        self
    }

    /// Grants a secret (written to a private temporary file, read by the host
    /// as a `file:` reference, as an operator's would be).
    pub fn secret(mut self, name: &str, value: &str) -> Harness {
        self.secrets.insert(name.to_string(), value.to_string());
        self
    }

    /// The limits of each call (default: the host's defaults).
    pub fn limits(mut self, limits: Limits) -> Harness {
        self.limits = limits;
        self
    }

    /// Pins the component's digest, grants, compiles and asks it to `describe`.
    pub fn load(self) -> Result<Loaded, HarnessError> {
        let bytes = std::fs::read(&self.component).map_err(|source| HarnessError::Read {
            path: self.component.clone(),
            source,
        })?;
        let dir = tempfile::tempdir()?;
        let mut secrets = BTreeMap::new();
        for (name, value) in &self.secrets {
            let path = dir.path().join(format!("secret-{name}"));
            std::fs::write(&path, value)?;
            secrets.insert(
                name.clone(),
                SecretRef {
                    source: SecretSource::File(path),
                    location: format!("harness secret `{name}`"),
                },
            );
        }
        let mut allowed_hosts = Vec::new();
        for text in &self.allowed {
            let origin = origin_of(text);
            allowed_hosts.push(Origin::parse(origin).map_err(|err| HarnessError::Origin {
                origin: text.clone(),
                reason: err.to_string(),
            })?);
        }
        let config = PluginConfig {
            name: self.name.clone(),
            component: self.component.clone(),
            sha256: cordon_plugin_host::cache::sha256_hex(&bytes),
            allowed_hosts,
            secrets,
            config: self.config,
            limits: self.limits,
            location: String::new(),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let cache = dir.path().join("cache");
        let host = runtime
            .block_on(PluginHost::load(&[&config], &cache))
            .map_err(|err| HarnessError::Load {
                name: self.name.clone(),
                message: err.to_string(),
            })?;
        Ok(Loaded {
            name: self.name,
            host,
            runtime,
            _dir: dir,
        })
    }
}

/// `scheme://host[:port]` of a URL (its path dropped).
fn origin_of(url: &str) -> &str {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find('/').map_or(url.len(), |i| scheme.len() + 3 + i);
            &url[..end]
        }
        None => url,
    }
}

/// A loaded plugin, ready to be called.
pub struct Loaded {
    name: String,
    host: PluginHost,
    runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Loaded {
    /// What the plugin said in `describe`.
    pub fn info(&self) -> &PluginInfo {
        self.host.info(&self.name).expect("loaded")
    }

    /// A call of `action` on `target`, to be sent with [`Call::send`].
    pub fn call<'a>(&'a self, action: &str, target: &Identity) -> Call<'a> {
        Call {
            plugin: self,
            request: ActionRequest {
                action: action.to_string(),
                target: target.clone(),
                params: BTreeMap::new(),
                idempotency_key: format!("harness-{action}-{}", target.id),
                dry_run: false,
            },
        }
    }

    /// Asks the plugin what it knows about `identity`.
    pub fn inspect(&self, identity: &Identity) -> Called<IdentityFacts> {
        let report = self
            .runtime
            .block_on(async { self.host.reserve(&self.name).await.inspect(identity).await });
        Called(report)
    }
}

/// One action call being built.
pub struct Call<'a> {
    plugin: &'a Loaded,
    request: ActionRequest,
}

impl Call<'_> {
    /// Plan only.
    pub fn dry_run(mut self) -> Self {
        self.request.dry_run = true;
        self
    }

    /// A parameter.
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.request
            .params
            .insert(name.to_string(), value.to_string());
        self
    }

    /// Sends the call and waits for it.
    pub fn send(self) -> Called<ActionOutcome> {
        let Loaded {
            name,
            host,
            runtime,
            ..
        } = self.plugin;
        let report =
            runtime.block_on(async { host.reserve(name).await.execute(&self.request).await });
        Called(report)
    }
}

/// What a call returned, and the requests it made.
pub struct Called<T>(pub CallReport<T>);

impl<T: std::fmt::Debug> Called<T> {
    /// What the plugin returned, or why it returned nothing.
    pub fn outcome(&self) -> Result<&T, &CallError> {
        self.0.result.as_ref()
    }

    /// What the plugin returned; panics with the error otherwise.
    pub fn expect_ok(&self) -> &T {
        match &self.0.result {
            Ok(value) => value,
            Err(err) => panic!("the call failed: {err}"),
        }
    }

    /// The error; panics if the call succeeded.
    pub fn expect_err(&self) -> &CallError {
        match &self.0.result {
            Ok(value) => panic!("the call succeeded: {value:?}"),
            Err(err) => err,
        }
    }

    /// Every request the plugin made, allowed or denied.
    pub fn requests(&self) -> &[cordon_types::RequestRecord] {
        &self.0.requests
    }
}

/// Builds target identities.
pub struct Target;

impl Target {
    /// `provider:kind:id` without attributes.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(provider: &str, kind: IdentityKind, id: &str) -> Identity {
        Identity {
            provider: provider.to_string(),
            kind,
            id: id.to_string(),
            attributes: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_lose_their_paths() {
        assert_eq!(
            origin_of("http://127.0.0.1:8202/PasswordVault"),
            "http://127.0.0.1:8202"
        );
        assert_eq!(origin_of("http://127.0.0.1:8200"), "http://127.0.0.1:8200");
        assert_eq!(origin_of("nonsense"), "nonsense");
    }

    #[test]
    fn a_missing_component_is_named() {
        let err = Harness::new("x", "/nonexistent/x.wasm")
            .load()
            .err()
            .unwrap();
        assert!(err.to_string().contains("/nonexistent/x.wasm"), "{err}");
    }
}
