//! The Vault plugin end to end: the `cordon` binary against the Vault
//! simulator, every effect checked through the simulator's state handle
//! (not Cordon's report).

use cordon_e2e::cordon::Workspace;
use cordon_e2e::sims::{self, Sim, Step, VAULT_ROOT_TOKEN, by_target, statuses};
use cordon_sim::RateLimitConfig;
use cordon_sim::vault::{LeaseSpec, VaultState};
use serde_json::{Value, json};

fn workspace(sim: &Sim<VaultState>, token: &str) -> Workspace {
    sims::workspace(&[sims::vault_plugin(&sim.url)], &[("VAULT_TOKEN", token)])
}

/// Runs a one-step playbook on `identities` and returns the report, checking
/// the exit code.
fn run_step(ws: &Workspace, step: Step, identities: Value, extra: &[&str], code: i32) -> Value {
    let playbook = sims::playbook("vault-test", "nhi", &[step]);
    let run = sims::run(ws, &playbook, &sims::signal(identities), extra);
    run.expect_code(code);
    run.json()
}

#[test]
fn revoke_token_revokes_the_tree_and_a_repeat_is_already_applied() {
    let (sim, demo) = sims::vault();
    let ws = workspace(&sim, VAULT_ROOT_TOKEN);
    let identities =
        json!([{ "provider": "vault", "kind": "token", "id": demo.agent_token_accessor }]);
    let step = Step::new("revoke", "vault", "revoke-token", "token");

    let report = run_step(&ws, step.clone(), identities.clone(), &[], 0);
    assert_eq!(statuses(&report), ["applied"]);
    let action = &report["actions"][0];
    assert_eq!(action["evidence"]["display_name"], "approle-agent-7");
    assert_eq!(
        action["evidence"]["entity_id"],
        demo.agent_entity_id.as_str()
    );

    let state = &sim.state;
    assert!(state.token(&demo.agent_token_accessor).unwrap().revoked);
    assert!(
        state.token(&demo.agent_child_accessor).unwrap().revoked,
        "the child token goes with its parent"
    );
    assert!(state.lease(&demo.agent_db_lease).unwrap().revoked);
    assert!(state.lease(&demo.agent_aws_lease).unwrap().revoked);
    assert!(!state.token(&demo.alice_token_accessor).unwrap().revoked);
    assert!(!state.lease(&demo.alice_lease).unwrap().revoked);

    let again = run_step(&ws, step.clone(), identities, &[], 0);
    assert_eq!(statuses(&again), ["already-applied"]);
    assert_eq!(again["actions"][0]["evidence"]["vault_state"], "unknown");

    // Vault cannot tell a revoked accessor from one that never existed: the
    // plugin reports both as already applied, and says so.
    let ghost = run_step(
        &ws,
        step,
        json!([{ "provider": "vault", "kind": "token", "id": "NoSuchAccessor000000000" }]),
        &[],
        0,
    );
    assert_eq!(statuses(&ghost), ["already-applied"]);
    let detail = ghost["actions"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("never existed"), "{detail}");
}

#[test]
fn revoke_lease_revokes_one_lease_and_a_repeat_is_already_applied() {
    let (sim, demo) = sims::vault();
    let ws = workspace(&sim, VAULT_ROOT_TOKEN);
    let identities = json!([{ "provider": "vault", "kind": "secret", "id": demo.alice_lease }]);
    let step = Step::new("revoke", "vault", "revoke-lease", "secret");

    let report = run_step(&ws, step.clone(), identities.clone(), &[], 0);
    assert_eq!(statuses(&report), ["applied"]);
    assert!(sim.state.lease(&demo.alice_lease).unwrap().revoked);
    assert!(
        !sim.state.token(&demo.alice_token_accessor).unwrap().revoked,
        "the token that obtained it stays"
    );
    assert!(!sim.state.lease(&demo.agent_db_lease).unwrap().revoked);

    let again = run_step(&ws, step, identities, &[], 0);
    assert_eq!(statuses(&again), ["already-applied"]);
}

