//! The per-call sandbox a plugin runs in: its store data, the host imports it
//! sees, the HTTP allow-list and the memory and CPU caps.
//!
//! Everything a plugin does that the host must know about — every outbound
//! request and every attempt to step outside its grant — is written to the
//! call's [`CallLog`], which the caller reads when the call ends.

use super::bindings::cordon::provider::{host, types};
use super::http_guard::HttpGuard;
use super::secrets::Secrets;
use crate::caps::LogBudget;
use crate::checkpoint::{self, Checkpoint, Kept};
use crate::settings::{Limits, Origin};
use cordon_types::RequestRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// What one plugin is granted: reachable origins, secrets, config, limits.
pub struct Grant {
    pub plugin: String,
    /// Secrets the plugin declares in `describe` (known after the first call).
    /// Asking for a declared but ungranted one is an ordinary error; asking
    /// for an undeclared one that was not granted is a violation.
    pub declared_secrets: std::sync::OnceLock<Vec<String>>,
    pub allowed_hosts: Vec<Origin>,
    pub secrets: Secrets,
    pub config: BTreeMap<String, String>,
    pub limits: Limits,
    /// Places for this plugin's requests in flight, all calls together
    /// ([`crate::caps::MAX_REQUESTS_PER_PLUGIN`]).
    pub outbound: Arc<tokio::sync::Semaphore>,
    /// The plugin's HTTP client, its connections kept alive across calls.
    pub http: crate::outbound::Outbound,
}

/// A plugin stepped outside its sandbox or its limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Violation {
    /// The call ran longer than `limits.timeout_ms`.
    Timeout {
        /// The limit, in milliseconds.
        limit_ms: u64,
    },
    /// Guest code ran longer than `limits.cpu_ms`.
    Cpu {
        /// The limit, in milliseconds.
        limit_ms: u64,
    },
    /// The guest tried to grow its memory past `limits.memory_mb`.
    Memory {
        /// The limit, in MiB.
        limit_mb: u64,
    },
    /// The guest sent a request to an origin not in `allowed_hosts`.
    HttpDenied {
        /// The request's HTTP method.
        method: String,
        /// The origin the request was sent to.
        origin: String,
    },
    /// The guest asked for a secret it was not granted.
    SecretDenied {
        /// The secret's name.
        name: String,
    },
    /// Part of what the plugin returned is past its cap
    /// ([`crate::caps::MAX_RETURNED_BYTES`], [`crate::caps::MAX_RETURNED_ENTRIES`]).
    Oversized {
        /// Which part: `its evidence`, `its detail`, …
        what: String,
        /// Its size in bytes.
        bytes: u64,
        /// Its entries, for a map or a list.
        entries: u64,
    },
    /// The guest trapped (panicked, hit `unreachable`, …).
    Trap {
        /// The trap's description (secrets redacted).
        message: String,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Timeout { limit_ms } => {
                write!(
                    f,
                    "plugin exceeded its time limit of {limit_ms} ms and was stopped"
                )
            }
            Violation::Cpu { limit_ms } => {
                write!(
                    f,
                    "plugin exceeded its CPU limit of {limit_ms} ms and was stopped"
                )
            }
            Violation::Memory { limit_mb } => {
                write!(
                    f,
                    "plugin exceeded its memory limit of {limit_mb} MiB and was stopped"
                )
            }
            Violation::HttpDenied { method, origin } => write!(
                f,
                "plugin tried to send {method} to {origin}, which is not in its allowed_hosts; the request was denied"
            ),
            Violation::SecretDenied { name } => write!(
                f,
                "plugin asked for secret `{name}`, which is not granted to it"
            ),
            Violation::Oversized {
                what,
                bytes,
                entries,
            } => write!(
                f,
                "plugin returned {what} of {bytes} bytes in {entries} entries, past the cap of {} bytes and {} entries; the call failed",
                crate::caps::MAX_RETURNED_BYTES,
                crate::caps::MAX_RETURNED_ENTRIES
            ),
            Violation::Trap { message } => write!(f, "plugin crashed: {message}"),
        }
    }
}

/// What happened during one call, besides its return value.
#[derive(Debug)]
pub struct CallLog {
    pub requests: Vec<RequestRecord>,
    pub violations: Vec<Violation>,
    /// Secrets the plugin derived during the call (host `redact`).
    pub derived: Secrets,
    /// What the call has logged.
    pub logged: LogBudget,
}

impl Default for CallLog {
    fn default() -> Self {
        CallLog {
            requests: Vec::new(),
            violations: Vec::new(),
            derived: Secrets::none(),
            logged: LogBudget::default(),
        }
    }
}

impl CallLog {
    /// `text` without any granted or derived secret value.
    pub fn scrub(&self, granted: &Secrets, text: &str) -> String {
        self.derived.redact(&granted.redact(text))
    }
}

