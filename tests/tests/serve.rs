//! `cordon serve` end to end: the real server process against the Vault
//! simulator — signals in over the authenticated API, approvals acting as
//! the token's principal, 401/403 with their audit records, live events,
//! the CLI as its client, SIGTERM drain, and `kill -9` with 500 identities.
//! Every effect is checked in the simulator's own state.

use cordon_e2e::cordon::Workspace;
use cordon_e2e::served::{
    agent_containment, agent_identities, audit, bulk, bulk_playbook, revocations, revoked, served,
    served_with, signal, slow_vault, tokens,
};
use cordon_e2e::server::{Server, next_event};
use cordon_e2e::sims::{self, Step};
use serde_json::{Value, json};
use std::time::Duration;

#[test]
fn signals_run_approvals_act_as_the_caller_and_refusals_are_audited() {
    let (sim, demo) = sims::vault();
    let tokens = tokens();
    let playbook = agent_containment();
    let ws = served(&sim, &playbook, &tokens, "", 4);
    let server = Server::start(&ws);
    let events = server.events("", &tokens.nadia);

    // Unauthenticated, forged and unentitled callers are refused, and audited.
    server.request("GET", "/v1/runs", None, None).problem(401);
    let flipped = if tokens.nadia.ends_with('0') {
        '1'
    } else {
        '0'
    };
    let forged = format!("{}{flipped}", &tokens.nadia[..tokens.nadia.len() - 1]);
    server
        .request("GET", "/v1/runs", Some(&forged), None)
        .problem(401);
    let forbidden = server
        .request("GET", "/v1/runs", Some(&tokens.detector), None)
        .problem(403);
    assert!(
        forbidden["detail"]
            .as_str()
            .unwrap()
            .contains("`read` scope"),
        "{forbidden}"
    );

    let identities = agent_identities(&demo);
    let accepted = server.post("/v1/signals", &tokens.detector, &signal(identities));
    let run_id = accepted["runs"][0]["run_id"].as_str().unwrap().to_string();
    let report = server.settled(&run_id, &tokens.nadia);
    assert_eq!(report["status"], "awaiting-approval", "{report}");
    assert_eq!(report["principal"], "automation:nhi");
    assert!(sim.state.token(&demo.agent_token_accessor).unwrap().revoked);
    assert!(!sim.state.entity(&demo.agent_entity_id).unwrap().disabled);
    let needed = next_event(&events, Duration::from_secs(60), |e| {
        e["sse_event"] == "approval.needed"
    });
    assert_eq!(needed["run_id"], run_id.as_str());

    // Mallory holds the `respond` scope but is not in team nhi: refused.
    let refused = server.request(
        "POST",
        &format!("/v1/runs/{run_id}/approve"),
        Some(&tokens.mallory),
        Some("{}"),
    );
    let problem = refused.problem(403);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("mallory@acme.example may not answer"),
        "{problem}"
    );
    assert!(!sim.state.entity(&demo.agent_entity_id).unwrap().disabled);

    // The CLI, as nadia's token: the queue, then the approval.
    let mut cli = Workspace::new();
    cli.env("CORDON_ADDR", &server.url);
    cli.env("CORDON_TOKEN", &tokens.nadia);
    let queue = cli.cordon(&["approvals", "list"]);
    queue.expect_code(0);
    assert!(
        queue.stdout().contains(&run_id) && queue.stdout().contains("approvers: team nhi"),
        "{}",
        queue.stdout()
    );
    let claimed = cli.cordon(&["approve", &run_id, "--as", "nadia@acme.example"]);
    claimed.expect_code(1);
    assert!(
        claimed
            .stderr()
            .contains("--as cannot be used with a server"),
        "{}",
        claimed.stderr()
    );
    let approved = cli.cordon(&["approve", &run_id, "--json"]);
    approved.expect_code(0);
    assert_eq!(approved.json()["status"], "completed");
    assert!(sim.state.entity(&demo.agent_entity_id).unwrap().disabled);
    let granted = next_event(&events, Duration::from_secs(60), |e| {
        e["kind"] == "approval.granted"
    });
    assert_eq!(
        granted["principal"], "nadia@acme.example",
        "the approver is the token's principal"
    );
    next_event(&events, Duration::from_secs(60), |e| {
        e["kind"] == "run.finished" && e["run_id"] == run_id.as_str()
    });

    let metrics = server.request("GET", "/metrics", Some(&tokens.nadia), None);
    assert_eq!(metrics.status, 200);
    for line in [
        "cordon_signals_total{source=\"e2e\",verdict=\"fired\"} 1",
        "cordon_actions_total{plugin=\"vault\",action=\"disable-entity\",status=\"applied\"} 1",
        "cordon_decisions_total{outcome=\"needs-approval\"} 1",
        "cordon_runs{status=\"completed\"} 1",
        "cordon_runs_finished_total{status=\"completed\"} 1",
        "cordon_access_denied_total{code=\"401\"} 2",
        "cordon_approval_wait_seconds_count 1",
        "cordon_time_to_contain_seconds_count{from=\"observed\"} 1",
        "cordon_plugin_call_seconds_count{plugin=\"vault\",action=\"disable-entity\"} 1",
    ] {
        assert!(
            metrics.body.contains(line),
            "no `{line}` in\n{}",
            metrics.body
        );
    }
    assert!(
        metrics
            .body
            .contains("cordon_provider_request_seconds_count{plugin=\"vault\"}")
    );
    // The connections the plugin opened, as the provider counted them.
    let opened = metrics
        .body
        .lines()
        .find_map(|l| l.strip_prefix("cordon_provider_connections_total{plugin=\"vault\"} "))
        .unwrap_or_else(|| panic!("no connections counter in\n{}", metrics.body));
    assert_eq!(
        opened.trim().parse::<u64>().unwrap(),
        sim.state.stats().connections,
        "{}",
        metrics.body
    );
    server.request("GET", "/metrics", None, None).problem(401);

    let shown = cli.cordon(&["runs", "show", &run_id]);
    shown.expect_code(0);
    assert!(shown.stdout().contains("completed"), "{}", shown.stdout());
    cli.cordon(&["audit", "verify"]).expect_code(0);

    let records = audit(&server, &tokens.nadia);
    let denied: Vec<&Value> = records
        .iter()
        .filter(|r| r["kind"] == "access.denied")
        .collect();
    assert_eq!(denied.len(), 4, "{denied:#?}");
    assert_eq!(
        (
            denied[0]["data"]["status"].as_u64(),
            denied[0]["principal"].is_null()
        ),
        (Some(401), true)
    );
    assert_eq!(denied[2]["data"]["status"], 403);
    assert_eq!(denied[2]["principal"], "detector@acme.example");
    assert_eq!(denied[2]["data"]["credential"], "token:detector");
    assert!(
        denied[2]["data"]["from"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert!(
        records
            .iter()
            .any(|r| r["kind"] == "approval.refused" && r["principal"] == "mallory@acme.example")
    );
    let submitted = records
        .iter()
        .find(|r| r["kind"] == "signal.submitted")
        .unwrap();
    assert_eq!(submitted["principal"], "detector@acme.example");
    assert_eq!(submitted["data"]["runs"], json!([run_id]));

    // More of the CLI against the server: the review, grants, restore by the
    // owner, and `cordon run` of the server's own playbook.
    let review = cli.cordon(&["report", "INC-E2E", "--format", "json"]);
    review.expect_code(0);
    assert_eq!(review.json()["incident"], "INC-E2E");
    let grants = cli.cordon(&["grant", "list"]);
    grants.expect_code(0);
    assert!(
        grants.stdout().contains("No commander grants."),
        "{}",
        grants.stdout()
    );
    let restored = cli.cordon(&["restore", &run_id, "--step", "disable", "--json"]);
    restored.expect_code(0);
    assert_eq!(
        restored.json()["status"],
        "completed",
        "{}",
        restored.stdout()
    );
    assert!(
        !sim.state.entity(&demo.agent_entity_id).unwrap().disabled,
        "nadia's team owns the nhi domain: the entity is enabled again"
    );
    cli.write("playbook.toml", &playbook);
    let mut second =
        signal(json!([{ "provider": "vault", "kind": "agent", "id": demo.alice_entity_id }]));
    second["id"] = json!("sig-second");
    cli.write("signal.json", &second.to_string());
    let submitted = cli.cordon(&[
        "run",
        "--playbook",
        "playbook.toml",
        "--signal",
        "signal.json",
        "--json",
    ]);
    submitted.expect_code(4);
    assert_eq!(submitted.json()["status"], "awaiting-approval");
    cli.write("playbook.toml", &format!("{playbook}\n# edited\n"));
    let edited = cli.cordon(&[
        "run",
        "--playbook",
        "playbook.toml",
        "--signal",
        "signal.json",
    ]);
    edited.expect_code(1);
    assert!(
        edited.stderr().contains("is not the caller's copy"),
        "{}",
        edited.stderr()
    );

    // No token value reaches the log, the audit log or an answer.
    let log = server.log().join("\n");
    let exported = serde_json::to_string(&records).unwrap();
    for secret in [&tokens.nadia, &tokens.mallory, &tokens.detector, &forged] {
        let tail = &secret[secret.len() - 32..];
        assert!(!log.contains(tail) && !exported.contains(tail));
    }
}

#[test]
fn bad_input_and_abuse_get_problem_documents_and_change_nothing() {
    let (sim, _) = sims::vault();
    let tokens = tokens();
    let playbook = sims::playbook(
        "p",
        "nhi",
        &[Step::new("revoke", "vault", "revoke-token", "token")],
    );
    let ws = served(
        &sim,
        &playbook,
        &tokens,
        "max_body_kib = 1\nrate_limit = { per_minute = 1, burst = 8 }",
        4,
    );
    let server = Server::start(&ws);

    let huge = json!({ "padding": "x".repeat(4096) }).to_string();
    let too_large = server.request("POST", "/v1/signals", Some(&tokens.detector), Some(&huge));
    too_large.problem(413);
    let malformed = server.request(
        "POST",
        "/v1/signals",
        Some(&tokens.detector),
        Some("{\"id\": \"s\",\n \"kind\": 7}"),
    );
    let problem = malformed.problem(422);
    assert!(
        !problem["errors"].as_array().unwrap().is_empty(),
        "{problem}"
    );
    let unknown = server.request(
        "POST",
        "/v1/runs",
        Some(&tokens.detector),
        Some(&json!({ "playbook": "nope", "signal": {} }).to_string()),
    );
    unknown.problem(404);
    let extra = server.request(
        "POST",
        "/v1/runs",
        Some(&tokens.detector),
        Some("{\"playbook\": \"p\", \"signal\": {}, \"as\": \"root\"}"),
    );
    let problem = extra.problem(422);
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `as`"),
        "{problem}"
    );

    // The API's description is public; everything else needs a credential.
    let openapi = server.request("GET", "/v1/openapi.json", None, None).ok();
    assert!(
        openapi["paths"]["/v1/signals"]["post"].is_object(),
        "{openapi}"
    );
    assert_eq!(
        server.get("/v1/runs", &tokens.nadia),
        json!([]),
        "nothing was recorded"
    );
    assert!(
        sim.state.requests().is_empty(),
        "nothing reached the provider"
    );

    // One of nadia's burst of 8 is spent: seven more pass, the next is limited.
    for _ in 0..7 {
        assert_eq!(
            server
                .request("GET", "/v1/runs", Some(&tokens.nadia), None)
                .status,
            200
        );
    }
    let limited = server.request("GET", "/v1/runs", Some(&tokens.nadia), None);
    limited.problem(429);
    // Other principals keep their own budget.
    assert_eq!(
        server
            .request("GET", "/v1/approvals", Some(&tokens.mallory), None)
            .status,
        200
    );
}