#[test]
fn revoke_lease_prefix_needs_sudo_and_revokes_only_under_the_prefix() {
    let (sim, demo) = sims::vault();
    let identities = json!([{ "provider": "vault", "kind": "secret", "id": "aws/creds/agent-7/" }]);
    let step = Step::new("revoke", "vault", "revoke-lease-prefix", "secret");

    // The responder token has every containment right but `sudo`.
    let without_sudo = workspace(&sim, &demo.responder_token);
    let refused = run_step(&without_sudo, step.clone(), identities.clone(), &[], 3);
    let action = &refused["actions"][0];
    assert_eq!(action["status"], "failed");
    assert_eq!(action["attempts"], 1, "unauthorized is not retried");
    let detail = action["detail"].as_str().unwrap();
    assert!(detail.starts_with("unauthorized:"), "{detail}");
    assert!(detail.contains("needs `sudo`"), "{detail}");
    assert!(!sim.state.lease(&demo.agent_aws_lease).unwrap().revoked);

    let ws = workspace(&sim, VAULT_ROOT_TOKEN);
    let report = run_step(&ws, step.clone(), identities.clone(), &[], 0);
    assert_eq!(statuses(&report), ["applied"]);
    assert!(sim.state.lease(&demo.agent_aws_lease).unwrap().revoked);
    assert!(!sim.state.lease(&demo.agent_db_lease).unwrap().revoked);
    assert!(!sim.state.lease(&demo.alice_lease).unwrap().revoked);

    // Vault reports nothing about what a prefix revocation revoked: a repeat
    // is applied again, harmlessly (documented in the plugin).
    sim.state.reset_requests();
    let again = run_step(&ws, step, identities, &[], 0);
    assert_eq!(statuses(&again), ["applied"]);
    assert_eq!(sim.state.stats().by_status.get(&204), Some(&1));
    assert!(!sim.state.lease(&demo.agent_db_lease).unwrap().revoked);
}

#[test]
fn destroy_secret_id_destroys_it_and_a_repeat_is_already_applied() {
    let (sim, demo) = sims::vault();
    let ws = workspace(&sim, VAULT_ROOT_TOKEN);
    let secret_id = |role: &str| {
        json!([{ "provider": "vault", "kind": "secret", "id": demo.agent_secret_id_accessor,
                 "attributes": { "role": role } }])
    };
    let step = Step::new("destroy", "vault", "destroy-secret-id", "secret");

    // A role that does not exist on the mount: not found (Vault's plain 500
    // is not retried as a transient error).
    let wrong = run_step(&ws, step.clone(), secret_id("no-such-role"), &[], 3);
    let action = &wrong["actions"][0];
    assert_eq!(action["attempts"], 1);
    assert!(
        action["detail"]
            .as_str()
            .unwrap()
            .starts_with("not found: AppRole role `no-such-role` does not exist"),
        "{action}"
    );

    let report = run_step(&ws, step.clone(), secret_id(&demo.approle_role), &[], 0);
    assert_eq!(statuses(&report), ["applied"]);
    assert_eq!(
        report["actions"][0]["evidence"]["metadata.issued_by"],
        "ci-deployer"
    );
    let (mount, role, accessor) = (
        &demo.approle_mount,
        &demo.approle_role,
        &demo.agent_secret_id_accessor,
    );
    assert!(sim.state.secret_id_destroyed(mount, role, accessor));

    let again = run_step(&ws, step, secret_id(role), &[], 0);
    assert_eq!(statuses(&again), ["already-applied"]);
}

