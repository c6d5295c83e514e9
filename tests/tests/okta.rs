//! The Okta plugin end to end: the `cordon` binary against the Okta
//! simulator, every effect checked through the simulator's state handle
//! (not Cordon's report).

use cordon_e2e::cordon::Workspace;
use cordon_e2e::sims::{self, OKTA_API_TOKEN, Sim, Step, by_target, statuses};
use cordon_sim::RateLimitConfig;
use cordon_sim::okta::{ADMIN_API_TOKEN_ID, OktaConfig, OktaState, UserSpec, fixtures::OktaDemo};
use serde_json::{Value, json};

fn workspace(sim: &Sim<OktaState>, token: &str) -> Workspace {
    sims::workspace(&[sims::okta_plugin(&sim.url)], &[("OKTA_API_TOKEN", token)])
}

fn run_step(ws: &Workspace, step: Step, identities: Value, extra: &[&str], code: i32) -> Value {
    let playbook = sims::playbook("okta-test", "iam", &[step]);
    let run = sims::run(ws, &playbook, &sims::signal(identities), extra);
    run.expect_code(code);
    run.json()
}

fn user(id: &str) -> Value {
    json!([{ "provider": "okta", "kind": "user", "id": id }])
}

#[test]
fn suspend_user_reads_the_status_first_and_unsuspend_restores_it() {
    let (sim, demo) = sims::okta();
    let ws = workspace(&sim, OKTA_API_TOKEN);
    let suspend = Step::new("suspend", "okta", "suspend-user", "user");

    let report = run_step(&ws, suspend.clone(), user(&demo.alice_id), &[], 0);
    assert_eq!(statuses(&report), ["applied"]);
    assert_eq!(sim.state.user(&demo.alice_id).unwrap().status, "SUSPENDED");
    assert_eq!(sim.state.user(&demo.bob_id).unwrap().status, "ACTIVE");
    let action = &report["actions"][0];
    assert_eq!(action["evidence"]["login"], "alice.nguyen@example.com");
    let restore_id = action["restore"]["user_id"].as_str().unwrap().to_string();
    assert_eq!(restore_id, demo.alice_id);

    // Suspend is not idempotent in Okta (400 on a suspended user): the
    // plugin reads the status and reports the repeat as already applied,
    // without sending a second suspend.
    sim.state.reset_requests();
    let again = run_step(&ws, suspend.clone(), user(&demo.alice_id), &[], 0);
    assert_eq!(statuses(&again), ["already-applied"]);
    assert!(sim.state.requests().iter().all(|r| r.method == "GET"));
    let carol = run_step(&ws, suspend.clone(), user(&demo.carol_id), &[], 0);
    assert_eq!(
        statuses(&carol),
        ["already-applied"],
        "Carol was suspended before"
    );

    // Users in other states cannot be suspended: a clear failure.
    let staged = sim
        .state
        .add_user(UserSpec::new("dave.staged@example.com", "Dave", "Staged").status("STAGED"));
    let refused = run_step(&ws, suspend, user(&staged), &[], 3);
    let detail = refused["actions"][0]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("invalid request: Okta can only suspend ACTIVE users, and user dave.staged@example.com is STAGED"),
        "{detail}"
    );
    assert_eq!(sim.state.user(&staged).unwrap().status, "STAGED");

    // The owning team restores Alice with the recorded restore data.
    let unsuspend =
        Step::new("unsuspend", "okta", "unsuspend-user", "user").param("user_id", &restore_id);
    let restored = run_step(&ws, unsuspend.clone(), user(&demo.alice_login), &[], 0);
    assert_eq!(statuses(&restored), ["applied"]);
    assert_eq!(sim.state.user(&demo.alice_id).unwrap().status, "ACTIVE");
    let again = run_step(&ws, unsuspend, user(&demo.alice_login), &[], 0);
    assert_eq!(statuses(&again), ["already-applied"]);
}

