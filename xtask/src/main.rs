//! `cargo xtask <task>`: everything a fresh machine needs, in one place.
//!
//! - `setup`: the wasm32-wasip2 target and a Python venv with moto;
//! - `build`: setup, then the plugins (as components) and the binaries;
//! - `test [-- <cargo test args>]`: build, then every test;
//! - `demo`: build, then contain a leaked AWS key against moto, live;
//! - `bench`: build, then measure start-up and per-action overhead.

mod bench;
mod bench_incident;
mod bench_vault;
mod demo;
mod setup;

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Plugins built as components into `target/plugins/<name>.wasm`.
pub const PLUGINS: &[&str] = &["aws", "misbehave", "vault", "okta", "cyberark"];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("help");
    let rest = args
        .iter()
        .skip(1)
        .skip_while(|a| *a == "--")
        .cloned()
        .collect::<Vec<_>>();
    match task {
        "setup" => setup::run(),
        "build" => build(),
        "test" => test(&rest),
        "demo" => demo::run(),
        "bench" => bench::run(),
        _ => {
            eprintln!("usage: cargo xtask <setup|build|test|demo|bench>");
            eprintln!("  setup   install the wasm32-wasip2 target and a Python venv with moto");
            eprintln!("  build   setup, then build the plugins and the binaries");
            eprintln!("  test    build, then run every test (extra args go to cargo test)");
            eprintln!("  demo    build, then contain a leaked AWS access key against moto");
            eprintln!(
                "  bench   build, then measure start-up and per-action overhead (ratios to baselines)"
            );
            if task == "help" {
                Ok(())
            } else {
                bail!("unknown task `{task}`")
            }
        }
    }
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Runs a command in the workspace root, failing with its name if it fails.
pub fn run(command: &mut Command) -> Result<()> {
    let shown = format!("{command:?}");
    let status = command
        .current_dir(root())
        .status()
        .with_context(|| format!("cannot start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Builds every plugin component and the `cordon` and `cordon-sim` binaries.
fn build() -> Result<()> {
    setup::run()?;
    println!("==> building plugins (wasm32-wasip2 components)");
    let mut command = cargo();
    command.args(["build", "--profile", "plugin", "--target", "wasm32-wasip2"]);
    for plugin in PLUGINS {
        command.args(["-p", &format!("cordon-plugin-{plugin}")]);
    }
    run(&mut command)?;
    let out = root().join("target/plugins");
    std::fs::create_dir_all(&out)?;
    for plugin in PLUGINS {
        let built = root().join(format!(
            "target/wasm32-wasip2/plugin/cordon_plugin_{}.wasm",
            plugin.replace('-', "_")
        ));
        std::fs::copy(&built, out.join(format!("{plugin}.wasm")))
            .with_context(|| format!("copying {}", built.display()))?;
    }
    // The same package selection as the tests, so both share one build of
    // every dependency (features unify per selection).
    println!("==> building cordon and cordon-sim");
    run(cargo().args(["build", "--bins"]).args(native_packages()))?;
    Ok(())
}

/// Every workspace package but the plugins: a plugin's `cdylib` only links
/// for wasm32-wasip2 (its export names are not valid native symbols).
fn native_packages() -> Vec<String> {
    let mut args = vec!["--workspace".to_string()];
    for plugin in PLUGINS {
        args.push("--exclude".into());
        args.push(format!("cordon-plugin-{plugin}"));
    }
    args
}

/// Builds, then runs every test with the paths the end-to-end tests need.
fn test(extra: &[String]) -> Result<()> {
    build()?;
    let root = root();
    println!("==> running the plugins' unit tests (natively)");
    let mut plugin_tests = cargo();
    plugin_tests.args(["test", "--lib"]);
    for plugin in PLUGINS {
        plugin_tests.args(["-p", &format!("cordon-plugin-{plugin}")]);
    }
    run(&mut plugin_tests)?;
    println!("==> running every other test");
    run(cargo()
        .arg("test")
        .args(native_packages())
        .args(extra)
        .env("CORDON_BIN", root.join("target/debug/cordon"))
        .env("CORDON_PLUGINS", root.join("target/plugins"))
        .env("CORDON_VENV", setup::venv()))
}
