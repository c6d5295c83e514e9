//! The plugin host: loads provider components and runs their calls in sandboxes.
//!
//! One wasmtime [`Engine`] with the pooling allocator serves every plugin.
//! Each plugin is verified against its pinned sha256, compiled once (and
//! cached on disk; quickly first, optimised in the background: [`tier`]),
//! linked once into an `InstancePre`; every call gets a fresh
//! `Store` with the plugin's memory cap, CPU budget (epoch interruption),
//! wall-clock timeout and HTTP allow-list.

#![warn(missing_docs)]

mod bindings;
pub mod cache;
pub mod caps;
pub mod checkpoint;
mod http_guard;
mod outbound;
mod pool;
mod returned;
mod sandbox;
pub mod secrets;
pub mod settings;
pub mod tier;

pub use cache::CacheUse;
pub use checkpoint::{Checkpoint, Kept};
pub use cordon_types::RequestRecord;
pub use sandbox::Violation;
pub use settings::{Limits, Origin, PluginConfig, SecretRef, SecretSource};
pub use tier::Compiler;

use bindings::{Plugin, PluginPre};
use cordon_input::{Catalogue, InputErrors};
use cordon_types::{
    ActionOutcome, ActionRequest, Identity, IdentityFacts, PluginInfo, ProviderError,
};
use returned::{Returned, redact_error, redact_returned};
use sandbox::{CallLog, Grant, Sandbox};
use secrets::Secrets;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Engine, Store, UpdateDeadline};

/// How often the epoch advances; the granularity of CPU accounting.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Why a plugin could not be loaded. Nothing has run when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A configuration problem located in the config file.
    #[error(transparent)]
    Config(#[from] InputErrors),
    /// The component file could not be read.
    #[error("{}plugin `{plugin}`: cannot read component {path}: {message}", at(.location))]
    Unreadable {
        /// The plugin's name.
        plugin: String,
        /// Where the plugin is configured (`file:line:col`), or empty.
        location: String,
        /// The component file.
        path: String,
        /// The I/O error.
        message: String,
    },
    /// The component file's sha256 differs from the one the config pins.
    #[error(
        "{}plugin `{plugin}`: refusing to load {path}: its sha256 is {actual}, but the config pins {expected}",
        at(.location)
    )]
    DigestMismatch {
        /// The plugin's name.
        plugin: String,
        /// Where the plugin is configured (`file:line:col`), or empty.
        location: String,
        /// The component file.
        path: String,
        /// The sha256 pinned in the config.
        expected: String,
        /// The sha256 of the file as read.
        actual: String,
    },
    /// The component could not be compiled, linked or described, or needs
    /// secrets the config does not grant.
    #[error("{}plugin `{plugin}`: {message}", at(.location))]
    Invalid {
        /// The plugin's name.
        plugin: String,
        /// Where the plugin is configured (`file:line:col`), or empty.
        location: String,
        /// What is wrong with it.
        message: String,
    },
    /// The wasmtime engine or linker could not be set up.
    #[error("cannot start the plugin engine: {0}")]
    Engine(String),
}

/// `location: ` when there is one.
fn at(location: &str) -> String {
    if location.is_empty() {
        String::new()
    } else {
        format!("{location}: ")
    }
}

/// Why a call did not return an outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The plugin answered with an error.
    Provider(ProviderError),
    /// The host stopped the plugin or refused what it tried.
    Sandbox(Violation),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Provider(err) => err.fmt(f),
            CallError::Sandbox(v) => v.fmt(f),
        }
    }
}

/// The result of one plugin call and what the plugin did during it.
#[derive(Debug)]
pub struct CallReport<T> {
    /// What the call returned, or why it returned nothing.
    pub result: Result<T, CallError>,
    /// Every outbound request, allowed or denied.
    pub requests: Vec<RequestRecord>,
    /// How long the call took, wall-clock.
    pub duration: Duration,
}

struct LoadedPlugin {
    grant: Arc<Grant>,
    pre: PluginPre<Sandbox>,
    info: PluginInfo,
    calls: Semaphore,
}