#[test]
fn clear_sessions_ends_a_users_sessions_and_oauth_tokens() {
    let (sim, demo) = sims::okta();
    let ws = workspace(&sim, OKTA_API_TOKEN);
    let step = Step::new("clear", "okta", "clear-sessions", "session");
    let session = |attributes: Value| {
        json!([{ "provider": "okta", "kind": "session", "id": demo.alice_sessions[1],
                 "attributes": attributes }])
    };

    // A session alone does not say whose it is.
    let refused = run_step(&ws, step.clone(), session(json!({})), &[], 3);
    let detail = refused["actions"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("names no user"), "{detail}");
    assert_eq!(sim.state.sessions_of(&demo.alice_id).len(), 2);

    let hijacked = session(json!({ "user": demo.alice_login }));
    let report = run_step(&ws, step.clone(), hijacked.clone(), &[], 0);
    assert_eq!(statuses(&report), ["applied"]);
    assert_eq!(
        report["actions"][0]["evidence"]["session_id"],
        demo.alice_sessions[1].as_str()
    );
    assert!(sim.state.sessions_of(&demo.alice_id).is_empty());
    assert!(
        sim.state.tokens_of(&demo.alice_id).is_empty(),
        "oauthTokens=true"
    );
    assert_eq!(
        sim.state.sessions_of(&demo.bob_id).len(),
        1,
        "Bob keeps his"
    );
    assert_eq!(
        sim.state.grants_of(&demo.alice_id).len(),
        2,
        "grants are revoke-grants' business"
    );

    // Okta cannot list sessions: a repeat is applied again, harmlessly.
    let again = run_step(&ws, step, hijacked, &[], 0);
    assert_eq!(statuses(&again), ["applied"]);
    let by_user = run_step(
        &ws,
        Step::new("clear", "okta", "clear-sessions", "user"),
        user(&demo.bob_id),
        &[],
        0,
    );
    assert_eq!(statuses(&by_user), ["applied"]);
    assert!(sim.state.sessions_of(&demo.bob_id).is_empty());
}

#[test]
fn revoke_grants_revokes_every_grant_and_a_repeat_is_already_applied() {
    let (sim, demo) = sims::okta();
    let ws = workspace(&sim, OKTA_API_TOKEN);
    let step = Step::new("grants", "okta", "revoke-grants", "user");
    let report = run_step(&ws, step.clone(), user(&demo.alice_id), &[], 0);
    assert_eq!(statuses(&report), ["applied"]);
    let evidence = &report["actions"][0]["evidence"];
    assert_eq!(evidence["grants"], "2");
    assert_eq!(
        evidence["clients"],
        format!("{},{}", demo.agent_client_id, demo.ide_client_id).as_str()
    );
    assert!(sim.state.grants_of(&demo.alice_id).is_empty());
    let again = run_step(&ws, step, user(&demo.alice_id), &[], 0);
    assert_eq!(statuses(&again), ["already-applied"]);
}

#[test]
fn deactivate_app_is_restored_by_activate_app() {
    let (sim, demo) = sims::okta();
    let ws = workspace(&sim, OKTA_API_TOKEN);
    let agent = json!([{ "provider": "okta", "kind": "agent", "id": demo.agent_app_id }]);
    let deactivate = Step::new("deactivate", "okta", "deactivate-app", "agent");

    let report = run_step(&ws, deactivate.clone(), agent.clone(), &[], 0);
    assert_eq!(statuses(&report), ["applied"]);
    let action = &report["actions"][0];
    assert_eq!(
        action["evidence"]["client_id"],
        demo.agent_client_id.as_str()
    );
    let restore_id = action["restore"]["app_id"].as_str().unwrap().to_string();
    assert_eq!(
        sim.state.app(&demo.agent_app_id).unwrap().status,
        "INACTIVE"
    );
    assert_eq!(sim.state.app(&demo.ide_app_id).unwrap().status, "ACTIVE");
    let again = run_step(&ws, deactivate, agent.clone(), &[], 0);
    assert_eq!(statuses(&again), ["already-applied"]);

    let activate =
        Step::new("activate", "okta", "activate-app", "agent").param("app_id", &restore_id);
    let restored = run_step(&ws, activate.clone(), agent.clone(), &[], 0);
    assert_eq!(statuses(&restored), ["applied"]);
    assert_eq!(sim.state.app(&demo.agent_app_id).unwrap().status, "ACTIVE");
    let again = run_step(&ws, activate, agent, &[], 0);
    assert_eq!(statuses(&again), ["already-applied"]);
}

