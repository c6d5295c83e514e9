//! Containment finishes after a crash at the worst moment: the provider has
//! applied a write, its answer has not arrived, and `cordon` is killed. The
//! provider can no longer say what later steps need (Vault forgets a revoked
//! token's accessor, and with it the entity to fence), so the plugin keeps
//! that evidence durably before the write (`checkpoint`) and the resumed run
//! uses it. Judged by the Vault simulator's own state.

use cordon_e2e::cordon::{RUN, RUN_JSON, actions_of};
use cordon_e2e::sims::{
    self, LeakedTokens, VAULT_ROOT_TOKEN, assert_one_action_per_target, leaked_tokens,
    leaked_tokens_workspace, leaked_tokens_workspace_with,
};
use cordon_e2e::wait_for;
use cordon_sim::Faults;
use cordon_store_postgres::testing::TempPostgres;
use std::process::Stdio;
use std::time::{Duration, Instant};

const PLAYBOOK: &str = include_str!("../../playbooks/vault-token-leak.toml");

/// The kill campaign's model: the NHI team revokes and quarantines at once,
/// and restores.
const NHI_MAY_REVOKE_AND_QUARANTINE: &str = "[teams.nhi]\nmembers = [\"nadia\"]\ndomains = [\"nhi\"]\nimmediate = [\"revoke\", \"quarantine\"]\n";

#[test]
fn a_kill_after_the_revocations_land_but_before_their_answers_still_fences_every_entity() {
    const TOKENS: usize = 12;
    let (sim, _) = sims::vault();
    let leaked = leaked_tokens(&sim.state, "leaked", TOKENS);
    let ws = leaked_tokens_workspace(
        sims::vault_plugin(&sim.url).limit("concurrency", TOKENS as u64),
        None,
        PLAYBOOK,
        &leaked,
    );
    let LeakedTokens {
        accessors,
        entities,
        ..
    } = leaked;

    // Every revocation is applied and its answer lost; cordon is killed
    // while it waits for them.
    sim.state
        .set_faults(Faults::lose_answers(TOKENS as u32, "revoke-accessor"));
    let mut child = ws
        .command(RUN)
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

/// The kill campaign: 300 leaked tokens, the shipped Vault playbook, and
/// `cordon` killed with SIGKILL 20 times at random points of its progress
/// (each restart is `cordon resume`). The last resume finishes: every token
/// revoked and every entity fenced, by one recorded action each; then the
/// owners restore the run and every entity is enabled again. The random
/// points come from a seed printed on failure.
#[test]
fn twenty_kills_at_random_points_then_resume_and_restore_contain_and_release_everyone() {
    kill_campaign(None);
}

/// The kill campaign with the state in a real PostgreSQL.
#[test]
fn the_kill_campaign_holds_on_the_postgres_store() {
    let pg = TempPostgres::start();
    kill_campaign(Some(&pg.fresh_database()));
}

fn kill_campaign(postgres: Option<&str>) {
    const N: usize = 300;
    const KILLS: usize = 20;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("kill campaign seed {seed}");
    let mut rng = seed | 1;
    let mut next = move |below: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % below.max(1) as u64) as usize
    };

    let mut config = cordon_sim::vault::VaultConfig::with_root_token(VAULT_ROOT_TOKEN);
    // A little latency keeps calls in flight, where kills hurt most.
    config.faults.latency_ms = 2;
    let (sim, _) = sims::vault_with(config);
    let leaked = leaked_tokens(&sim.state, "leaked", N);
    let ws = leaked_tokens_workspace_with(
        sims::vault_plugin(&sim.url),
        Some(NHI_MAY_REVOKE_AND_QUARANTINE),
        PLAYBOOK,
        &leaked,
        |ws| ws.store_in(postgres),
    );
    let LeakedTokens {
        accessors,
        entities,
        ..
    } = leaked;

    let progress = || {
        accessors
            .iter()
            .filter(|a| sim.state.token(a).is_some_and(|t| t.revoked))
            .count()
            + entities
                .iter()
                .filter(|e| sim.state.entity(e).is_some_and(|e| e.disabled))
                .count()
    };
    let mut args: &[&str] = RUN;
    let mut kills = 0;
    while kills < KILLS {
        let mut child = ws
            .command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        args = &["resume"];
        let done = progress();
        let left = 2 * N - done;
        if left == 0 {
            child.wait().unwrap();
            break;
        }
        // Somewhere in this process's share of what is left (at least one
        // more effect, so every round moves on).
        let target = done + 1 + next((2 * left / (KILLS - kills)).max(1));
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if progress() >= target.min(2 * N) || child.try_wait().unwrap().is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "seed {seed}: no progress");
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = child.kill(); // SIGKILL (a no-op if it already exited)
        child.wait().unwrap();
        kills += 1;
    }
    eprintln!("kill campaign: {kills} kills");
    assert!(
        kills >= KILLS,
        "seed {seed}: the run finished after {kills} kills"
    );
    let finished = ws.cordon(&["resume"]);
    assert!(
        matches!(finished.code(), 0),
        "seed {seed}, {kills} kills: {}",
        finished.stderr()
    );
    let runs = ws.cordon(&["runs", "list", "--json"]).json();
    assert_eq!(runs.as_array().unwrap().len(), 1, "seed {seed}: {runs}");
    let run_id = runs[0]["run_id"].as_str().unwrap().to_string();
    let report = ws.cordon(&["runs", "show", &run_id, "--json"]).json();
    let unfinished: Vec<_> = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] != "applied")
        .collect();
    assert_eq!(
        report["status"], "completed",
        "seed {seed}: actions not applied: {unfinished:?}"
    );
    for (step, wanted) in [("revoke", &accessors), ("fence", &entities)] {
        assert_one_action_per_target(&report, step, wanted, |a| a["status"] == "applied");
    }
    assert_eq!(
        progress(),
        2 * N,
        "seed {seed}: every token revoked, every entity fenced"
    );

    // The owners restore what the run did: every entity is enabled again
    // (revocations cannot be undone), whichever attempt applied it.
    let restored = ws.cordon(&["restore", &run_id, "--as", "nadia", "--json"]);
    restored.expect_code(0);
    let enabled = entities
        .iter()
        .filter(|e| !sim.state.entity(e).unwrap().disabled)
        .count();
    assert_eq!(enabled, N, "seed {seed}: every fenced entity restored");
    assert_eq!(
        ws.cordon(&["audit", "verify"]).code(),
        0,
        "seed {seed}: the audit log and the records agree"
    );
    if postgres.is_some() {
        assert!(
            !ws.store_dir().exists(),
            "nothing was kept in a sled folder"
        );
    }
}

