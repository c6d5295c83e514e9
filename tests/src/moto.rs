//! A moto IAM server per test, seeded and read through boto3 (an AWS client
//! independent of Cordon's own SigV4 code).

use serde_json::Value;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Python venv with `moto[server]` and boto3.
fn venv() -> PathBuf {
    super::required_path("CORDON_VENV", "target/venv")
}

fn helper_script() -> PathBuf {
    super::workspace_root().join("tests/support/iam.py")
}

/// A running `moto_server`, killed on drop.
pub struct Moto {
    child: Child,
    pub port: u16,
}

/// Credentials of the IAM user Cordon acts as.
#[derive(Debug, Clone)]
pub struct Operator {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// What `seed` created.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub operator: Operator,
    /// User name → its access key ids.
    pub keys: Vec<(String, Vec<String>)>,
    pub roles: Vec<String>,
}

impl Seeded {
    /// Every (user, key id) pair.
    pub fn all_keys(&self) -> Vec<(String, String)> {
        self.keys
            .iter()
            .flat_map(|(u, ks)| ks.iter().map(move |k| (u.clone(), k.clone())))
            .collect()
    }
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it answers.
    pub fn start() -> Moto {
        let port = free_port();
        let child = Command::new(venv().join("bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let moto = Moto { child, port };
        moto.wait_until_ready();
        moto
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let address = format!("127.0.0.1:{}", self.port);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(&address).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("moto_server did not start listening on {address} within 60 s");
    }

    /// Creates the operator and `users` users with `keys` keys each
    /// (plus `roles` roles), then turns SigV4 verification on.
    pub fn seed(&self, prefix: &str, users: usize, keys: usize, roles: usize) -> Seeded {
        self.seed_with(prefix, users, keys, roles, false)
    }

    /// As [`Moto::seed`], optionally giving every user a console password.
    pub fn seed_with(
        &self,
        prefix: &str,
        users: usize,
        keys: usize,
        roles: usize,
        login: bool,
    ) -> Seeded {
        let mut args = vec![
            "seed".to_string(),
            "--endpoint".into(),
            self.endpoint(),
            "--prefix".into(),
            prefix.into(),
            "--users".into(),
            users.to_string(),
            "--keys".into(),
            keys.to_string(),
            "--roles".into(),
            roles.to_string(),
        ];
        if login {
            args.push("--login-profiles".into());
        }
        let out = python(&args);
        let operator = Operator {
            access_key_id: out["operator"]["access_key_id"].as_str().unwrap().into(),
            secret_access_key: out["operator"]["secret_access_key"]
                .as_str()
                .unwrap()
                .into(),
        };
        let mut keys: Vec<(String, Vec<String>)> = out["keys"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(u, ks)| {
                let ks = ks
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|k| k.as_str().unwrap().to_string())
                    .collect();
                (u.clone(), ks)
            })
            .collect();
        keys.sort();
        let roles = out["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect();
        Seeded {
            operator,
            keys,
            roles,
        }
    }

    /// Seeds the demo account (deterministic ids matching the shipped signal)
    /// and turns SigV4 verification on. Returns the operator and each user's keys.
    pub fn seed_demo(&self) -> (Operator, Value) {
        let out = python(&["seed-demo".into(), "--endpoint".into(), self.endpoint()]);
        let operator = Operator {
            access_key_id: out["operator"]["access_key_id"].as_str().unwrap().into(),
            secret_access_key: out["operator"]["secret_access_key"]
                .as_str()
                .unwrap()
                .into(),
        };
        (operator, out["keys"].clone())
    }

    /// The account as boto3 sees it: `{"users": {name: {"keys": {id: status},
    /// "policies": [..], "login_profile": bool}}, "roles": {name: {"policies": {..}}}}`.
    pub fn state(&self, operator: &Operator) -> Value {
        python(&[
            "state".into(),
            "--endpoint".into(),
            self.endpoint(),
            "--key".into(),
            operator.access_key_id.clone(),
            "--secret".into(),
            operator.secret_access_key.clone(),
        ])
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the helper script and parses its JSON output.
fn python(args: &[String]) -> Value {
    let output = Command::new(venv().join("bin/python"))
        .arg(helper_script())
        .args(args)
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "iam.py {} failed:\n{}",
        args[0],
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("iam.py prints JSON")
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}