#[test]
fn revoke_api_token_revokes_it_and_a_repeat_is_already_applied() {
    let (sim, demo) = sims::okta();
    let ws = workspace(&sim, OKTA_API_TOKEN);
    let token = json!([{ "provider": "okta", "kind": "token", "id": demo.agent_api_token_id }]);
    let step = Step::new("revoke", "okta", "revoke-api-token", "token");
    let report = run_step(&ws, step.clone(), token.clone(), &[], 0);
    assert_eq!(statuses(&report), ["applied"]);
    assert_eq!(
        report["actions"][0]["evidence"]["user_id"],
        demo.agent_user_id.as_str()
    );
    assert!(!sim.state.api_token_exists(&demo.agent_api_token_id));
    assert!(
        sim.state.api_token_exists(ADMIN_API_TOKEN_ID),
        "Cordon's own token stays"
    );
    let again = run_step(&ws, step, token, &[], 0);
    assert_eq!(statuses(&again), ["already-applied"]);
    assert_eq!(again["actions"][0]["evidence"]["okta_state"], "unknown");
}

fn every_identity(demo: &OktaDemo) -> Value {
    json!([
        { "provider": "okta", "kind": "user", "id": demo.alice_id },
        { "provider": "okta", "kind": "session", "id": demo.alice_sessions[0],
          "attributes": { "user": demo.alice_id } },
        { "provider": "okta", "kind": "agent", "id": demo.agent_app_id },
        { "provider": "okta", "kind": "token", "id": demo.agent_api_token_id }
    ])
}

fn every_action() -> String {
    sims::playbook(
        "okta-everything",
        "iam",
        &[
            Step::new("suspend", "okta", "suspend-user", "user"),
            Step::new("sessions", "okta", "clear-sessions", "session"),
            Step::new("grants", "okta", "revoke-grants", "user"),
            Step::new("app", "okta", "deactivate-app", "agent"),
            Step::new("token", "okta", "revoke-api-token", "token"),
        ],
    )
}

#[test]
fn a_dry_run_plans_every_action_and_changes_nothing() {
    let (sim, demo) = sims::okta();
    let ws = workspace(&sim, OKTA_API_TOKEN);
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
    let detail = by_target(&report)[&format!("suspend/{}", demo.alice_id)]["detail"].clone();
    assert_eq!(
        detail,
        "would suspend user alice.nguyen@example.com (now ACTIVE)"
    );
    assert_eq!(sim.state.dump(), before);
    assert!(
        sim.state.requests().iter().all(|r| r.method == "GET"),
        "{:?}",
        sim.state.requests()
    );
}

#[test]
fn a_wrong_token_fails_as_unauthorized_and_changes_nothing() {
    let (sim, demo) = sims::okta();
    let ws = workspace(&sim, "00not-a-valid-okta-token-000000");
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
        assert!(
            detail.contains("HTTP 401 E0000011: Invalid token provided"),
            "{detail}"
        );
    }
    assert_eq!(sim.state.dump(), before);
}