#[test]
fn sigterm_drains_calls_in_flight_and_the_next_start_resumes_the_rest() {
    let sim = slow_vault(100);
    let tokens = tokens();
    let (accessors, identities) = bulk(&sim, 24);
    let playbook = bulk_playbook();
    let ws = served(&sim, &playbook, &tokens, "drain_timeout_ms = 30000", 2);
    let mut server = Server::start(&ws);
    let accepted = server.post("/v1/signals", &tokens.detector, &signal(identities));
    let run_id = accepted["runs"][0]["run_id"].as_str().unwrap().to_string();
    server.wait_until("some tokens are revoked", Duration::from_secs(120), || {
        revoked(&sim, &accessors) >= 4
    });

    let status = server.sigterm();
    assert!(status.success(), "SIGTERM exits 0: {status:?}");
    let after_stop = revoked(&sim, &accessors);
    assert!(
        after_stop < accessors.len(),
        "the run finished before it could be stopped"
    );
    assert_eq!(
        revocations(&sim),
        after_stop,
        "every call that went out finished and was recorded"
    );

    let server = Server::start(&ws);
    let report = server.settled(&run_id, &tokens.nadia);
    assert_eq!(report["status"], "completed", "{report}");
    assert_eq!(revoked(&sim, &accessors), accessors.len());
    assert_eq!(
        revocations(&sim),
        accessors.len(),
        "no token was revoked twice"
    );
    let records = audit(&server, &tokens.nadia);
    assert!(
        records
            .iter()
            .any(|r| r["kind"] == "run.interrupted" && r["run_id"] == run_id.as_str())
    );
}

