//! The Vault plugin end to end: the `cordon` binary against a real OpenBao
//! server (`bao server -dev`), every effect checked by asking OpenBao itself
//! (not Cordon's report). The Vault simulator stays for what a real server
//! cannot be made to do on demand: rate-limit quotas with announced resets.

use cordon_e2e::bao::{BAO_ROOT_TOKEN, Bao, BaoDemo};
use cordon_e2e::cordon::Workspace;
use cordon_e2e::sims::{self, Step, VAULT_ROOT_TOKEN, by_target, statuses};
use cordon_sim::RateLimitConfig;
use cordon_sim::vault::LeaseSpec;
use serde_json::{Value, json};

fn bao() -> (Bao, BaoDemo) {
    let bao = Bao::start();
    let demo = bao.seed_demo();
    (bao, demo)
}

fn workspace(url: &str, token: &str) -> Workspace {
    sims::workspace(&[sims::vault_plugin(url)], &[("VAULT_TOKEN", token)])
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
    let (bao, demo) = bao();
    let ws = workspace(&bao.url, BAO_ROOT_TOKEN);
    let identities =
        json!([{ "provider": "vault", "kind": "token", "id": demo.agent_token_accessor }]);
    let step = Step::new("revoke", "vault", "revoke-token", "token");

    let report = run_step(&ws, step.clone(), identities.clone(), &[], 0);
    assert_eq!(statuses(&report), ["applied"]);
    let action = &report["actions"][0];
    assert_eq!(action["evidence"]["display_name"], "approle");
    assert_eq!(action["evidence"]["path"], "auth/approle/login");
    assert_eq!(
        action["evidence"]["entity_id"],
        demo.agent_entity_id.as_str()
    );
    assert_eq!(
        action["evidence"]["owner"], "ml-platform",
        "from the secret-id's metadata, which AppRole copies onto the token"
    );

    assert!(!bao.token_alive(&demo.agent_token_accessor));
    assert!(
        !bao.token_alive(&demo.agent_child_accessor),
        "the child token goes with its parent"
    );
    assert!(!bao.lease_alive(&demo.agent_db_lease));
    assert!(
        !bao.lease_alive(&demo.agent_aws_lease),
        "the child's lease too"
    );
    assert!(bao.token_alive(&demo.alice_token_accessor));
    assert!(bao.lease_alive(&demo.alice_lease));

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
    let (bao, demo) = bao();
    let ws = workspace(&bao.url, BAO_ROOT_TOKEN);
    let identities = json!([{ "provider": "vault", "kind": "secret", "id": demo.alice_lease }]);
    let step = Step::new("revoke", "vault", "revoke-lease", "secret");

    let report = run_step(&ws, step.clone(), identities.clone(), &[], 0);
    assert_eq!(statuses(&report), ["applied"]);
    assert!(!bao.lease_alive(&demo.alice_lease));
    assert!(
        bao.token_alive(&demo.alice_token_accessor),
        "the token that obtained it stays"
    );
    assert!(bao.lease_alive(&demo.agent_db_lease));

    let again = run_step(&ws, step, identities, &[], 0);
    assert_eq!(statuses(&again), ["already-applied"]);
}

#[test]
fn revoke_lease_prefix_needs_sudo_and_revokes_only_under_the_prefix() {
    let (bao, demo) = bao();
    for role in ["agent-9", "agent-90"] {
        bao.pki_role(role);
    }
    let nine = [0, 1].map(|_| bao.issue_lease(BAO_ROOT_TOKEN, "agent-9"));
    let ninety = bao.issue_lease(BAO_ROOT_TOKEN, "agent-90");
    // The form Vault's docs write, with a trailing slash, which real servers
    // refuse as a path (400 `cannot write to a path ending in '/'`).
    let identities = json!([{ "provider": "vault", "kind": "secret", "id": "pki/issue/agent-9/" }]);
    let step = Step::new("revoke", "vault", "revoke-lease-prefix", "secret");

    // The responder token has every containment right but `sudo`.
    let without_sudo = workspace(&bao.url, &demo.responder_token);
    let refused = run_step(&without_sudo, step.clone(), identities.clone(), &[], 3);
    let action = &refused["actions"][0];
    assert_eq!(action["status"], "failed");
    assert_eq!(action["attempts"], 1, "unauthorized is not retried");
    let detail = action["detail"].as_str().unwrap();
    assert!(detail.starts_with("unauthorized:"), "{detail}");
    assert!(detail.contains("needs `sudo`"), "{detail}");
    assert!(nine.iter().all(|lease| bao.lease_alive(lease)));

    let ws = workspace(&bao.url, BAO_ROOT_TOKEN);
    let report = run_step(&ws, step.clone(), identities.clone(), &[], 0);
    assert_eq!(statuses(&report), ["applied"], "{report}");
    assert_eq!(
        report["actions"][0]["evidence"]["prefix"],
        "pki/issue/agent-9"
    );
    for lease in &nine {
        assert!(!bao.lease_alive(lease), "{lease} is under the prefix");
    }
    assert!(
        bao.lease_alive(&ninety),
        "pki/issue/agent-9 is a path prefix, not a string prefix: agent-90 stays"
    );
    assert!(bao.lease_alive(&demo.agent_db_lease));
    assert!(bao.lease_alive(&demo.alice_lease));

    // Vault reports nothing about what a prefix revocation revoked: a repeat
    // is applied again, harmlessly (documented in the plugin).
    let again = run_step(&ws, step.clone(), identities, &[], 0);
    assert_eq!(statuses(&again), ["applied"]);
    assert!(bao.lease_alive(&ninety));

    // A prefix of nothing would revoke every lease: refused, nothing sent.
    let everything = json!([{ "provider": "vault", "kind": "secret", "id": "/" }]);
    let refused = run_step(&ws, step, everything, &[], 3);
    let detail = refused["actions"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("non-empty prefix"), "{detail}");
    assert!(bao.lease_alive(&ninety) && bao.lease_alive(&demo.alice_lease));
}

