//! The on-disk cache of compiled components.
//!
//! Compiling a component with Cranelift takes seconds; loading a compiled
//! artifact takes milliseconds. Artifacts are keyed by the component's sha256
//! and the engine's compatibility hash, so a different wasmtime version or
//! engine setting never loads a stale artifact.
//!
//! The cache folder holds native code that Cordon will run: protect it like
//! the `cordon` binary itself.

use crate::tier::Compiler;
use sha2::{Digest, Sha256};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Whether a component came from the cache or was compiled now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheUse {
    /// Loaded from a compiled artifact in the cache.
    Hit,
    /// Compiled now (and stored in the cache).
    Compiled,
}

/// The sha256 of `bytes`, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A short, stable digest of everything in `engine` that affects compiled code.
fn engine_key(engine: &Engine) -> String {
    // `DefaultHasher::new()` uses fixed keys, so the value is stable across runs.
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

fn artifact_path(dir: &Path, engine: &Engine, sha256: &str, compiler: Compiler) -> PathBuf {
    dir.join(format!(
        "{sha256}-{}-{}.cwasm",
        engine_key(engine),
        compiler.as_str()
    ))
}

/// Whether `dir` holds `engine`'s compiled form of the component `sha256`.
pub(crate) fn has(engine: &Engine, dir: &Path, sha256: &str, compiler: Compiler) -> bool {
    artifact_path(dir, engine, sha256, compiler).exists()
}

/// Compiles `bytes` with `engine` into `dir`, unless it is there already.
pub(crate) fn compile_into(
    engine: &Engine,
    dir: &Path,
    bytes: &[u8],
    sha256: &str,
    compiler: Compiler,
) -> Result<(), String> {
    let path = artifact_path(dir, engine, sha256, compiler);
    if path.exists() {
        return Ok(());
    }
    let compiled = engine
        .precompile_component(bytes)
        .map_err(|err| format!("not a valid component: {err:#}"))?;
    store(dir, &path, &compiled)
        .map_err(|err| format!("cannot cache it in {}: {err}", dir.display()))
}

/// Loads the compiled form of `bytes` (whose digest is `sha256`) from `dir`,
/// compiling and storing it on a miss. `compiler` names the compiler
/// `engine` was configured with.
pub fn load(
    engine: &Engine,
    dir: &Path,
    bytes: &[u8],
    sha256: &str,
    compiler: Compiler,
) -> Result<(Component, CacheUse), String> {
    let path = artifact_path(dir, engine, sha256, compiler);
    if path.exists() {
        // SAFETY: the artifact was written by `Engine::precompile_component` of
        // an engine with the same compatibility hash, into a folder the
        // operator protects like the binary (see the module docs).
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => return Ok((component, CacheUse::Hit)),
            Err(err) => {
                tracing::warn!(path = %path.display(), "ignoring unusable compiled component: {err}")
            }
        }
    }
    let compiled = engine
        .precompile_component(bytes)
        .map_err(|err| format!("not a valid component: {err:#}"))?;
    if let Err(err) = store(dir, &path, &compiled) {
        tracing::warn!(dir = %dir.display(), "cannot cache compiled component: {err}");
    }
    // SAFETY: `compiled` was produced just now by this engine.
    let component = unsafe { Component::deserialize(engine, &compiled) }
        .map_err(|err| format!("cannot load compiled component: {err:#}"))?;
    Ok((component, CacheUse::Compiled))
}

/// Writes atomically: a concurrent reader sees the whole artifact or none.
fn store(dir: &Path, path: &Path, compiled: &[u8]) -> std::io::Result<()> {
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    std::fs::create_dir_all(dir)?;
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    std::fs::write(&tmp, compiled)?;
    std::fs::rename(&tmp, path)
}