/// Issue 12 item 4: `cordon approve` killed while the approved revocations
/// are in flight (applied at Vault, answers lost). The resumed run still
/// fences every entity, from the evidence the revocations checkpointed.
#[test]
fn a_kill_during_approve_still_contains_every_identity_on_resume() {
    const TOKENS: usize = 8;
    let (sim, _) = sims::vault();
    let leaked = leaked_tokens(&sim.state, "leaked", TOKENS);
    // Revocations wait for the NHI team's approval; fences do not.
    let ws = leaked_tokens_workspace(
        sims::vault_plugin(&sim.url).limit("concurrency", TOKENS as u64),
        Some(
            "[teams.nhi]\nmembers = [\"nadia\"]\ndomains = [\"nhi\"]\nimmediate = [\"quarantine\"]\n",
        ),
        PLAYBOOK,
        &leaked,
    );
    let LeakedTokens {
        accessors,
        entities,
        ..
    } = leaked;
    let waiting = ws.cordon(RUN_JSON);
    waiting.expect_code(4);
    let run_id = waiting.json()["run_id"].as_str().unwrap().to_string();

    sim.state
        .set_faults(Faults::lose_answers(TOKENS as u32, "revoke-accessor"));
    let mut approving = ws
        .command(&["approve", &run_id, "--as", "nadia"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(
        "every approved revocation applied",
        Duration::from_secs(120),
        || {
            accessors
                .iter()
                .all(|a| sim.state.token(a).is_some_and(|t| t.revoked))
        },
    );
    approving.kill().unwrap(); // SIGKILL
    approving.wait().unwrap();
    sim.state.set_faults(Faults::none());

    let resumed = ws.cordon(&["resume", "--json"]);
    resumed.expect_code(0);
    assert_eq!(
        resumed.json()[0]["status"],
        "completed",
        "{}",
        resumed.stdout()
    );
    for entity in &entities {
        assert!(
            sim.state.entity(entity).unwrap().disabled,
            "entity {entity} fenced after the approval was cut short"
        );
    }
}