#[test]
fn kill_9_of_the_server_mid_run_with_500_identities_contains_each_once_after_restart() {
    kill_9_mid_run(None);
}

/// The same with the server's state in a real PostgreSQL.
#[test]
fn kill_9_of_the_server_on_postgres_contains_each_once_after_restart() {
    let pg = cordon_store_postgres::testing::TempPostgres::start();
    kill_9_mid_run(Some(&pg.fresh_database()));
}

fn kill_9_mid_run(postgres: Option<&str>) {
    const N: usize = 500;
    const CONCURRENCY: u64 = 8;
    let sim = slow_vault(2);
    let tokens = tokens();
    let (accessors, identities) = bulk(&sim, N);
    let playbook = bulk_playbook();
    let ws = served_with(&sim, &playbook, &tokens, "", CONCURRENCY, |ws| {
        ws.store_in(postgres)
    });
    let mut server = Server::start(&ws);
    // The same signal submitted 8 times at once starts one run.
    let body = signal(identities).to_string();
    let answers: Vec<serde_json::Value> = std::thread::scope(|scope| {
        let submissions: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    server
                        .request("POST", "/v1/signals", Some(&tokens.detector), Some(&body))
                        .ok()
                })
            })
            .collect();
        submissions.into_iter().map(|s| s.join().unwrap()).collect()
    });
    let run_id = answers[0]["runs"][0]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        answers
            .iter()
            .all(|a| a["runs"][0]["run_id"] == run_id.as_str())
    );
    let started = answers
        .iter()
        .filter(|a| a["runs"][0]["existing"] == false)
        .count();
    assert_eq!(
        started, 1,
        "one run started, the other submissions joined it"
    );
    server.wait_until(
        "a third of the tokens are revoked",
        Duration::from_secs(300),
        || revoked(&sim, &accessors) >= N / 3,
    );
    server.kill9();
    let before = revoked(&sim, &accessors);
    assert!(before < N, "the run finished before the kill");

    let server = Server::start(&ws);
    let report = server.settled(&run_id, &tokens.nadia);
    assert_eq!(report["status"], "completed");
    assert_eq!(revoked(&sim, &accessors), N, "every identity is contained");
    let actions = report["actions"].as_array().unwrap();
    assert_eq!(actions.len(), N, "one action per identity");
    let mut targets: Vec<&str> = actions
        .iter()
        .map(|a| a["target"]["id"].as_str().unwrap())
        .collect();
    targets.sort();
    targets.dedup();
    assert_eq!(targets.len(), N);
    // An action is called again only if the kill caught it between its
    // durable intent and its durable outcome, and then with the same
    // idempotency key (the provider says the token is already revoked):
    // each attempt sends at most one revocation. (A request cut off by the
    // kill may be applied without the simulator logging it, so the log can
    // hold fewer.)
    let sent = revocations(&sim);
    let again: u64 = actions
        .iter()
        .map(|a| a["attempts"].as_u64().unwrap().saturating_sub(1))
        .sum();
    assert!(
        sent as u64 <= N as u64 + again,
        "{sent} revocations for {N} tokens, {again} attempts again"
    );
    let repeated = actions
        .iter()
        .filter(|a| a["attempts"].as_u64() > Some(1))
        .count();
    // Caught there are the calls in flight (one per slot) and the answers
    // whose outcome was being committed: the slot is freed when the answer
    // arrives. On sled, whose group commit is quick, that is within one per
    // slot; a PostgreSQL commit takes longer, so a few more answers can be
    // caught waiting for theirs.
    if postgres.is_none() {
        assert!(
            sent <= N + CONCURRENCY as usize,
            "{sent} revocations for {N} tokens"
        );
        assert!(
            repeated <= CONCURRENCY as usize,
            "{repeated} actions called twice"
        );
    }
    let already = actions
        .iter()
        .filter(|a| a["status"] == "already-applied")
        .count();
    assert!(already <= repeated, "{already} already applied");
}

