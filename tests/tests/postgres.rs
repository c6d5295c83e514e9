//! The `cordon` binary with its state in a real PostgreSQL (`[store]
//! backend = "postgres"`): runs, records and the audit chain live in the
//! database, a second machine with the same URL sees them, and the URL's
//! password appears in nothing cordon prints. Judged by the Vault
//! simulator's own state and by the database's tables.

use cordon_e2e::cordon::{RUN_JSON, Workspace};
use cordon_e2e::served::{
    bulk, bulk_playbook, revocations, revoked, served_with, signal, slow_vault, tokens,
};
use cordon_e2e::server::Server;
use cordon_e2e::sims::{self, LeakedTokens, leaked_tokens, leaked_tokens_workspace_with};
use cordon_store_postgres::testing::TempPostgres;
use std::time::Duration;

const PLAYBOOK: &str = include_str!("../../playbooks/vault-token-leak.toml");
const NHI: &str = "[teams.nhi]\nmembers = [\"nadia\"]\ndomains = [\"nhi\"]\nimmediate = [\"revoke\", \"quarantine\"]\n";

/// A workspace running the shipped vault-token-leak playbook on `leaked`,
/// its state in PostgreSQL at `postgres` if given (else in sled).
fn vault_token_leak(
    sim: &sims::Sim<cordon_sim::vault::VaultState>,
    leaked: &LeakedTokens,
    postgres: Option<&str>,
) -> Workspace {
    leaked_tokens_workspace_with(
        sims::vault_plugin(&sim.url),
        Some(NHI),
        PLAYBOOK,
        leaked,
        |ws| ws.store_in(postgres),
    )
}

#[test]
fn a_run_on_postgres_contains_every_token_and_another_machine_sees_it() {
    const N: usize = 20;
    let pg = TempPostgres::start();
    let url = pg.fresh_database();
    let (sim, _) = sims::vault();
    let leaked = leaked_tokens(&sim.state, "leaked", N);
    let ws = vault_token_leak(&sim, &leaked, Some(&url));
    let LeakedTokens {
        accessors,
        entities,
        ..
    } = leaked;

    let run = ws.cordon(RUN_JSON);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["status"], "completed", "{report}");
    assert!(
        accessors
            .iter()
            .all(|a| sim.state.token(a).unwrap().revoked)
    );
    assert!(
        entities
            .iter()
            .all(|e| sim.state.entity(e).unwrap().disabled)
    );
    assert!(
        !ws.store_dir().exists(),
        "nothing was kept in a sled folder"
    );

    // Another machine, the same database: it sees the run and verifies the
    // chain the first one wrote.
    let mut other = Workspace::new();
    other.postgres(&url);
    other.write_config(&[]);
    let runs = other.cordon(&["runs", "list", "--json"]);
    runs.expect_code(0);
    let runs = runs.json();
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(runs[0]["run_id"], report["run_id"]);
    let verify = other.cordon(&["audit", "verify"]);
    assert_eq!(verify.code(), 0, "{}", verify.stderr());
    let export = other.cordon(&["audit", "export"]);
    export.expect_code(0);
    let outcomes = export
        .stdout()
        .lines()
        .filter(|l| l.contains("\"kind\":\"action.outcome\""))
        .count();
    assert_eq!(outcomes, 2 * N, "one outcome per revocation and per fence");

    let printed = [&run, &runs_text(&other), &verify, &export]
        .iter()
        .map(|r| format!("{}{}", r.stdout(), r.stderr()))
        .collect::<String>();
    assert!(!printed.contains(pg.password()), "the password was printed");
}

fn runs_text(ws: &Workspace) -> cordon_e2e::cordon::Run {
    let run = ws.cordon(&["runs", "list"]);
    run.expect_code(0);
    run
}

#[test]
fn an_unreachable_or_missing_database_url_is_refused_naming_where_it_came_from() {
    let pg = TempPostgres::start();
    let mut ws = Workspace::new();
    ws.postgres(&pg.url("postgres"));
    ws.write_config(&[]);
    let listed = ws.cordon(&["runs", "list", "--json"]);
    listed.expect_code(0);
    assert_eq!(listed.json(), serde_json::json!([]));

    // The server goes away: commands refuse, saying why, without the password.
    let url = pg.url("postgres");
    let password = pg.password().to_string();
    drop(pg);
    let refused = ws.cordon(&["runs", "list"]);
    assert_ne!(refused.code(), 0);
    let stderr = refused.stderr();
    assert!(stderr.contains("cannot connect to PostgreSQL"), "{stderr}");
    assert!(stderr.contains("postgres://cordon@127.0.0.1:"), "{stderr}");
    assert!(!stderr.contains(&password), "{stderr}");
    assert!(!url.is_empty());

    // No URL in the environment: the error names the variable and the line.
    let mut unset = Workspace::new();
    unset.postgres("placeholder");
    unset.write_config(&[]);
    let refused = unset
        .command(&["runs", "list"])
        .env_remove("CORDON_STORE_URL")
        .output()
        .unwrap();
    assert_ne!(refused.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("environment variable CORDON_STORE_URL is not set"),
        "{stderr}"
    );
    assert!(stderr.contains("cordon.toml:3"), "{stderr}");
}

