//! The shipped `ai-agent-identity-compromise` playbook end to end: one run
//! of the `cordon` binary contains an AI agent in Vault, AWS (moto, SigV4
//! on), Okta and CyberArk at once (its steps are independent: they run in
//! parallel), and the owning teams undo what is reversible with the restore
//! data it recorded. Every effect is checked through the simulators' state
//! handles and boto3, not Cordon's report.

use cordon_e2e::aws::key_statuses;
use cordon_e2e::cordon::{PluginEntry, actions_of};
use cordon_e2e::moto::Moto;
use cordon_e2e::sims::{self, CYBERARK_USER, OKTA_API_TOKEN, Step, VAULT_ROOT_TOKEN, statuses};
use cordon_sim::FaultsUpdate;
use cordon_sim::okta::ADMIN_API_TOKEN_ID;
use serde_json::{Value, json};

const PLAYBOOK: &str = include_str!("../../playbooks/ai-agent-identity-compromise.toml");
const SIGNAL: &str = include_str!("../../playbooks/signals/ai-agent-identity-compromise.json");

/// The agent's AWS access key in the moto demo account, and its user.
const AGENT_KEY: &str = "AKIARZPUZDIKGPSCFH3X";
const AGENT_USER: &str = "release-agent";
const ROLE: &str = "deploy-role";

/// The status of the only action of `step`.
fn status_of(report: &Value, step: &str) -> String {
    let actions = actions_of(report, step);
    assert_eq!(actions.len(), 1, "one action for {step}: {report}");
    actions[0]["status"].as_str().unwrap().to_string()
}