/// Loaded plugins, ready to be called.
pub struct PluginHost {
    engine: Engine,
    plugins: BTreeMap<String, LoadedPlugin>,
    cache_uses: BTreeMap<String, CacheUse>,
    compiler: Compiler,
    /// The background compilation of optimised artifacts, if one runs.
    optimizing: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    _ticker: EpochTicker,
}

/// Reads `plugin`'s component and checks it against its pinned sha256.
fn read_component(plugin: &PluginConfig) -> Result<tier::Bytes, LoadError> {
    let path = plugin.component.display().to_string();
    let bytes = std::fs::read(&plugin.component).map_err(|err| LoadError::Unreadable {
        plugin: plugin.name.clone(),
        location: plugin.location.clone(),
        path: path.clone(),
        message: err.to_string(),
    })?;
    let sha256 = cache::sha256_hex(&bytes);
    if sha256 != plugin.sha256 {
        return Err(LoadError::DigestMismatch {
            plugin: plugin.name.clone(),
            location: plugin.location.clone(),
            path,
            expected: plugin.sha256.clone(),
            actual: sha256,
        });
    }
    Ok(tier::Bytes { bytes, sha256 })
}

impl PluginHost {
    /// Loads the named plugins of `config` (all of them if `names` is `None`):
    /// verifies digests, resolves secrets, compiles or loads from the cache,
    /// links, and asks each to `describe` itself.
    pub async fn load(
        plugins: &[&PluginConfig],
        cache_dir: &std::path::Path,
    ) -> Result<PluginHost, LoadError> {
        let selected: Vec<&PluginConfig> = plugins.to_vec();
        // Every component is read and verified first: one compiler serves
        // them all, chosen by what the cache holds.
        let read: Vec<Result<tier::Bytes, LoadError>> =
            selected.iter().map(|p| read_component(p)).collect();
        let verified: Vec<&tier::Bytes> = read.iter().filter_map(|r| r.as_ref().ok()).collect();
        let choice = tier::choose(&selected, &verified, cache_dir)?;
        let engine = choice.engine;
        let mut linker: Linker<Sandbox> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        Plugin::add_to_linker::<Sandbox, HasSelf<Sandbox>>(&mut linker, |s| s)
            .map_err(|e| LoadError::Engine(format!("{e:#}")))?;

        let mut host = PluginHost {
            _ticker: EpochTicker::start(engine.clone()),
            engine,
            plugins: BTreeMap::new(),
            cache_uses: BTreeMap::new(),
            compiler: choice.compiler,
            optimizing: Default::default(),
        };
        let mut secret_errors = InputErrors::default();
        for (plugin, component) in selected.into_iter().zip(read) {
            let secrets = match Secrets::resolve(plugin) {
                Ok(secrets) => secrets,
                Err(errors) => {
                    secret_errors.0.extend(errors.0);
                    continue;
                }
            };
            let (pre, cache_use) = host.link(plugin, &linker, cache_dir, &component?)?;
            let grant = Arc::new(Grant {
                plugin: plugin.name.clone(),
                declared_secrets: std::sync::OnceLock::new(),
                allowed_hosts: plugin.allowed_hosts.clone(),
                secrets,
                config: plugin.config.clone(),
                limits: plugin.limits,
                outbound: Arc::new(Semaphore::new(caps::MAX_REQUESTS_PER_PLUGIN)),
                http: outbound::Outbound::new(
                    plugin.limits.concurrency as usize,
                    plugin.limits.request_timeout(),
                ),
            });
            let mut loaded = LoadedPlugin {
                grant,
                pre,
                info: placeholder_info(),
                calls: Semaphore::new(plugin.limits.concurrency as usize),
            };
            loaded.info = host.describe(&loaded, &plugin.location).await?;
            let declared = loaded.info.secrets.iter().map(|s| s.name.clone()).collect();
            let _ = loaded.grant.declared_secrets.set(declared);
            check_settings(plugin, &loaded.info)?;
            host.cache_uses.insert(plugin.name.clone(), cache_use);
            host.plugins.insert(plugin.name.clone(), loaded);
        }
        secret_errors.into_result(())?;
        // Started only now, so it does not slow the load down.
        *host.optimizing.get_mut().expect("optimizing") = choice.pending.map(tier::Pending::start);
        Ok(host)
    }

