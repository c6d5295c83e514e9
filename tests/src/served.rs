//! Fixtures of the service tests: API tokens made by `cordon token
//! create`, a workspace serving a playbook against the Vault simulator.

use crate::cordon::Workspace;
use crate::server::Server;
use crate::sims::{self, Sim, VAULT_ROOT_TOKEN};
use cordon_sim::vault::VaultState;
use serde_json::Value;

/// The authority model of the service tests: team nhi (nadia) may revoke
/// at once and approves the rest; mallory is in another team; nadia's team
/// may make an incident commander who can revoke and quarantine anywhere.
pub const MODEL: &str = r#"
[teams.nhi]
members = ["nadia@acme.example"]
domains = ["nhi"]
immediate = ["revoke"]
[teams.iam]
members = ["mallory@acme.example"]
domains = ["iam"]
[commander]
granted_by = ["nhi"]
max_ttl = "4h"
effects = ["revoke", "quarantine"]
"#;

/// A new API token: (its config entry, its value).
pub fn token(id: &str, principal: &str, scopes: &[&str]) -> (String, String) {
    let mut args = vec!["token", "create", "--id", id, "--principal", principal];
    let flags: Vec<String> = scopes.iter().map(|s| format!("--scope={s}")).collect();
    args.extend(flags.iter().map(String::as_str));
    let run = Workspace::new().cordon(&args);
    run.expect_code(0);
    let value = run.stdout().trim().to_string();
    let entry = run
        .stderr()
        .lines()
        .skip_while(|l| !l.starts_with("[[server.tokens]]"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        entry.contains(&format!("id = \"{id}\"")),
        "{}",
        run.stderr()
    );
    assert!(
        !entry.contains(&value),
        "the config entry holds only the hash"
    );
    (entry, value)
}

/// API tokens of nadia (signals, read, respond), mallory (read, respond)
/// and a detector (signals).
pub struct Tokens {
    /// nadia@acme.example
    pub nadia: String,
    /// mallory@acme.example
    pub mallory: String,
    /// detector@acme.example
    pub detector: String,
    /// Their `[[server.tokens]]` entries.
    pub config: String,
}

/// Fresh [`Tokens`].
pub fn tokens() -> Tokens {
    let (n, nadia) = token(
        "nadia",
        "nadia@acme.example",
        &["signals", "read", "respond"],
    );
    let (m, mallory) = token("mallory", "mallory@acme.example", &["read", "respond"]);
    let (d, detector) = token("detector", "detector@acme.example", &["signals"]);
    Tokens {
        nadia,
        mallory,
        detector,
        config: format!("{n}\n{m}\n{d}\n"),
    }
}

/// A workspace serving `playbook` on a free port with these tokens.
pub fn served(
    sim: &Sim<VaultState>,
    playbook: &str,
    tokens: &Tokens,
    server: &str,
    concurrency: u64,
) -> Workspace {
    let mut ws = Workspace::new();
    ws.env("VAULT_TOKEN", VAULT_ROOT_TOKEN);
    ws.authority(MODEL);
    ws.write("playbook.toml", playbook);
    ws.config_extra(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nplaybooks = [\"playbook.toml\"]\n{server}\n{}",
        tokens.config
    ));
    ws.write_config(&[sims::vault_plugin(&sim.url).limit("concurrency", concurrency)]);
    ws
}

/// The e2e signal naming `identities`.
pub fn signal(identities: Value) -> Value {
    serde_json::from_str(&sims::signal(identities)).unwrap()
}

/// The server's audit log, exported as `token`.
pub fn audit(server: &Server, token: &str) -> Vec<Value> {
    let export = server.request("GET", "/v1/audit/export", Some(token), None);
    assert_eq!(export.status, 200);
    export
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The playbook most service tests serve: revoke the agent's token (team
/// nhi may at once) and disable its entity (which waits for an approval).
pub fn agent_containment() -> String {
    sims::playbook(
        "agent-containment",
        "nhi",
        &[
            sims::Step::new("revoke", "vault", "revoke-token", "token"),
            sims::Step::new("disable", "vault", "disable-entity", "agent"),
        ],
    )
}

/// The agent's token and entity, as a signal names them.
pub fn agent_identities(demo: &cordon_sim::vault::fixtures::VaultDemo) -> Value {
    serde_json::json!([
        { "provider": "vault", "kind": "token", "id": demo.agent_token_accessor },
        { "provider": "vault", "kind": "agent", "id": demo.agent_entity_id },
    ])
}