#[test]
fn one_run_contains_the_agent_everywhere_and_the_owners_restore_it() {
    let moto = Moto::start();
    let (operator, keys) = moto.seed_demo();
    assert!(
        keys[AGENT_USER]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == AGENT_KEY),
        "the demo account gives {AGENT_USER} the key {AGENT_KEY}: {keys}"
    );
    let (vault, vault_demo) = sims::vault();
    let (okta, okta_demo) = sims::okta();
    let (cyberark, ca_demo) = sims::cyberark();
    let aws = PluginEntry::new("aws", "aws")
        .allow(&moto.endpoint())
        .config("endpoint", &moto.endpoint())
        .secret_env("access_key_id", "AWS_ACCESS_KEY_ID")
        .secret_env("secret_access_key", "AWS_SECRET_ACCESS_KEY");
    let ws = sims::workspace(
        &[
            aws,
            sims::vault_plugin(&vault.url),
            sims::okta_plugin(&okta.url),
            sims::cyberark_plugin(&cyberark.url),
        ],
        &[
            ("AWS_ACCESS_KEY_ID", &operator.access_key_id),
            ("AWS_SECRET_ACCESS_KEY", &operator.secret_access_key),
            ("VAULT_TOKEN", VAULT_ROOT_TOKEN),
            ("OKTA_API_TOKEN", OKTA_API_TOKEN),
            ("CYBERARK_USERNAME", CYBERARK_USER.0),
            ("CYBERARK_PASSWORD", CYBERARK_USER.1),
        ],
    );
    let everything = || {
        json!({
            "aws": moto.state(&operator),
            "vault": vault.state.dump(),
            "okta": okta.state.dump(),
            "cyberark": sims::cyberark_state(&cyberark.state),
        })
    };

    // A dry run plans all seven actions and changes nothing anywhere.
    let before = everything();
    let dry = sims::run(&ws, PLAYBOOK, SIGNAL, &["--dry-run"]);
    dry.expect_code(0);
    assert_eq!(statuses(&dry.json()), ["planned"; 7], "{}", dry.stdout());
    assert_eq!(everything(), before);

    // One run contains everything. With every simulator answering slowly,
    // the independent steps must overlap: each simulator saw its first
    // request before every other one saw its last.
    let slow = FaultsUpdate {
        latency_ms: Some(150),
        ..FaultsUpdate::default()
    };
    vault.state.update_faults(&slow);
    okta.state.update_faults(&slow);
    cyberark.state.update_faults(&slow);
    for log in [vault.state.sim(), okta.state.sim(), cyberark.state.sim()] {
        log.reset_requests();
    }
    let run = sims::run(&ws, PLAYBOOK, SIGNAL, &[]);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["status"], "completed", "{report}");
    assert_eq!(statuses(&report), ["applied"; 7], "{report}");
    let spans: Vec<(&str, u64, u64)> = [
        ("vault", vault.state.requests()),
        ("okta", okta.state.requests()),
        ("cyberark", cyberark.state.requests()),
    ]
    .into_iter()
    .map(|(name, log)| {
        let first = log.iter().map(|r| r.at_ms).min().expect("requests");
        let last = log.iter().map(|r| r.at_ms).max().expect("requests");
        (name, first, last)
    })
    .collect();
    for (a, first, _) in &spans {
        for (b, _, last) in &spans {
            assert!(
                first <= last,
                "{a} was first called after {b} was done: the steps ran one after the other {spans:?}"
            );
        }
    }
    let fast = FaultsUpdate {
        latency_ms: Some(0),
        ..FaultsUpdate::default()
    };
    vault.state.update_faults(&fast);
    okta.state.update_faults(&fast);
    cyberark.state.update_faults(&fast);

    // Vault: the token and its tree are revoked, the entity is fenced.
    assert!(
        vault
            .state
            .token(&vault_demo.agent_token_accessor)
            .unwrap()
            .revoked
    );
    assert!(
        vault
            .state
            .token(&vault_demo.agent_child_accessor)
            .unwrap()
            .revoked
    );
    assert!(
        vault
            .state
            .entity(&vault_demo.agent_entity_id)
            .unwrap()
            .disabled
    );
    assert!(
        !vault
            .state
            .token(&vault_demo.alice_token_accessor)
            .unwrap()
            .revoked
    );
    // AWS: the key is inactive, the role's older sessions denied.
    let aws_state = moto.state(&operator);
    let statuses_now = key_statuses(&aws_state);
    assert_eq!(statuses_now[AGENT_KEY], "Inactive");
    let other_keys: Vec<&Value> = keys[AGENT_USER]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| *k != AGENT_KEY)
        .collect();
    for key in &other_keys {
        assert_eq!(
            statuses_now[key.as_str().unwrap()],
            "Active",
            "not in the signal"
        );
    }
    assert!(aws_state["roles"][ROLE]["policies"]["AWSRevokeOlderSessions"].is_object());
    // Okta: the service app is off, the service user's API token gone.
    assert_eq!(
        okta.state.app(&okta_demo.agent_app_id).unwrap().status,
        "INACTIVE"
    );
    assert!(!okta.state.api_token_exists(&okta_demo.agent_api_token_id));
    assert!(okta.state.api_token_exists(ADMIN_API_TOKEN_ID));
    assert_eq!(
        okta.state.app(&okta_demo.ide_app_id).unwrap().status,
        "ACTIVE"
    );
    // CyberArk: both of the agent's sessions ended, Alice's (on the same
    // shared account) did not; the account's credential is PAM's call.
    let ended = |id: &str| cyberark.state.live_session(id).unwrap().terminated;
    assert!(ended(&ca_demo.agent_session_id));
    assert!(ended(&ca_demo.agent_rdp_session_id));
    assert!(!ended(&ca_demo.alice_session_id));
    let shared = cyberark
        .state
        .account(&ca_demo.shared_root_account_id)
        .unwrap();
    assert_eq!(shared.secret_version, 1);
    assert_eq!(
        cyberark.state.logon_count(),
        0,
        "every PVWA session logged off"
    );

    // A repeat changes nothing that is already contained.
    let again = sims::run(&ws, PLAYBOOK, SIGNAL, &[]);
    again.expect_code(0);
    let again = again.json();
    for step in [
        "vault-token",
        "vault-entity",
        "aws-key",
        "okta-app",
        "okta-api-token",
        "cyberark-sessions",
    ] {
        assert_eq!(
            status_of(&again, step),
            "already-applied",
            "{step}: {again}"
        );
    }
    // Session revocation re-stamps its cut-off time: it always applies.
    assert_eq!(status_of(&again, "aws-role-sessions"), "applied");

    // The owning teams undo the reversible actions with the restore data.
    let restore = |step: &str, key: &str| {
        actions_of(&report, step)[0]["restore"][key]
            .as_str()
            .unwrap_or_else(|| panic!("{step} recorded `{key}`: {report}"))
            .to_string()
    };
    let entity = restore("vault-entity", "entity_id");
    let user = restore("aws-key", "user");
    let app = restore("okta-app", "app_id");
    assert_eq!(user, AGENT_USER);
    let undo = sims::playbook(
        "undo-agent-containment",
        "nhi",
        &[
            Step::new("entity", "vault", "enable-entity", "agent").param("entity_id", &entity),
            Step::new("key", "aws", "reactivate-access-key", "access-key").param("user", &user),
            Step::new("app", "okta", "activate-app", "agent").param("app_id", &app),
        ],
    );
    let restored = sims::run(&ws, &undo, SIGNAL, &[]);
    restored.expect_code(0);
    assert_eq!(statuses(&restored.json()), ["applied"; 3]);
    assert!(
        !vault
            .state
            .entity(&vault_demo.agent_entity_id)
            .unwrap()
            .disabled
    );
    assert_eq!(key_statuses(&moto.state(&operator))[AGENT_KEY], "Active");
    assert_eq!(
        okta.state.app(&okta_demo.agent_app_id).unwrap().status,
        "ACTIVE"
    );
}
