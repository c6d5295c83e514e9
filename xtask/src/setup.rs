//! Installing what the build and the tests need on a fresh machine.

use crate::root;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::Command;

/// Python packages of the venv (pinned: moto's behaviour is part of the tests).
const REQUIREMENTS: &[&str] = &["moto[server]==5.2.5", "boto3==1.44.8"];

/// The Python venv with moto and boto3.
pub fn venv() -> PathBuf {
    root().join("target/venv")
}

/// Installs the wasm target and the venv, unless they are there already.
pub fn run() -> Result<()> {
    wasm_target()?;
    python_venv()
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
    {
        return Ok(());
    }
    println!(
        "==> creating the Python venv with moto at {}",
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
