//! Containment finishes after a crash at the worst moment: the provider has
//! applied a write, its answer has not arrived, and `cordon` is killed. The
//! provider can no longer say what later steps need (Vault forgets a revoked
//! token's accessor, and with it the entity to fence), so the plugin keeps
//! that evidence durably before the write (`checkpoint`) and the resumed run
//! uses it. Judged by the Vault simulator's own state.

use cordon_e2e::cordon::{Workspace, actions_of};
use cordon_e2e::sims::{self, VAULT_ROOT_TOKEN};
use cordon_sim::Faults;
use cordon_sim::vault::{EntitySpec, TokenSpec};
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::{Duration, Instant};

const PLAYBOOK: &str = include_str!("../../playbooks/vault-token-leak.toml");

/// Waits until `condition` holds, failing after `limit`.
fn wait_for(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_kill_after_the_revocations_land_but_before_their_answers_still_fences_every_entity() {
    const TOKENS: usize = 12;
    let (sim, _) = sims::vault();
    let entities: Vec<String> = (0..TOKENS)
        .map(|i| {
            sim.state.seed_entity(EntitySpec {
                name: format!("agent-{i}"),
                ..EntitySpec::default()
            })
        })
        .collect();
    let accessors: Vec<String> = entities
        .iter()
        .enumerate()
        .map(|(i, entity)| {
            sim.state
                .seed_token(TokenSpec::new(&format!("leaked-{i}")).entity(entity))
        })
        .collect();
    // The signal names the tokens only: the entities come from evidence.
    let identities: Vec<Value> = accessors
        .iter()
        .map(|a| json!({ "provider": "vault", "kind": "token", "id": a }))
        .collect();
    let ws: Workspace = sims::workspace(
        &[sims::vault_plugin(&sim.url).limit("concurrency", TOKENS as u64)],
        &[("VAULT_TOKEN", VAULT_ROOT_TOKEN)],
    );
    ws.write("playbook.toml", PLAYBOOK);
    ws.write("signal.json", &sims::signal(Value::Array(identities)));

    // Every revocation is applied and its answer lost; cordon is killed
    // while it waits for them.
    sim.state.set_faults(Faults {
        lose_answers: TOKENS as u32,
        lose_path: Some("revoke-accessor".into()),
        ..Faults::none()
    });
    let mut child = ws
        .command(&[
            "run",
            "--playbook",
            "playbook.toml",
            "--signal",
            "signal.json",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("every revocation applied", Duration::from_secs(120), || {
        accessors
            .iter()
            .all(|a| sim.state.token(a).is_some_and(|t| t.revoked))
    });
    child.kill().unwrap(); // SIGKILL
    assert!(!child.wait().unwrap().success());
    assert!(
        entities
            .iter()
            .all(|e| !sim.state.entity(e).unwrap().disabled),
        "killed before any fence"
    );
    sim.state.set_faults(Faults::none());

    let resumed = ws.cordon(&["resume", "--json"]);
    resumed.expect_code(0);
    let report = &resumed.json()[0];
    assert_eq!(report["status"], "completed", "{report}");
    for revoke in actions_of(report, "revoke") {
        assert_eq!(revoke["status"], "applied", "{revoke}");
        assert!(
            revoke["detail"]
                .as_str()
                .unwrap()
                .contains("whose answer was lost"),
            "{revoke}"
        );
        assert!(revoke["evidence"]["entity_id"].is_string(), "{revoke}");
    }
    assert_eq!(actions_of(report, "fence").len(), TOKENS);
    for entity in &entities {
        assert!(
            sim.state.entity(entity).unwrap().disabled,
            "entity {entity} fenced after resume"
        );
    }
    let checkpoints = ws
        .cordon(&["audit", "export"])
        .stdout()
        .lines()
        .filter(|l| l.contains("\"kind\":\"action.checkpoint\""))
        .count();
    assert_eq!(checkpoints, TOKENS, "one checkpoint per revocation");
}