/// Suspends five fresh users through an Okta simulator limited to `limit`
/// requests per 2-second window, one call at a time; checks they all end up
/// suspended, once each, and returns the request log and the report.
fn suspend_five_under_a_rate_limit(limit: u32) -> (Vec<cordon_sim::RequestRecord>, Value) {
    let config = OktaConfig {
        rate_limit: RateLimitConfig::new(limit, 2),
        ..OktaConfig::with_api_token(OKTA_API_TOKEN)
    };
    let (sim, _demo) = sims::okta_with(config);
    let users: Vec<String> = (0..5)
        .map(|i| {
            sim.state.add_user(UserSpec::new(
                &format!("batch-{i}@example.com"),
                "Batch",
                &i.to_string(),
            ))
        })
        .collect();
    let identities: Vec<Value> = users
        .iter()
        .map(|id| json!({ "provider": "okta", "kind": "user", "id": id }))
        .collect();
    let plugin = sims::okta_plugin(&sim.url).limit("concurrency", 1);
    let ws = sims::workspace(&[plugin], &[("OKTA_API_TOKEN", OKTA_API_TOKEN)]);
    sim.state.reset_requests();

    let report = run_step(
        &ws,
        Step::new("suspend", "okta", "suspend-user", "user"),
        Value::Array(identities),
        &[],
        0,
    );
    assert_eq!(statuses(&report), ["applied"; 5], "{report}");
    for id in &users {
        assert_eq!(sim.state.user(id).unwrap().status, "SUSPENDED", "{id}");
    }
    let requests = sim.state.requests();
    let suspends = requests.iter().filter(|r| r.method == "POST").count();
    assert_eq!(suspends, 5, "one suspend per user: {requests:#?}");
    let waited = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["attempts"].as_u64().unwrap() > 1)
        .count();
    assert!(waited >= 1, "some actions waited for the reset: {report}");
    (requests, report)
}

#[test]
fn after_a_429_nothing_is_sent_before_the_reset_it_announced() {
    // 4 per window: two suspends (a read and a write each) spend it, and the
    // next call, which cannot know, gets a 429.
    let limit = 4;
    let (requests, _) = suspend_five_under_a_rate_limit(limit);
    let limited = sims::assert_waited_out(&requests, limit, sims::okta_reset_ms);
    assert!(limited >= 1, "the limit was hit: {requests:#?}");
}

#[test]
fn a_call_that_spent_the_budget_waits_for_the_reset_instead_of_sending() {
    // 3 per window: the read of the second suspend announces
    // `X-Rate-Limit-Remaining: 0`; the plugin returns rate-limited instead of
    // sending the write Okta would refuse, and the host waits for the reset.
    let limit = 3;
    let (requests, report) = suspend_five_under_a_rate_limit(limit);
    let refused = sims::assert_waited_out(&requests, limit, sims::okta_reset_ms);
    assert!(
        requests
            .iter()
            .filter(|r| r.method == "POST")
            .all(|r| r.status == 200),
        "no write was sent into a spent window: {requests:#?}"
    );
    let waits: u64 = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["attempts"].as_u64().unwrap() - 1)
        .sum();
    assert!(
        waits > refused as u64,
        "{waits} waits, only {refused} of them after a 429: the others were the plugin's own\n{report}"
    );
}

const SHIPPED_PLAYBOOK: &str = include_str!("../../playbooks/okta-session-hijack.toml");
const SHIPPED_SIGNAL: &str = include_str!("../../playbooks/signals/okta-session-hijack.json");

#[test]
fn the_shipped_session_hijack_playbook_contains_its_sample_signal() {
    let (sim, demo) = sims::okta();
    let ws = workspace(&sim, OKTA_API_TOKEN);
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
    assert!(sim.state.sessions_of(&demo.alice_id).is_empty());
    assert!(sim.state.tokens_of(&demo.alice_id).is_empty());
    assert!(sim.state.grants_of(&demo.alice_id).is_empty());
    assert_eq!(sim.state.user(&demo.alice_id).unwrap().status, "SUSPENDED");
    assert_eq!(sim.state.user(&demo.bob_id).unwrap().status, "ACTIVE");
    assert_eq!(sim.state.sessions_of(&demo.bob_id).len(), 1);

    let again = sims::run(&ws, SHIPPED_PLAYBOOK, SHIPPED_SIGNAL, &[]);
    again.expect_code(0);
    let again = again.json();
    let status = |step: &str| {
        cordon_e2e::cordon::actions_of(&again, step)[0]["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // Okta cannot list sessions: clearing them again is applied, harmlessly.
    assert_eq!(status("end-sessions"), "applied");
    assert_eq!(status("suspend"), "already-applied");
    assert_eq!(status("grants"), "already-applied");
}
