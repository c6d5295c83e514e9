//! Two compilers, so a cold start is quick and every later start runs
//! optimised code.
//!
//! Cranelift (the optimising compiler) takes ~0.3 s for one of the shipped
//! components on 2 cores; Winch (wasmtime's baseline compiler) about a
//! quarter of that, for code that runs slower. When every plugin a command
//! loads has a Cranelift artifact in the cache, the host uses Cranelift.
//! When one does not, the host loads all of them with Winch (compiling the
//! missing ones, or loading their Winch artifacts), and once they are loaded
//! a background thread compiles the missing Cranelift artifacts into the
//! cache for the next start. A command that ends first loses only that
//! work (artifacts are written whole or not at all); `cordon plugins
//! compile` does it in the foreground, as a deployment step.

use crate::{LoadError, PluginConfig, cache, pool};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use wasmtime::Engine;

/// Which compiler a host's plugins were compiled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compiler {
    /// Winch: quick to compile, slower code. Used while the optimised
    /// artifacts are missing.
    Baseline,
    /// Cranelift: optimised code.
    Optimizing,
}

impl Compiler {
    /// `baseline` or `optimizing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Compiler::Baseline => "baseline",
            Compiler::Optimizing => "optimizing",
        }
    }
}

/// A component's bytes and their sha256.
pub(crate) struct Bytes {
    pub bytes: Vec<u8>,
    pub sha256: String,
}

/// The engine a load uses, and the optimising compilation left to do.
pub(crate) struct Choice {
    pub engine: Engine,
    pub compiler: Compiler,
    pub pending: Option<Pending>,
}

/// Cranelift artifacts missing from the cache.
pub(crate) struct Pending {
    engine: Engine,
    dir: PathBuf,
    missing: Vec<Bytes>,
}

impl Pending {
    /// Compiles the missing artifacts on a thread of its own.
    pub fn start(self) -> JoinHandle<()> {
        std::thread::Builder::new()
            .name("cordon-optimize".into())
            .spawn(move || self.run())
            .expect("spawning the optimizing compiler's thread")
    }

    /// Compiles the missing artifacts now.
    fn run(self) {
        for component in &self.missing {
            if let Err(err) = cache::compile_into(
                &self.engine,
                &self.dir,
                &component.bytes,
                &component.sha256,
                Compiler::Optimizing,
            ) {
                tracing::warn!(
                    "optimizing compilation failed (the baseline code stays in use): {err}"
                );
            }
        }
    }
}

/// Chooses the compiler for loading `components` (those that could be read
/// and verified) of `plugins`, and what is left to optimise.
pub(crate) fn choose(
    plugins: &[&PluginConfig],
    components: &[&Bytes],
    dir: &Path,
) -> Result<Choice, LoadError> {
    let optimizing = pool::new_engine(plugins, Compiler::Optimizing)?;
    let missing: Vec<Bytes> = components
        .iter()
        .filter(|c| !cache::has(&optimizing, dir, &c.sha256, Compiler::Optimizing))
        .map(|c| Bytes {
            bytes: c.bytes.clone(),
            sha256: c.sha256.clone(),
        })
        .collect();
    if missing.is_empty() {
        return Ok(Choice {
            engine: optimizing,
            compiler: Compiler::Optimizing,
            pending: None,
        });
    }
    Ok(Choice {
        engine: pool::new_engine(plugins, Compiler::Baseline)?,
        compiler: Compiler::Baseline,
        pending: Some(Pending {
            engine: optimizing,
            dir: dir.to_path_buf(),
            missing,
        }),
    })
}