#[test]
fn disable_entity_is_undone_by_enable_entity_with_its_restore_data() {
    let (sim, demo) = sims::vault();
    let ws = workspace(&sim, VAULT_ROOT_TOKEN);
    let agent = json!([{ "provider": "vault", "kind": "agent", "id": demo.agent_entity_id }]);
    let disable = Step::new("disable", "vault", "disable-entity", "agent");

    let report = run_step(&ws, disable.clone(), agent.clone(), &[], 0);
    assert_eq!(statuses(&report), ["applied"]);
    let action = &report["actions"][0];
    assert_eq!(action["evidence"]["owner"], "ml-platform");
    let restore_id = action["restore"]["entity_id"].as_str().unwrap().to_string();
    assert_eq!(restore_id, demo.agent_entity_id);
    assert!(sim.state.entity(&demo.agent_entity_id).unwrap().disabled);
    assert!(
        !sim.state.token(&demo.agent_token_accessor).unwrap().revoked,
        "disabling fences the tokens without revoking them"
    );
    assert!(!sim.state.entity(&demo.alice_entity_id).unwrap().disabled);
    let again = run_step(&ws, disable, agent.clone(), &[], 0);
    assert_eq!(statuses(&again), ["already-applied"]);

    // The owning team restores it, feeding the recorded restore data.
    let enable =
        Step::new("enable", "vault", "enable-entity", "agent").param("entity_id", &restore_id);
    let restored = run_step(&ws, enable.clone(), agent.clone(), &[], 0);
    assert_eq!(statuses(&restored), ["applied"]);
    assert!(!sim.state.entity(&demo.agent_entity_id).unwrap().disabled);
    let again = run_step(&ws, enable, agent, &[], 0);
    assert_eq!(statuses(&again), ["already-applied"]);
}

/// A signal naming one identity for each containment action.
fn every_identity(demo: &cordon_sim::vault::fixtures::VaultDemo) -> Value {
    json!([
        { "provider": "vault", "kind": "token", "id": demo.agent_token_accessor },
        { "provider": "vault", "kind": "secret", "id": demo.alice_lease, "attributes": { "type": "lease" } },
        { "provider": "vault", "kind": "secret", "id": "database/creds/", "attributes": { "type": "prefix" } },
        { "provider": "vault", "kind": "secret", "id": demo.agent_secret_id_accessor,
          "attributes": { "type": "secret-id", "role": demo.approle_role } },
        { "provider": "vault", "kind": "agent", "id": demo.agent_entity_id }
    ])
}

fn every_action() -> String {
    sims::playbook(
        "vault-everything",
        "nhi",
        &[
            Step::new("token", "vault", "revoke-token", "token"),
            Step::new("lease", "vault", "revoke-lease", "secret").with_attribute("type", "lease"),
            Step::new("prefix", "vault", "revoke-lease-prefix", "secret")
                .with_attribute("type", "prefix"),
            Step::new("secret-id", "vault", "destroy-secret-id", "secret")
                .with_attribute("type", "secret-id"),
            Step::new("entity", "vault", "disable-entity", "agent"),
        ],
    )
}

#[test]
fn a_dry_run_plans_every_action_and_changes_nothing() {
    let (sim, demo) = sims::vault();
    let ws = workspace(&sim, VAULT_ROOT_TOKEN);
    let before = sim.state.dump();
    let run = sims::run(
        &ws,
        &every_action(),
        &sims::signal(every_identity(&demo)),
        &["--dry-run"],
    );
    run.expect_code(0);
    let report = run.json();
    assert_eq!(statuses(&report), ["planned"; 5], "{report}");
    let actions = by_target(&report);
    let detail = actions[&format!("token/{}", demo.agent_token_accessor)]["detail"]
        .as_str()
        .unwrap();
    assert!(
        detail.starts_with("would revoke token approle-agent-7"),
        "{detail}"
    );
    assert_eq!(sim.state.dump(), before);
    assert!(
        sim.state
            .requests()
            .iter()
            .all(|r| !r.path.contains("revoke") && !r.path.ends_with("/destroy")),
        "no write request: {:?}",
        sim.state.requests()
    );
}

#[test]
fn a_wrong_token_fails_as_unauthorized_and_changes_nothing() {
    let (sim, demo) = sims::vault();
    let ws = workspace(&sim, "hvs.not-a-valid-token-000000");
    let before = sim.state.dump();
    let run = sims::run(
        &ws,
        &every_action(),
        &sims::signal(every_identity(&demo)),
        &[],
    );
    run.expect_code(3);
    for detail in sims::failed_at_once(&run.json()) {
        let detail = detail.as_str();
        assert!(detail.starts_with("unauthorized:"), "{detail}");
        assert!(detail.contains("permission denied"), "{detail}");
        assert!(
            !detail.contains("hvs.not-a-valid"),
            "the token never shows: {detail}"
        );
    }
    assert_eq!(sim.state.dump(), before);
}

