//! Support for the end-to-end tests: finding the built `cordon` binary and
//! plugins, writing configs, starting moto, and a proxy that counts and
//! perturbs the requests plugins send.
//!
//! The tests expect `cargo xtask test` to have built everything and to pass
//! `CORDON_BIN`, `CORDON_PLUGINS` and `CORDON_VENV`; run them through it.

pub mod aws;
pub mod bao;
pub mod browser;
pub mod cordon;
pub mod holding;
pub mod hook;
pub mod moto;
pub mod oidc;
pub mod proxy;
pub mod served;
pub mod server;
pub mod sims;

use std::path::PathBuf;

/// Waits until `condition` holds, failing after `limit`.
pub fn wait_for(what: &str, limit: std::time::Duration, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

/// A path from an environment variable, or a default under the workspace,
/// which must exist.
fn required_path(var: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(default));
    assert!(
        path.exists(),
        "{} does not exist: run the tests with `cargo xtask test`, which builds and installs what they need",
        path.display()
    );
    path
}
