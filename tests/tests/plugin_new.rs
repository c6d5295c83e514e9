//! `cordon plugin new`: the generated repository builds and passes its own
//! tests as generated, and the generated plugin, in the real sandbox against
//! the generated simulator, passes the conformance suite every shipped
//! provider passes. Bad input changes nothing.

use cordon_e2e::cordon::Workspace;
use cordon_e2e::workspace_root;
use cordon_plugin_harness::conformance::{Case, check};
use cordon_plugin_harness::{Harness, Target};
use cordon_types::IdentityKind;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const TOKEN: &str = "acme-sim-token-3f9c";
const WRONG_TOKEN: &str = "acme-wrong-token-77";

/// Runs cargo in the generated repository, with a target folder kept between
/// runs (the dependencies are Cordon's own, pinned by its lock file).
fn cargo(repo: &Path, args: &[&str]) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(args)
        .current_dir(repo)
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("RUSTFLAGS")
        .stdin(Stdio::null())
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "cargo {args:?} failed in the generated repository\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn target_dir() -> PathBuf {
    workspace_root().join("target/scaffold")
}

/// Every file under `dir` with its contents.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                found.push((path, bytes));
            }
        }
    }
    found.sort();
    found
}

/// The generated simulator's process, killed when dropped.
struct SimProcess(Child);

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_generated_plugin_builds_passes_its_tests_and_conforms() {
    let ws = Workspace::new();
    let root = workspace_root();
    let repo = ws.path().join("acme");
    let new = |name: &str, path: &Path| {
        ws.cordon(&[
            "plugin",
            "new",
            name,
            "--path",
            path.to_str().unwrap(),
            "--cordon-src",
            root.to_str().unwrap(),
        ])
    };
    let created = new("acme-idp", &repo);
    created.expect_code(0);
    assert!(created.stdout().contains("plugin/src/lib.rs"));

    // Refusals name what is wrong and write nothing.
    let generated = files(&repo);
    let again = new("acme-idp", &repo);
    assert_ne!(again.code(), 0);
    assert!(
        again.stderr().contains("already exists"),
        "{}",
        again.stderr()
    );
    assert_eq!(files(&repo), generated, "a refused `new` changes nothing");
    let elsewhere = ws.path().join("bad");
    let bad = new("Acme_IdP", &elsewhere);
    assert_ne!(bad.code(), 0);
    assert!(
        bad.stderr()
            .contains("NAME `Acme_IdP` is not a plugin name"),
        "{}",
        bad.stderr()
    );
    assert!(!elsewhere.exists());

    // As generated: formatted, tested, built.
    cargo(&repo, &["fmt", "--check"]);
    cargo(&repo, &["test"]);
    cargo(
        &repo,
        &[
            "build",
            "-p",
            "cordon-plugin-acme-idp",
            "--target",
            "wasm32-wasip2",
            "--release",
        ],
    );
    cargo(&repo, &["build", "-p", "cordon-sim-acme-idp"]);

    let mut child = Command::new(target_dir().join("debug/cordon-sim-acme-idp"))
        .args(["--token", TOKEN])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("start the generated simulator");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _sim = SimProcess(child);
    let url = line
        .trim()
        .strip_prefix("acme-idp ")
        .unwrap_or_else(|| panic!("the simulator printed {line:?}"))
        .to_string();

    let component = target_dir().join("wasm32-wasip2/release/cordon_plugin_acme_idp.wasm");
    let load = |token: &str| {
        Harness::new("acme-idp", &component)
            .allow(&url)
            .config("api_url", &url)
            .secret("api_token", token)
            .load()
            .unwrap()
    };
    let (good, wrong) = (load(TOKEN), load(WRONG_TOKEN));
    let http = reqwest::blocking::Client::new();
    let state = || {
        let state: serde_json::Value = http
            .get(format!("{url}/__sim/state"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        state["provider"].clone()
    };
    check(&Case {
        plugin: &good,
        wrong_credentials: &wrong,
        action: "disable-user",
        target: Target::new("acme-idp", IdentityKind::User, "u-alice"),
        params: Vec::new(),
        state: &state,
        secrets: &[TOKEN, WRONG_TOKEN],
    });
}