    /// The compiler this host's plugins run code from ([`tier`]).
    pub fn compiler(&self) -> Compiler {
        self.compiler
    }

    /// Waits until the optimised artifacts a baseline start left to compile
    /// are in the cache (at once when there were none).
    pub fn finish_optimizing(&self) {
        let thread = self.optimizing.lock().expect("optimizing").take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    fn link(
        &self,
        plugin: &PluginConfig,
        linker: &Linker<Sandbox>,
        cache_dir: &std::path::Path,
        component: &tier::Bytes,
    ) -> Result<(PluginPre<Sandbox>, CacheUse), LoadError> {
        let (bytes, actual) = (&component.bytes, &component.sha256);
        let invalid = |message: String| LoadError::Invalid {
            plugin: plugin.name.clone(),
            location: plugin.location.clone(),
            message,
        };
        let (component, cache_use) =
            cache::load(&self.engine, cache_dir, bytes, actual, self.compiler).map_err(invalid)?;
        let versions = bindings::contract_versions(&self.engine, &component);
        if let Some(other) = versions.iter().find(|v| !bindings::speaks(v)) {
            return Err(invalid(format!(
                "component is built against cordon:provider@{other}, and this host speaks \
                 cordon:provider@{contract}.x: rebuild it with cordon-plugin-sdk {contract} (the \
                 contract's versioning rule is in wit/provider.wit)",
                contract = bindings::CONTRACT
            )));
        }
        let instance_pre = linker.instantiate_pre(&component).map_err(|err| {
            invalid(format!(
                "component does not fit the cordon:provider@{} contract or imports what the sandbox does not offer: {err:#}",
                bindings::CONTRACT
            ))
        })?;
        let pre = PluginPre::new(instance_pre).map_err(|err| {
            invalid(format!(
                "component does not export the provider interface: {err:#}"
            ))
        })?;
        Ok((pre, cache_use))
    }

    async fn describe(
        &self,
        plugin: &LoadedPlugin,
        location: &str,
    ) -> Result<PluginInfo, LoadError> {
        let report = self.invoke(plugin, Call::Describe).await;
        match report.result {
            Ok(Returned::Info(info)) => Ok(info),
            Ok(_) => unreachable!("describe returns plugin info"),
            Err(err) => Err(LoadError::Invalid {
                plugin: plugin.grant.plugin.clone(),
                location: location.to_string(),
                message: format!("describe() failed: {err}"),
            }),
        }
    }

    /// What the plugin called `name` said about itself.
    pub fn info(&self, name: &str) -> Option<&PluginInfo> {
        self.plugins.get(name).map(|p| &p.info)
    }

    /// Connections each plugin's HTTP client has opened since it was loaded,
    /// by plugin name. With connections kept alive this stays far below the
    /// number of requests.
    pub fn connections_opened(&self) -> Vec<(String, u64)> {
        self.plugins
            .iter()
            .map(|(name, p)| (name.clone(), p.grant.http.connects()))
            .collect()
    }

    /// The limits of the plugin called `name`.
    pub fn limits(&self, name: &str) -> Option<Limits> {
        self.plugins.get(name).map(|p| p.grant.limits)
    }

    /// Whether the plugin called `name` was compiled now or came from the cache.
    pub fn cache_use(&self, name: &str) -> Option<CacheUse> {
        self.cache_uses.get(name).copied()
    }

    /// Waits for a free slot under the plugin's concurrency limit. Callers
    /// that record an intent before calling reserve first, so the intent is
    /// written only when the call is about to happen.
    pub async fn reserve(&self, name: &str) -> Slot<'_> {
        let plugin = self.plugins.get(name).expect("plugin was loaded");
        let permit = plugin
            .calls
            .acquire()
            .await
            .expect("semaphore is never closed");
        Slot {
            host: self,
            plugin,
            _permit: permit,
        }
    }