#[test]
fn a_rate_limit_quota_is_waited_out_as_retry_after_asks() {
    let (sim, _demo) = sims::vault();
    let leases: Vec<String> = (0..5)
        .map(|i| {
            sim.state.seed_lease(LeaseSpec {
                path: format!("database/creds/batch-{i}"),
                ..LeaseSpec::default()
            })
        })
        .collect();
    let identities: Vec<Value> = leases
        .iter()
        .map(|id| json!({ "provider": "vault", "kind": "secret", "id": id }))
        .collect();
    let limit = 3;
    sim.state
        .set_rate_limit(Some(RateLimitConfig::new(limit, 2)));
    let plugin = sims::vault_plugin(&sim.url).limit("concurrency", 1);
    let ws = sims::workspace(&[plugin], &[("VAULT_TOKEN", VAULT_ROOT_TOKEN)]);

    let report = run_step(
        &ws,
        Step::new("revoke", "vault", "revoke-lease", "secret"),
        Value::Array(identities),
        &[],
        0,
    );
    assert_eq!(statuses(&report), ["applied"; 5], "{report}");
    for lease in &leases {
        assert!(sim.state.lease(lease).unwrap().revoked, "{lease}");
    }
    let requests = sim.state.requests();
    let revocations = requests
        .iter()
        .filter(|r| r.path == "/v1/sys/leases/revoke" && r.status == 204)
        .count();
    assert_eq!(revocations, 5, "each lease revoked once: {requests:#?}");
    let limited = sims::assert_waited_out(&requests, limit, sims::vault_retry_at_ms);
    assert!(limited >= 1, "the quota was hit: {requests:#?}");
}

const SHIPPED_PLAYBOOK: &str = include_str!("../../playbooks/vault-token-leak.toml");
const SHIPPED_SIGNAL: &str = include_str!("../../playbooks/signals/vault-token-leak.json");

#[test]
fn the_shipped_token_leak_playbook_contains_its_sample_signal() {
    let (sim, demo) = sims::vault();
    // The responder token: every containment right, no `sudo`, no root.
    let ws = workspace(&sim, &demo.responder_token);
    let before = sim.state.dump();
    let dry = sims::run(&ws, SHIPPED_PLAYBOOK, SHIPPED_SIGNAL, &["--dry-run"]);
    dry.expect_code(0);
    assert_eq!(statuses(&dry.json()), ["planned"; 3]);
    assert_eq!(sim.state.dump(), before);

    let run = sims::run(&ws, SHIPPED_PLAYBOOK, SHIPPED_SIGNAL, &[]);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["status"], "completed");
    assert_eq!(statuses(&report), ["applied"; 3], "{report}");
    let state = &sim.state;
    assert!(state.token(&demo.agent_token_accessor).unwrap().revoked);
    assert!(state.token(&demo.agent_child_accessor).unwrap().revoked);
    assert!(state.lease(&demo.agent_db_lease).unwrap().revoked);
    assert!(state.lease(&demo.agent_aws_lease).unwrap().revoked);
    assert!(state.secret_id_destroyed(
        &demo.approle_mount,
        &demo.approle_role,
        &demo.agent_secret_id_accessor
    ));
    assert!(state.entity(&demo.agent_entity_id).unwrap().disabled);
    assert!(!state.token(&demo.alice_token_accessor).unwrap().revoked);
    assert!(!state.entity(&demo.alice_entity_id).unwrap().disabled);

    let again = sims::run(&ws, SHIPPED_PLAYBOOK, SHIPPED_SIGNAL, &[]);
    again.expect_code(0);
    assert_eq!(statuses(&again.json()), ["already-applied"; 3]);
}
