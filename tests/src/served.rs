//! Fixtures of the service tests: API tokens made by `cordon token
//! create`, a workspace serving a playbook against the Vault simulator.

use crate::cordon::Workspace;
use crate::server::Server;
use crate::sims::{self, Sim, VAULT_ROOT_TOKEN};
use cordon_sim::vault::{TokenSpec, VaultConfig, VaultState};
use serde_json::{Value, json};

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
    served_with(sim, playbook, tokens, server, concurrency, |_| {})
}

/// [`served`], with `setup` applied before the config is written (e.g.
/// [`Workspace::postgres`]).
pub fn served_with(
    sim: &Sim<VaultState>,
    playbook: &str,
    tokens: &Tokens,
    server: &str,
    concurrency: u64,
    setup: impl FnOnce(&mut Workspace),
) -> Workspace {
    served_under(sim, playbook, tokens, server, concurrency, MODEL, setup)
}

/// A workspace for `cordon serve` replicas: a one-step playbook `bulk`
/// revoking Vault tokens, served from the PostgreSQL database at `url`
/// shared by replicas whose leases last `lease_ms`, under `model`.
pub fn replicated(
    sim: &Sim<VaultState>,
    url: &str,
    lease_ms: u64,
    tokens: &Tokens,
    model: &str,
    server: &str,
    concurrency: u64,
) -> Workspace {
    served_under(
        sim,
        &bulk_playbook(),
        tokens,
        server,
        concurrency,
        model,
        |ws| ws.replicas(url, lease_ms),
    )
}

fn served_under(
    sim: &Sim<VaultState>,
    playbook: &str,
    tokens: &Tokens,
    server: &str,
    concurrency: u64,
    model: &str,
    setup: impl FnOnce(&mut Workspace),
) -> Workspace {
    let mut ws = Workspace::new();
    setup(&mut ws);
    ws.env("VAULT_TOKEN", VAULT_ROOT_TOKEN);
    ws.authority(model);
    ws.write("playbook.toml", playbook);
    ws.config_extra(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nplaybooks = [\"playbook.toml\"]\n{server}\n{}",
        tokens.config
    ));
    ws.write_config(&[sims::vault_plugin(&sim.url).limit("concurrency", concurrency)]);
    ws
}

/// The playbook the bulk tests serve: `bulk`, owned by team nhi, revoking
/// every token the signal names (nhi may at once).
pub fn bulk_playbook() -> String {
    sims::playbook(
        "bulk",
        "nhi",
        &[sims::Step::new("revoke", "vault", "revoke-token", "token")],
    )
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

/// `n` fresh tokens at the simulator: their accessors, and the signal
/// identities naming them.
pub fn bulk(sim: &Sim<VaultState>, n: usize) -> (Vec<String>, Value) {
    let accessors: Vec<String> = (0..n)
        .map(|i| sim.state.seed_token(TokenSpec::new(&format!("bulk-{i}"))))
        .collect();
    let identities: Vec<Value> = accessors
        .iter()
        .map(|a| json!({ "provider": "vault", "kind": "token", "id": a }))
        .collect();
    (accessors, Value::Array(identities))
}

/// How many of `accessors` the simulator has revoked.
pub fn revoked(sim: &Sim<VaultState>, accessors: &[String]) -> usize {
    accessors
        .iter()
        .filter(|a| sim.state.token(a).unwrap().revoked)
        .count()
}

/// How many revocations the simulator was sent.
pub fn revocations(sim: &Sim<VaultState>) -> usize {
    sim.state
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("revoke-accessor"))
        .count()
}

/// A Vault simulator answering every request after `latency_ms`.
pub fn slow_vault(latency_ms: u64) -> Sim<VaultState> {
    let mut config = VaultConfig::with_root_token(VAULT_ROOT_TOKEN);
    config.faults.latency_ms = latency_ms;
    sims::vault_with(config).0
}
