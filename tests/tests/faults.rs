//! A provider that hangs: a hung request fails on its own timeout, shorter
//! than the call's, as a transient error the engine retries, and it stays in
//! the action's record; every request the provider saw, `inspect`'s
//! included, is in the run's record. Judged by the Vault simulator's own
//! request log and state.

use cordon_e2e::cordon::{RUN_JSON, Workspace, actions_of};
use cordon_e2e::sims::{
    self, LeakedTokens, VAULT_ROOT_TOKEN, assert_one_action_per_target, leaked_tokens,
};
use cordon_sim::Faults;
use cordon_sim::vault::VaultState;
use serde_json::Value;

fn workspace(sim: &sims::Sim<VaultState>, timeout_ms: u64) -> Workspace {
    let ws = sims::workspace(
        &[sims::vault_plugin(&sim.url).limit("timeout_ms", timeout_ms)],
        &[("VAULT_TOKEN", VAULT_ROOT_TOKEN)],
    );
    ws.write(
        "playbook.toml",
        include_str!("../../playbooks/vault-token-leak.toml"),
    );
    ws
}

#[test]
fn a_hung_request_times_out_alone_is_retried_and_stays_in_the_record() {
    let (sim, _) = sims::vault();
    let LeakedTokens {
        accessors,
        entities,
        identities,
    } = leaked_tokens(&sim.state, "leaked", 1);
    // The call may take 4 s, each request half of that: the first lookup of
    // the token hangs, the call is still alive when its request gives up.
    let ws = workspace(&sim, 4000);
    ws.write("signal.json", &sims::signal(identities));
    sim.state
        .set_faults(Faults::lose_answers(1, "lookup-accessor"));
    let run = ws.cordon(RUN_JSON);
    run.expect_code(0);
    let report = run.json();
    let revoke = actions_of(&report, "revoke")[0];
    assert_eq!(revoke["status"], "applied", "{revoke}");
    assert_eq!(revoke["attempts"], 2, "retried once: {revoke}");
    let hung: Vec<&Value> = revoke["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"].is_null())
        .collect();
    assert_eq!(hung.len(), 1, "the hung request is recorded: {revoke}");
    assert!(
        hung[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("lookup-accessor"),
        "{revoke}"
    );
    assert!(hung[0]["error"].is_string(), "{revoke}");
    assert!(sim.state.token(&accessors[0]).unwrap().revoked);
    assert!(sim.state.entity(&entities[0]).unwrap().disabled);
}

#[test]
fn every_request_the_provider_saw_is_in_the_runs_record() {
    let (sim, _) = sims::vault();
    let tokens = leaked_tokens(&sim.state, "leaked", 20);
    // The tokens' facts come from their revocations' evidence (Vault forgets
    // a revoked token); an entity no step acts on is inspected.
    let mut identities = tokens.identities;
    identities.as_array_mut().unwrap().push(serde_json::json!({
        "provider": "vault", "kind": "agent", "id": tokens.entities[0]
    }));
    let ws = workspace(&sim, 10_000);
    ws.write("signal.json", &sims::signal(identities));
    let run = ws.cordon(RUN_JSON);
    run.expect_code(0);
    let run_id = run.json()["run_id"].as_str().unwrap().to_string();
    let report = ws.cordon(&["runs", "show", &run_id, "--json"]).json();
    let count = |list: &Value| -> usize {
        list.as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["requests"].as_array().unwrap().len())
            .sum()
    };
    let acted = count(&report["actions"]);
    let inspected = count(&report["inspections"]);
    assert!(inspected > 0, "inspections made requests: {report}");
    assert_eq!(
        acted + inspected,
        sim.state.requests().len(),
        "every request the simulator answered is recorded"
    );
}

/// The fault campaign: 200 leaked tokens against a Vault answering 10 %
/// 500s, 5 % 429s and 1 % hung requests. Every token is revoked and every
/// entity fenced, each by exactly one recorded action.
#[test]
fn under_5xx_429_and_hung_requests_every_identity_is_contained_exactly_once() {
    const N: usize = 200;
    let (sim, _) = sims::vault();
    let LeakedTokens {
        accessors,
        entities,
        identities,
    } = leaked_tokens(&sim.state, "leaked", N);
    let ws = workspace(&sim, 2000);
    ws.write("signal.json", &sims::signal(identities));
    sim.state.set_faults(Faults {
        error_rate: 0.10,
        throttle_rate: 0.05,
        hang_rate: 0.01,
        ..Faults::none()
    });
    let run = ws.cordon(RUN_JSON);
    sim.state.set_faults(Faults::none());
    let report = run.json();
    assert_eq!(report["status"], "completed", "{}", run.stderr());
    let stats = sim.state.stats();
    assert!(stats.injected_faults > 0, "faults were injected: {stats:?}");
    for (step, ids) in [("revoke", &accessors), ("fence", &entities)] {
        assert_one_action_per_target(&report, step, ids, |a| {
            a["status"] == "applied" || a["status"] == "already-applied"
        });
    }

    for accessor in &accessors {
        assert!(sim.state.token(accessor).unwrap().revoked);
    }
    for entity in &entities {
        assert!(sim.state.entity(entity).unwrap().disabled);
    }
}