    /// One call in a fresh store, under every limit of the plugin.
    async fn invoke(&self, plugin: &LoadedPlugin, call: Call<'_>) -> CallReport<Returned> {
        let grant = &plugin.grant;
        let limits = grant.limits;
        let log = Arc::new(Mutex::new(CallLog::default()));
        let checkpoint = match &call {
            Call::Execute(_, checkpoint) => checkpoint.clone(),
            _ => None,
        };
        let mut store = Store::new(
            &self.engine,
            Sandbox::new(grant.clone(), log.clone(), checkpoint),
        );
        store.limiter(|sandbox| &mut sandbox.memory);
        let cpu_ticks_allowed = limits.cpu_ms.div_ceil(EPOCH_TICK.as_millis() as u64);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut ctx| {
            let sandbox = ctx.data_mut();
            sandbox.cpu_ticks += 1;
            if sandbox.cpu_ticks > cpu_ticks_allowed {
                sandbox.cpu_exceeded = true;
                return Err(wasmtime::Error::msg("CPU limit exceeded"));
            }
            // Yield to the async executor each tick: a looping guest never
            // starves other calls, and the wall-clock timeout can fire.
            Ok(UpdateDeadline::Yield(1))
        });

        let started = Instant::now();
        let outcome = tokio::time::timeout(
            Duration::from_millis(limits.timeout_ms),
            run_call(&plugin.pre, &mut store, call),
        )
        .await;
        let duration = started.elapsed();

        let sandbox = store.data();
        let mut log = std::mem::take(&mut *log.lock().expect("call log"));
        let secrets = &grant.secrets;
        let scrub = |text: &str| log.scrub(secrets, text);
        let too_big = match &outcome {
            Ok(Ok(returned)) => caps::oversized(returned),
            _ => None,
        };
        let result = if let Some(violation) = log.violations.first() {
            // A plugin that stepped outside its grant fails, whatever it returned.
            Err(CallError::Sandbox(violation.clone()))
        } else if let Some(violation) = too_big {
            Err(CallError::Sandbox(violation))
        } else {
            match outcome {
                Err(_elapsed) => Err(CallError::Sandbox(Violation::Timeout {
                    limit_ms: limits.timeout_ms,
                })),
                Ok(Err(_)) if sandbox.memory.exceeded => {
                    Err(CallError::Sandbox(Violation::Memory {
                        limit_mb: limits.memory_mb,
                    }))
                }
                Ok(Err(_)) if sandbox.cpu_exceeded => Err(CallError::Sandbox(Violation::Cpu {
                    limit_ms: limits.cpu_ms,
                })),
                Ok(Err(trap)) => Err(CallError::Sandbox(Violation::Trap {
                    message: scrub(&trap_message(&trap, sandbox.last_stderr_line())),
                })),
                Ok(Ok(Err(provider))) => Err(CallError::Provider(redact_error(&scrub, provider))),
                Ok(Ok(Ok(returned))) => Ok(redact_returned(&scrub, returned)),
            }
        };
        if let Err(CallError::Sandbox(v)) = &result
            && !log.violations.contains(v)
        {
            tracing::warn!(plugin = %grant.plugin, "{v}");
        }
        if log.logged.dropped_lines > 0 {
            tracing::warn!(
                plugin = %grant.plugin,
                "plugin `{}` wrote {} more log lines ({} bytes) past its cap of {} lines and {} bytes per call; they were dropped",
                grant.plugin,
                log.logged.dropped_lines,
                log.logged.dropped_bytes,
                caps::MAX_LOG_LINES,
                caps::MAX_LOG_BYTES
            );
        }
        let mut requests = std::mem::take(&mut log.requests);
        for request in &mut requests {
            request.path = log.scrub(secrets, &request.path);
            request.error = request.error.take().map(|e| log.scrub(secrets, &e));
        }
        CallReport {
            result,
            requests,
            duration,
        }
    }
}

/// A reserved place under a plugin's concurrency limit, held until dropped:
/// a caller that must act on an answer before the next call may go (a 429
/// closing a rate gate) reads the report first and drops the slot after.
pub struct Slot<'a> {
    host: &'a PluginHost,
    plugin: &'a LoadedPlugin,
    _permit: tokio::sync::SemaphorePermit<'a>,
}