/// The differential: the same scenario on sled and on PostgreSQL (two
/// simulators seeded alike) leaves the same records — each action's step,
/// target, effect, status and attempts, the run's status, and the audit
/// chain's events kind by kind — once the ids each simulator made up are
/// replaced by their place in the signal.
#[test]
fn the_same_run_on_sled_and_on_postgres_leaves_the_same_records() {
    const N: usize = 12;
    let pg = TempPostgres::start();
    let url = pg.fresh_database();
    let outcomes: Vec<(serde_json::Value, Vec<String>)> = [None, Some(url.as_str())]
        .into_iter()
        .map(|postgres| {
            let (sim, _) = sims::vault();
            let leaked = leaked_tokens(&sim.state, "leaked", N);
            let ws = vault_token_leak(&sim, &leaked, postgres);
            let run = ws.cordon(RUN_JSON);
            run.expect_code(0);
            let run_id = run.json()["run_id"].as_str().unwrap().to_string();
            let shown = ws.cordon(&["runs", "show", &run_id, "--json"]);
            shown.expect_code(0);
            let mut text = shown.stdout().replace(&run_id, "RUN");
            for (i, id) in leaked.accessors.iter().chain(&leaked.entities).enumerate() {
                text = text.replace(id.as_str(), &format!("ID{i}"));
            }
            let report: serde_json::Value = serde_json::from_str(&text).unwrap();
            let mut kinds: Vec<String> = ws
                .cordon(&["audit", "export"])
                .stdout()
                .lines()
                .map(|line| {
                    let record: serde_json::Value = serde_json::from_str(line).unwrap();
                    record["kind"].as_str().unwrap().to_string()
                })
                .collect();
            kinds.sort();
            (records(&report), kinds)
        })
        .collect();
    assert_eq!(outcomes[0].0, outcomes[1].0, "the same actions");
    assert_eq!(outcomes[0].1, outcomes[1].1, "the same audit events");
    assert_eq!(outcomes[0].0["actions"].as_array().unwrap().len(), 2 * N);
}

/// What the differential compares of a report: the run's status and, per
/// action sorted by step and target, what was done and how it ended.
fn records(report: &serde_json::Value) -> serde_json::Value {
    let mut actions: Vec<serde_json::Value> = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            serde_json::json!({
                "step": a["step"], "target": a["target"]["id"], "effect": a["effect"],
                "status": a["status"], "attempts": a["attempts"], "action": a["action"],
            })
        })
        .collect();
    actions.sort_by_key(|a| a.to_string());
    serde_json::json!({ "status": report["status"], "actions": actions })
}

/// While the database is away, `cordon serve` refuses a new signal with a
/// 503 problem and `Retry-After` (so the detector delivers it again) and
/// the run in progress waits; once the database is back the run finishes
/// by itself, without a restart — each token revoked, no action twice —
/// and the refused signal, delivered again, is contained too.
#[test]
fn while_the_database_is_away_signals_get_503_and_the_run_waits_for_it() {
    const N: usize = 60;
    let mut pg = TempPostgres::start();
    let url = pg.fresh_database();
    let sim = slow_vault(50);
    let tokens = tokens();
    let (accessors, identities) = bulk(&sim, N);
    let (late, late_identities) = bulk(&sim, 1);
    let playbook = bulk_playbook();
    let ws = served_with(&sim, &playbook, &tokens, "", 2, |ws| ws.postgres(&url));
    let mut server = Server::start(&ws);
    let accepted = server.post("/v1/signals", &tokens.detector, &signal(identities));
    let run_id = accepted["runs"][0]["run_id"].as_str().unwrap().to_string();
    server.wait_until("some tokens are revoked", Duration::from_secs(120), || {
        revoked(&sim, &accessors) >= 5
    });

    pg.stop();
    let mut log = Vec::new();
    server.wait_until(
        "the run waits for the store",
        Duration::from_secs(60),
        || {
            log.extend(server.log());
            log.iter()
                .any(|l| l.contains("run paused, the store is unavailable"))
        },
    );
    let late_signal = signal(late_identities).to_string();
    let refused = server.request(
        "POST",
        "/v1/signals",
        Some(&tokens.detector),
        Some(&late_signal),
    );
    let problem = refused.problem(503);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("the store is unavailable"),
        "{problem}"
    );
    assert_eq!(
        refused.headers.get("retry-after").map(String::as_str),
        Some("5")
    );
    let stalled = revoked(&sim, &accessors);
    assert!(stalled < N, "the run finished without its store");

    pg.restart();
    let report = server.settled(&run_id, &tokens.nadia);
    assert_eq!(report["status"], "completed", "{report}");
    assert_eq!(revoked(&sim, &accessors), N, "every token is revoked");
    let actions = report["actions"].as_array().unwrap();
    assert_eq!(actions.len(), N, "one action per token");
    assert!(actions.iter().all(|a| a["status"] == "applied"), "{report}");
    // Only calls in flight when the store went away (at most one per
    // slot) may have been sent again, with the same idempotency key.
    assert!(
        revocations(&sim) <= N + 2,
        "{} revocations",
        revocations(&sim)
    );

    // The detector delivers the refused signal again: it runs now.
    let accepted = server.post(
        "/v1/signals",
        &tokens.detector,
        &serde_json::from_str(&late_signal).unwrap(),
    );
    let late_run = accepted["runs"][0]["run_id"].as_str().unwrap().to_string();
    let report = server.settled(&late_run, &tokens.nadia);
    assert_eq!(report["status"], "completed", "{report}");
    assert_eq!(revoked(&sim, &late), 1);
    server.sigterm();
    log.extend(server.log());

    let verify = ws.cordon(&["audit", "verify"]);
    assert_eq!(verify.code(), 0, "{}", verify.stderr());
    let written = format!("{}{}{}", log.join("\n"), refused.body, verify.stdout());
    assert!(!written.contains(pg.password()), "the password was written");
}