#[test]
fn destroy_secret_id_destroys_it_and_a_repeat_is_already_applied() {
    let (bao, demo) = bao();
    let ws = workspace(&bao.url, BAO_ROOT_TOKEN);
    let secret_id = |accessor: &str, role: &str| {
        json!([{ "provider": "vault", "kind": "secret", "id": accessor,
                 "attributes": { "role": role } }])
    };
    let agent = &demo.agent_secret_id_accessor;
    let step = Step::new("destroy", "vault", "destroy-secret-id", "secret");

    // A role that does not exist on the mount: not found (Vault's plain 500
    // is not retried as a transient error).
    let wrong = run_step(&ws, step.clone(), secret_id(agent, "no-such-role"), &[], 3);
    let action = &wrong["actions"][0];
    assert_eq!(action["attempts"], 1);
    assert!(
        action["detail"]
            .as_str()
            .unwrap()
            .starts_with("not found: AppRole role `no-such-role` does not exist"),
        "{action}"
    );

    // Another role's secret-id named with this role: OpenBao's lookup
    // answers 204 with no body. It is still live, so this fails at once
    // (not as a transient error retried into the ground) and destroys nothing.
    let deployer = &demo.deployer_secret_id_accessor;
    let other = run_step(&ws, step.clone(), secret_id(deployer, "agent-7"), &[], 3);
    let action = &other["actions"][0];
    assert_eq!(action["status"], "failed", "{action}");
    assert_eq!(action["attempts"], 1, "{action}");
    let detail = action["detail"].as_str().unwrap();
    assert!(detail.starts_with("invalid request:"), "{detail}");
    assert!(
        detail.contains("belongs to another AppRole role"),
        "{detail}"
    );
    assert!(bao.secret_id_alive("approle", "ci-deployer", deployer));

    let report = run_step(&ws, step.clone(), secret_id(agent, "agent-7"), &[], 0);
    assert_eq!(statuses(&report), ["applied"]);
    assert_eq!(
        report["actions"][0]["evidence"]["metadata.issued_by"],
        "ci-deployer"
    );
    assert!(!bao.secret_id_alive("approle", "agent-7", agent));
    assert!(bao.secret_id_alive("approle", "ci-deployer", deployer));

    let again = run_step(&ws, step, secret_id(agent, "agent-7"), &[], 0);
    assert_eq!(statuses(&again), ["already-applied"]);
}

