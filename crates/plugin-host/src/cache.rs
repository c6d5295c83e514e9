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
    sweep_stale(dir);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    std::fs::write(&tmp, compiled)?;
    std::fs::rename(&tmp, path)
}

/// Removes temporary files that writers which are no longer running left
/// behind (a process that exits mid-compile, in the background tier or
/// killed): `NAME.tmp<pid>-<n>` older than a minute whose `pid` is not a
/// live process. A writer renames its file a moment after creating it, so
/// the minute also spares a live writer in another pid namespace sharing the
/// folder; where liveness cannot be told (no `/proc`), only files older than
/// an hour go.
fn sweep_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(pid) = writer_pid(&path) else {
            continue;
        };
        if pid == std::process::id() || writer_may_be_running(pid, &path) {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::debug!(path = %path.display(), "removed a stale temporary artifact"),
            Err(err) => {
                tracing::debug!(path = %path.display(), "cannot remove a stale temporary artifact: {err}")
            }
        }
    }
}

/// The writer's pid in a temporary file's name (`….tmp<pid>-<n>`).
fn writer_pid(path: &Path) -> Option<u32> {
    let extension = path.extension()?.to_str()?;
    let (pid, n) = extension.strip_prefix("tmp")?.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

fn writer_may_be_running(pid: u32, path: &Path) -> bool {
    let age = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok());
    let older_than = |secs| age.is_some_and(|age| age >= std::time::Duration::from_secs(secs));
    let proc = Path::new("/proc");
    if proc.join("self").exists() {
        return !older_than(60) || proc.join(pid.to_string()).exists();
    }
    !older_than(3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_removes_temporary_files_of_writers_that_are_gone() {
        let dir = std::env::temp_dir().join(format!("cordon-cache-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Above Linux's largest pid (2^22), so no such process runs.
        let gone = dir.join("abc-0123-optimizing.tmp4194999-0");
        let just_written = dir.join("abc-0123-optimizing.tmp4194998-0");
        let ours = dir.join(format!("abc-0123-optimizing.tmp{}-7", std::process::id()));
        let other = dir.join("notes.txt");
        let two_minutes_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
        for file in [&gone, &just_written, &ours, &other] {
            let written = std::fs::File::create(file).unwrap();
            if file != &just_written {
                written.set_modified(two_minutes_ago).unwrap();
            }
        }
        store(&dir, &dir.join("def-0123-baseline.cwasm"), b"code").unwrap();
        assert!(!gone.exists(), "a dead writer's file is removed");
        assert!(ours.exists(), "a live writer's file is kept");
        assert!(
            just_written.exists(),
            "a file younger than a minute is kept"
        );
        assert!(other.exists(), "other files are left alone");
        assert_eq!(
            std::fs::read(dir.join("def-0123-baseline.cwasm")).unwrap(),
            b"code"
        );
        assert_eq!(writer_pid(Path::new("a-b-c.tmp12-3")), Some(12));
        assert_eq!(writer_pid(Path::new("a-b-c.cwasm")), None);
        assert_eq!(writer_pid(Path::new("a-b-c.tmpx-3")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