#[test]
fn rate_limit_waits_and_whole_plugin_calls_are_measured() {
    let (sim, _) = sims::vault();
    let tokens = tokens();
    let (accessors, identities) = bulk(&sim, 4);
    // Each revocation makes two requests: eight against a quota of two a second.
    sim.state
        .set_rate_limit(Some(cordon_sim::RateLimitConfig::new(2, 1)));
    let playbook = bulk_playbook();
    let ws = served(&sim, &playbook, &tokens, "", 1);
    let server = Server::start(&ws);
    let accepted = server.post("/v1/signals", &tokens.detector, &signal(identities));
    let run_id = accepted["runs"][0]["run_id"].as_str().unwrap().to_string();
    assert_eq!(
        server.settled(&run_id, &tokens.nadia)["status"],
        "completed"
    );
    assert!(
        accessors
            .iter()
            .all(|a| sim.state.token(a).unwrap().revoked)
    );
    let metrics = server
        .request("GET", "/metrics", Some(&tokens.nadia), None)
        .body;
    assert!(
        metrics.contains(
            "cordon_plugin_call_seconds_count{plugin=\"vault\",action=\"revoke-token\"} 4"
        ),
        "{metrics}"
    );
    let waits: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("cordon_rate_limit_wait_seconds_count{plugin=\"vault\"} "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(waits >= 1, "no rate-limit wait was measured:\n{metrics}");
}
