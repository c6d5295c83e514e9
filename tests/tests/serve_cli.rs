//! The CLI as the server's client for what the other service tests leave
//! out: `reject`, `grant commander` and `grant revoke` acting as the token's
//! principal (and refused for someone not entitled), `runs list` and
//! `audit export`, whose output matches the local store's once the server
//! has stopped.

use cordon_e2e::cordon::Workspace;
use cordon_e2e::served::{agent_containment, agent_identities, audit, served, signal, tokens};
use cordon_e2e::server::Server;
use cordon_e2e::sims;

#[test]
fn reject_grants_runs_and_the_audit_export_work_against_the_server_as_on_the_local_store() {
    let (sim, demo) = sims::vault();
    let tokens = tokens();
    let ws = served(&sim, &agent_containment(), &tokens, "", 4);
    let mut server = Server::start(&ws);
    let accepted = server.post(
        "/v1/signals",
        &tokens.detector,
        &signal(agent_identities(&demo)),
    );
    let run_id = accepted["runs"][0]["run_id"].as_str().unwrap().to_string();
    assert_eq!(
        server.settled(&run_id, &tokens.nadia)["status"],
        "awaiting-approval"
    );

    let client = |token: &str| {
        let mut cli = Workspace::new();
        cli.env("CORDON_ADDR", &server.url);
        cli.env("CORDON_TOKEN", token);
        cli
    };
    let nadia = client(&tokens.nadia);
    let mallory = client(&tokens.mallory);

    // Mallory may not answer; nadia rejects, and the run ends without it.
    let refused = mallory.cordon(&["reject", &run_id, "--reason", "looks fine to me"]);
    assert_ne!(refused.code(), 0);
    let rejected = nadia.cordon(&["reject", &run_id, "--reason", "a false positive", "--json"]);
    rejected.expect_code(3);
    assert_eq!(rejected.json()["status"], "partial");
    assert!(!sim.state.entity(&demo.agent_entity_id).unwrap().disabled);

    // A commander grant and its revocation, as nadia; mallory's is refused.
    let granted = nadia.cordon(&[
        "grant",
        "commander",
        "--incident",
        "INC-E2E",
        "--principal",
        "ivan@acme.example",
        "--ttl",
        "1h",
    ]);
    granted.expect_code(0);
    let refused = mallory.cordon(&[
        "grant",
        "commander",
        "--incident",
        "INC-E2E",
        "--principal",
        "mallory@acme.example",
        "--ttl",
        "1h",
    ]);
    assert_ne!(refused.code(), 0);
    let records = audit(&server, &tokens.nadia);
    let grant = records
        .iter()
        .find(|r| r["kind"] == "grant.created")
        .expect("the grant is audited");
    assert_eq!(grant["principal"], "nadia@acme.example");
    let grant_id = grant["data"]["grant"].as_str().unwrap().to_string();
    assert!(
        records
            .iter()
            .any(|r| r["kind"] == "grant.refused" && r["principal"] == "mallory@acme.example")
    );
    assert!(
        records
            .iter()
            .any(|r| r["kind"] == "approval.rejected" && r["principal"] == "nadia@acme.example")
    );
    nadia.cordon(&["grant", "revoke", &grant_id]).expect_code(0);
    let listed = nadia.cordon(&["grant", "list"]);
    listed.expect_code(0);
    assert!(
        listed.stdout().contains("revoked by nadia@acme.example"),
        "{}",
        listed.stdout()
    );

    // Once the server stops, the local store prints the same.
    let runs = nadia.cordon(&["runs", "list"]);
    runs.expect_code(0);
    assert!(runs.stdout().contains(&run_id), "{}", runs.stdout());
    let export = nadia.cordon(&["audit", "export"]);
    export.expect_code(0);
    let grants = listed.stdout().to_string();
    assert_eq!(server.sigterm().code(), Some(0));
    let local = |args: &[&str]| {
        let run = ws.cordon(args);
        run.expect_code(0);
        run.stdout().to_string()
    };
    assert_eq!(local(&["runs", "list"]), runs.stdout());
    assert_eq!(local(&["grant", "list"]), grants);
    // The local export also holds what the server wrote as it stopped.
    let local_export = local(&["audit", "export"]);
    assert!(
        local_export.starts_with(export.stdout().as_str()),
        "the server's export is a prefix of the store's"
    );
    assert!(export.stdout().lines().count() > 10, "{}", export.stdout());
}

/// A dry run submitted to the server finishes without waiting for the
/// approval its real run needs, and neither blocks nor stands in for the
/// real run of the same signal.
#[test]
fn a_dry_run_on_the_server_never_waits_and_never_blocks_the_real_run() {
    let (sim, demo) = sims::vault();
    let tokens = tokens();
    let ws = served(&sim, &agent_containment(), &tokens, "", 4);
    let server = Server::start(&ws);
    let body = |dry_run: bool| {
        serde_json::json!({
            "playbook": "agent-containment",
            "signal": signal(agent_identities(&demo)),
            "dry_run": dry_run,
        })
    };
    let dry = server.post("/v1/runs", &tokens.detector, &body(true));
    let dry_id = dry["run_id"].as_str().unwrap().to_string();
    let report = server.settled(&dry_id, &tokens.nadia);
    assert_eq!(report["status"], "completed", "{report}");
    let disable = &cordon_e2e::cordon::actions_of(&report, "disable")[0];
    assert_eq!(disable["status"], "planned", "{disable}");
    assert!(
        disable["detail"]
            .as_str()
            .unwrap()
            .contains("a real run waits for approval by a member of team nhi"),
        "{disable}"
    );
    assert!(!sim.state.token(&demo.agent_token_accessor).unwrap().revoked);
    assert_eq!(
        server.get("/v1/approvals", &tokens.nadia),
        serde_json::json!([])
    );

    // The real run starts (no 409), and only it waits.
    let real = server.post("/v1/runs", &tokens.detector, &body(false));
    let real_id = real["run_id"].as_str().unwrap().to_string();
    assert_ne!(real_id, dry_id);
    assert_eq!(
        server.settled(&real_id, &tokens.nadia)["status"],
        "awaiting-approval"
    );
    let refused = server.request(
        "POST",
        &format!("/v1/runs/{dry_id}/approve"),
        Some(&tokens.nadia),
        Some("{}"),
    );
    let problem = refused.problem(409);
    assert!(
        problem["detail"].as_str().unwrap().contains("is a dry run"),
        "{problem}"
    );
    server.post(
        &format!("/v1/runs/{real_id}/approve"),
        &tokens.nadia,
        &serde_json::json!({}),
    );
    assert_eq!(
        server.settled(&real_id, &tokens.nadia)["status"],
        "completed"
    );
    assert!(sim.state.entity(&demo.agent_entity_id).unwrap().disabled);
}