impl Slot<'_> {
    /// Asks the plugin what it knows about an identity, in this slot.
    pub async fn inspect(&self, identity: &Identity) -> CallReport<IdentityFacts> {
        let report = self.host.invoke(self.plugin, Call::Inspect(identity)).await;
        map_report(report, |r| match r {
            Returned::Facts(f) => f,
            _ => unreachable!("inspect returns facts"),
        })
    }

    /// Runs an action in this slot; its checkpoints are accepted and dropped.
    pub async fn execute(&self, request: &ActionRequest) -> CallReport<ActionOutcome> {
        self.execute_with(request, None).await
    }

    /// Runs an action in this slot, keeping its checkpoints in `checkpoint`
    /// (see [`Checkpoint`]).
    pub async fn execute_with(
        &self,
        request: &ActionRequest,
        checkpoint: Option<Arc<dyn Checkpoint>>,
    ) -> CallReport<ActionOutcome> {
        let report = self
            .host
            .invoke(self.plugin, Call::Execute(request, checkpoint))
            .await;
        map_report(report, |r| match r {
            Returned::Outcome(o) => o,
            _ => unreachable!("execute returns an outcome"),
        })
    }
}

impl Catalogue for PluginHost {
    fn plugin(&self, name: &str) -> Option<&PluginInfo> {
        self.info(name)
    }

    fn names(&self) -> Vec<String> {
        self.plugins.keys().cloned().collect()
    }
}

enum Call<'a> {
    Describe,
    Execute(&'a ActionRequest, Option<Arc<dyn Checkpoint>>),
    Inspect(&'a Identity),
}

async fn run_call(
    pre: &PluginPre<Sandbox>,
    store: &mut Store<Sandbox>,
    call: Call<'_>,
) -> wasmtime::Result<Result<Returned, ProviderError>> {
    let plugin = pre.instantiate_async(&mut *store).await?;
    let provider = plugin.cordon_provider_provider();
    Ok(match call {
        Call::Describe => Ok(Returned::Info(
            provider.call_describe(&mut *store).await?.into(),
        )),
        Call::Execute(request, _) => provider
            .call_execute(&mut *store, &request.into())
            .await?
            .map(|o| Returned::Outcome(o.into()))
            .map_err(Into::into),
        Call::Inspect(identity) => provider
            .call_inspect(&mut *store, &identity.into())
            .await?
            .map(|f| Returned::Facts(f.into()))
            .map_err(Into::into),
    })
}

fn map_report<T>(report: CallReport<Returned>, f: impl FnOnce(Returned) -> T) -> CallReport<T> {
    CallReport {
        result: report.result.map(f),
        requests: report.requests,
        duration: report.duration,
    }
}

/// What went wrong, without the wasm backtrace: the trap itself and, when the
/// guest panicked, its panic message.
fn trap_message(trap: &wasmtime::Error, stderr: Option<String>) -> String {
    let cause = match trap.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{trap}")
            .lines()
            .next()
            .unwrap_or("trap")
            .to_string(),
    };
    match stderr {
        Some(line) => format!("{cause} ({line})"),
        None => cause,
    }
}

/// Required secrets and config keys the plugin declares must be configured.
fn check_settings(plugin: &PluginConfig, info: &PluginInfo) -> Result<(), LoadError> {
    let mut missing = Vec::new();
    for secret in info.secrets.iter().filter(|s| s.required) {
        if !plugin.secrets.contains_key(&secret.name) {
            missing.push(format!("secret `{}` ({})", secret.name, secret.description));
        }
    }
    for key in info.config.iter().filter(|c| c.required) {
        if !plugin.config.contains_key(&key.name) {
            missing.push(format!("config key `{}` ({})", key.name, key.description));
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(LoadError::Invalid {
            plugin: plugin.name.clone(),
            location: plugin.location.clone(),
            message: format!("the config does not grant {}", missing.join(", ")),
        })
    }
}

fn placeholder_info() -> PluginInfo {
    PluginInfo {
        provider: String::new(),
        version: String::new(),
        actions: Vec::new(),
        secrets: Vec::new(),
        config: Vec::new(),
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: Engine) -> EpochTicker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("cordon-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawn epoch thread");
        EpochTicker { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
