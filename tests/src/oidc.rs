//! The test OpenID provider (`tests/support/oidc`, npm `oidc-provider`),
//! started for one test, and access tokens obtained from it through the
//! real authorization-code + PKCE flow.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

fn folder() -> PathBuf {
    crate::workspace_root().join("tests/support/oidc")
}

/// A running provider; stopped when dropped.
pub struct Provider {
    child: Child,
    /// The issuer, `http://127.0.0.1:PORT`.
    pub issuer: String,
}

impl Provider {
    /// Starts the provider on a free port and waits for its ready line.
    pub fn start() -> Provider {
        assert!(
            folder().join("node_modules").exists(),
            "tests/support/oidc/node_modules does not exist: run the tests with `cargo xtask test`, which installs it"
        );
        let mut child = Command::new("node")
            .arg(folder().join("provider.js"))
            .args(["--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the OpenID provider (node)");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the ready line");
        let issuer = line
            .strip_prefix("ready ")
            .unwrap_or_else(|| panic!("the provider did not start: {line:?}"))
            .trim()
            .to_string();
        Provider { child, issuer }
    }

    /// An access token for `email` (audience `cordon`), by the real
    /// authorization-code flow.
    pub fn access_token(&self, email: &str) -> String {
        let output = Command::new("node")
            .arg(folder().join("token.js"))
            .args(["--issuer", &self.issuer, "--email", email])
            .output()
            .expect("run token.js");
        assert!(
            output.status.success(),
            "token.js failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let response: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("token.js prints JSON");
        response["access_token"]
            .as_str()
            .expect("an access token")
            .to_string()
    }

    /// Lets the `cordon-console` client sign in to the console at `server`
    /// (redirect URI `{server}/console/callback`).
    pub fn allow_console(&self, server: &str) {
        let response = reqwest::blocking::Client::new()
            .post(format!("{}/test/console-redirect", self.issuer))
            .query(&[("uri", format!("{server}/console/callback"))])
            .send()
            .expect("register the console's redirect URI");
        assert!(response.status().is_success());
    }

    /// Rotates the signing keys: tokens issued from now on carry a new key id.
    pub fn rotate(&self) {
        let response = reqwest::blocking::Client::new()
            .post(format!("{}/test/rotate", self.issuer))
            .send()
            .expect("rotate");
        assert!(response.status().is_success());
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `kid` in a JWT's header.
pub fn kid(jwt: &str) -> String {
    use base64::Engine;
    let header = jwt.split('.').next().expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("base64url");
    let json: serde_json::Value = serde_json::from_slice(&bytes).expect("header JSON");
    json["kid"].as_str().expect("kid").to_string()
}