/// The `T` of a plugin call's `Store<T>`.
pub struct Sandbox {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    guard: HttpGuard,
    pub(super) memory: MemoryCap,
    grant: Arc<Grant>,
    log: Arc<Mutex<CallLog>>,
    /// Where `checkpoint` keeps data: set for a real run's `execute`.
    checkpoint: Option<Arc<dyn Checkpoint>>,
    checkpoints: u32,
    /// Epoch ticks observed while guest code was running.
    pub(super) cpu_ticks: u64,
    pub(super) cpu_exceeded: bool,
    /// What the guest wrote to stderr (a panic message, mostly); only read
    /// by the host to explain a crash.
    stderr: MemoryOutputPipe,
}

/// How much of a guest's stderr is kept.
const STDERR_CAPTURE_BYTES: usize = 8 * 1024;

impl Sandbox {
    /// A fresh sandbox for one call: no filesystem, environment, sockets or stdio.
    pub fn new(
        grant: Arc<Grant>,
        log: Arc<Mutex<CallLog>>,
        checkpoint: Option<Arc<dyn Checkpoint>>,
    ) -> Sandbox {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE_BYTES);
        let wasi = WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        Sandbox {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            guard: HttpGuard::new(grant.clone(), log.clone()),
            memory: MemoryCap {
                limit_bytes: (grant.limits.memory_mb as usize) << 20,
                exceeded: false,
            },
            grant,
            log,
            checkpoint,
            checkpoints: 0,
            cpu_ticks: 0,
            cpu_exceeded: false,
            stderr,
        }
    }

    /// The last line the guest wrote to stderr, e.g. its panic message.
    pub fn last_stderr_line(&self) -> Option<String> {
        let text = String::from_utf8_lossy(&self.stderr.contents()).into_owned();
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty() && !l.starts_with("note:"))
            .map(|l| l.trim().to_string())
    }

    fn violation(&self, violation: Violation) {
        tracing::warn!(plugin = %self.grant.plugin, "{violation}");
        self.log
            .lock()
            .expect("call log")
            .violations
            .push(violation);
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Sandbox {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.guard,
        }
    }
}

impl types::Host for Sandbox {}

impl host::Host for Sandbox {
    async fn secret(&mut self, name: String) -> Result<String, String> {
        match self.grant.secrets.get(&name) {
            Some(value) => Ok(value.to_string()),
            None => {
                let declared = self
                    .grant
                    .declared_secrets
                    .get()
                    .is_some_and(|d| d.contains(&name));
                if !declared {
                    self.violation(Violation::SecretDenied { name: name.clone() });
                }
                Err(format!("secret `{name}` is not granted to this plugin"))
            }
        }
    }

    async fn config(&mut self, key: String) -> Option<String> {
        self.grant.config.get(&key).cloned()
    }

    async fn redact(&mut self, value: String) {
        self.log
            .lock()
            .expect("call log")
            .derived
            .add_derived(value);
    }

    async fn checkpoint(
        &mut self,
        evidence: Vec<(String, String)>,
        restore: Vec<(String, String)>,
    ) -> Result<(), String> {
        let kept = {
            let log = self.log.lock().expect("call log");
            let scrub = |pairs: Vec<(String, String)>| {
                pairs
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            log.scrub(&self.grant.secrets, &k),
                            log.scrub(&self.grant.secrets, &v),
                        )
                    })
                    .collect()
            };
            Kept {
                evidence: scrub(evidence),
                restore: scrub(restore),
            }
        };
        if let Some(why) = checkpoint::refusal(&kept, self.checkpoints) {
            return Err(why);
        }
        let Some(sink) = self.checkpoint.clone() else {
            return Ok(());
        };
        self.checkpoints += 1;
        sink.keep(kept).await
    }

    async fn log(&mut self, level: host::LogLevel, message: String) {
        let message = {
            let mut log = self.log.lock().expect("call log");
            let Some(message) = log.logged.admit(&message) else {
                return;
            };
            log.scrub(&self.grant.secrets, &message)
        };
        let plugin = self.grant.plugin.as_str();
        match level {
            host::LogLevel::Trace => tracing::trace!(target: "cordon::plugin", plugin, "{message}"),
            host::LogLevel::Debug => tracing::debug!(target: "cordon::plugin", plugin, "{message}"),
            host::LogLevel::Info => tracing::info!(target: "cordon::plugin", plugin, "{message}"),
            host::LogLevel::Warn => tracing::warn!(target: "cordon::plugin", plugin, "{message}"),
            host::LogLevel::Error => tracing::error!(target: "cordon::plugin", plugin, "{message}"),
        }
    }
}

/// Caps linear memory growth and remembers when it refused one.
pub struct MemoryCap {
    limit_bytes: usize,
    pub(super) exceeded: bool,
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit_bytes {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}