#[test]
fn disable_entity_is_undone_by_enable_entity_with_its_restore_data() {
    let (bao, demo) = bao();
    let ws = workspace(&bao.url, BAO_ROOT_TOKEN);
    let agent = json!([{ "provider": "vault", "kind": "agent", "id": demo.agent_entity_id }]);
    let disable = Step::new("disable", "vault", "disable-entity", "agent");

    let report = run_step(&ws, disable.clone(), agent.clone(), &[], 0);
    assert_eq!(statuses(&report), ["applied"]);
    let action = &report["actions"][0];
    assert_eq!(action["evidence"]["owner"], "ml-platform");
    let restore_id = action["restore"]["entity_id"].as_str().unwrap().to_string();
    assert_eq!(restore_id, demo.agent_entity_id);
    assert!(bao.entity_disabled(&demo.agent_entity_id));
    assert!(
        bao.token_alive(&demo.agent_token_accessor),
        "disabling fences the tokens without revoking them"
    );
    let (refused, _) = bao.call(&demo.agent_token, "GET", "auth/token/lookup-self", None);
    assert_eq!(refused, 403, "a disabled entity's token is refused");
    assert!(!bao.entity_disabled(&demo.alice_entity_id));
    let again = run_step(&ws, disable, agent.clone(), &[], 0);
    assert_eq!(statuses(&again), ["already-applied"]);

    // The owning team restores it, feeding the recorded restore data.
    let enable =
        Step::new("enable", "vault", "enable-entity", "agent").param("entity_id", &restore_id);
    let restored = run_step(&ws, enable.clone(), agent.clone(), &[], 0);
    assert_eq!(statuses(&restored), ["applied"]);
    assert!(!bao.entity_disabled(&demo.agent_entity_id));
    let (works, _) = bao.call(&demo.agent_token, "GET", "auth/token/lookup-self", None);
    assert_eq!(works, 200, "its token works again");
    let again = run_step(&ws, enable, agent, &[], 0);
    assert_eq!(statuses(&again), ["already-applied"]);

    // An entity OpenBao does not have (400 `entity not found from id` on
    // update, 404 on read): not found, at once.
    let ghost = json!([{ "provider": "vault", "kind": "agent",
                         "id": "00000000-0000-0000-0000-000000000000" }]);
    let missing = run_step(
        &ws,
        Step::new("disable", "vault", "disable-entity", "agent"),
        ghost,
        &[],
        3,
    );
    let action = &missing["actions"][0];
    assert_eq!(action["attempts"], 1, "{action}");
    assert!(
        action["detail"].as_str().unwrap().starts_with("not found:"),
        "{action}"
    );
}

/// A signal naming one identity for each containment action.
fn every_identity(demo: &BaoDemo) -> Value {
    json!([
        { "provider": "vault", "kind": "token", "id": demo.agent_token_accessor },
        { "provider": "vault", "kind": "secret", "id": demo.alice_lease, "attributes": { "type": "lease" } },
        { "provider": "vault", "kind": "secret", "id": "pki/issue/agent-7-batch/", "attributes": { "type": "prefix" } },
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
    let (bao, demo) = bao();
    let ws = workspace(&bao.url, BAO_ROOT_TOKEN);
    let before = bao.dump(&demo);
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
        detail.starts_with("would revoke token approle (accessor"),
        "{detail}"
    );
    assert_eq!(bao.dump(&demo), before);
}

#[test]
fn a_wrong_token_fails_as_unauthorized_and_changes_nothing() {
    let (bao, demo) = bao();
    let ws = workspace(&bao.url, "hvs.not-a-valid-token-000000");
    let before = bao.dump(&demo);
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
    assert!(!run.stderr().contains("hvs.not-a-valid"));
    assert_eq!(bao.dump(&demo), before);
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

/// The shipped sample signal with OpenBao's ids in place of the sample's.
fn shipped_signal(demo: &BaoDemo) -> String {
    let signal = SHIPPED_SIGNAL
        .replace("xK4pQ7agent7accessor0001", &demo.agent_token_accessor)
        .replace(
            "7f3c2a91-5d4e-4b8a-9c1f-0a7e5d3b2c17",
            &demo.agent_entity_id,
        )
        .replace(
            "84896a0c-1347-aa90-a4f6-aca8b7558780",
            &demo.agent_secret_id_accessor,
        );
    assert_ne!(signal, SHIPPED_SIGNAL);
    signal
}

#[test]
fn the_shipped_token_leak_playbook_contains_its_sample_signal() {
    let (bao, demo) = bao();
    // The responder token: every containment right, no `sudo`, no root.
    let ws = workspace(&bao.url, &demo.responder_token);
    let signal = shipped_signal(&demo);
    let before = bao.dump(&demo);
    let dry = sims::run(&ws, SHIPPED_PLAYBOOK, &signal, &["--dry-run"]);
    dry.expect_code(0);
    assert_eq!(statuses(&dry.json()), ["planned"; 3]);
    assert_eq!(bao.dump(&demo), before);

    let run = sims::run(&ws, SHIPPED_PLAYBOOK, &signal, &[]);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["status"], "completed");
    assert_eq!(statuses(&report), ["applied"; 3], "{report}");
    assert!(!bao.token_alive(&demo.agent_token_accessor));
    assert!(!bao.token_alive(&demo.agent_child_accessor));
    assert!(!bao.lease_alive(&demo.agent_db_lease));
    assert!(!bao.lease_alive(&demo.agent_aws_lease));
    assert!(!bao.secret_id_alive(
        &demo.approle_mount,
        &demo.approle_role,
        &demo.agent_secret_id_accessor
    ));
    assert!(bao.entity_disabled(&demo.agent_entity_id));
    assert!(bao.token_alive(&demo.alice_token_accessor));
    assert!(bao.lease_alive(&demo.alice_lease));
    assert!(!bao.entity_disabled(&demo.alice_entity_id));

    let again = sims::run(&ws, SHIPPED_PLAYBOOK, &signal, &[]);
    again.expect_code(0);
    assert_eq!(statuses(&again.json()), ["already-applied"; 3]);
}
