//! The CyberArk plugin end to end: the `cordon` binary against the PVWA
//! simulator, every effect checked through the simulator's state handle
//! (not Cordon's report). Every run must leave no PVWA session behind: the
//! plugin logs off after each call, also when the call fails.

use cordon_e2e::cordon::Workspace;
use cordon_e2e::sims::{self, CYBERARK_USER, Sim, Step, by_target, statuses};
use cordon_sim::cyberark::{CyberArkState, LiveSession, fixtures::CyberArkDemo};
use serde_json::{Value, json};

fn workspace(sim: &Sim<CyberArkState>, password: &str) -> Workspace {
    sims::workspace(
        &[sims::cyberark_plugin(&sim.url)],
        &[
            ("CYBERARK_USERNAME", CYBERARK_USER.0),
            ("CYBERARK_PASSWORD", password),
        ],
    )
}

/// Runs a one-step playbook on `identities`, checks the exit code and that
/// every logon was followed by a logoff, and returns the report.
fn run_step(
    sim: &Sim<CyberArkState>,
    ws: &Workspace,
    step: Step,
    identities: Value,
    extra: &[&str],
    code: i32,
) -> Value {
    let playbook = sims::playbook("cyberark-test", "pam", &[step]);
    let run = sims::run(ws, &playbook, &sims::signal(identities), extra);
    run.expect_code(code);
    assert_logged_off(sim);
    run.json()
}

/// Every logon has its logoff, and no logon token is left valid.
fn assert_logged_off(sim: &Sim<CyberArkState>) {
    let requests = sim.state.requests();
    let logons = requests
        .iter()
        .filter(|r| r.path.ends_with("/Logon") && r.status == 200)
        .count();
    let logoffs = requests
        .iter()
        .filter(|r| r.path.ends_with("/Logoff") && r.status == 200)
        .count();
    assert!(logons > 0, "the plugin logged on: {requests:#?}");
    assert_eq!(logons, logoffs, "every logon is logged off: {requests:#?}");
    assert_eq!(sim.state.logon_count(), 0, "no session left open");
}

fn live(sim: &Sim<CyberArkState>, id: &str) -> bool {
    !sim.state.live_session(id).unwrap().terminated
}

fn identity(kind: &str, id: &str) -> Value {
    json!([{ "provider": "cyberark", "kind": kind, "id": id }])
}

#[test]
fn terminate_sessions_of_a_user_by_name_or_numeric_id() {
    let (sim, demo) = sims::cyberark();
    let ws = workspace(&sim, CYBERARK_USER.1);
    let step = Step::new("terminate", "cyberark", "terminate-sessions", "user");

    let report = run_step(
        &sim,
        &ws,
        step.clone(),
        identity("user", "svc-agent-7"),
        &[],
        0,
    );
    assert_eq!(statuses(&report), ["applied"]);
    assert_eq!(report["actions"][0]["evidence"]["count"], "2");
    assert!(!live(&sim, &demo.agent_session_id));
    assert!(!live(&sim, &demo.agent_rdp_session_id));
    assert!(
        live(&sim, &demo.alice_session_id),
        "same account, other user"
    );
    assert!(live(&sim, &demo.bob_session_id));

    let again = run_step(
        &sim,
        &ws,
        step.clone(),
        identity("user", "svc-agent-7"),
        &[],
        0,
    );
    assert_eq!(statuses(&again), ["already-applied"]);

    let alice = run_step(
        &sim,
        &ws,
        step,
        identity("user", &demo.alice_user_id.to_string()),
        &[],
        0,
    );
    assert_eq!(statuses(&alice), ["applied"]);
    assert!(!live(&sim, &demo.alice_session_id));
    assert!(live(&sim, &demo.bob_session_id));
}

#[test]
fn terminate_sessions_of_an_account_and_of_one_session() {
    let (sim, demo) = sims::cyberark();
    let ws = workspace(&sim, CYBERARK_USER.1);
    let account = Step::new("terminate", "cyberark", "terminate-sessions", "account");
    let report = run_step(
        &sim,
        &ws,
        account.clone(),
        identity("account", &demo.shared_root_account_id),
        &[],
        0,
    );
    assert_eq!(statuses(&report), ["applied"]);
    assert!(!live(&sim, &demo.alice_session_id));
    assert!(!live(&sim, &demo.agent_session_id));
    assert!(live(&sim, &demo.agent_rdp_session_id), "another account");
    let again = run_step(
        &sim,
        &ws,
        account,
        identity("account", &demo.shared_root_account_id),
        &[],
        0,
    );
    assert_eq!(statuses(&again), ["already-applied"]);

    let one = Step::new("terminate", "cyberark", "terminate-sessions", "session");
    let report = run_step(
        &sim,
        &ws,
        one.clone(),
        identity("session", &demo.bob_session_id),
        &[],
        0,
    );
    assert_eq!(statuses(&report), ["applied"]);
    assert!(!live(&sim, &demo.bob_session_id));
    assert!(live(&sim, &demo.agent_rdp_session_id));
    let again = run_step(
        &sim,
        &ws,
        one,
        identity("session", &demo.bob_session_id),
        &[],
        0,
    );
    assert_eq!(statuses(&again), ["already-applied"]);
}

#[test]
fn sessions_cyberark_refuses_to_terminate_fail_the_action_after_the_others() {
    let (sim, demo) = sims::cyberark();
    let protected = sim.state.add_live_session(LiveSession {
        user: "bob.martinez".into(),
        account_username: "deploy".into(),
        account_address: "web03.corp.example.com".into(),
        account_id: Some(demo.web_account_id.clone()),
        safe_name: "Linux-Prod-Web".into(),
        can_terminate: false,
        ..LiveSession::default()
    });
    let ws = workspace(&sim, CYBERARK_USER.1);
    let step = Step::new("terminate", "cyberark", "terminate-sessions", "user");
    let report = run_step(&sim, &ws, step, identity("user", "bob.martinez"), &[], 3);
    let detail = report["actions"][0]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("unauthorized: terminated 1 of 2"),
        "{detail}"
    );
    assert!(detail.contains(&protected), "{detail}");
    assert!(
        !live(&sim, &demo.bob_session_id),
        "the other one was terminated"
    );
    assert!(live(&sim, &protected));
}

#[test]
fn suspend_session_is_undone_by_resume_session() {
    let (sim, demo) = sims::cyberark();
    let ws = workspace(&sim, CYBERARK_USER.1);
    let session = identity("session", &demo.alice_session_id);
    let suspend = Step::new("suspend", "cyberark", "suspend-session", "session");

    let report = run_step(&sim, &ws, suspend.clone(), session.clone(), &[], 0);
    assert_eq!(statuses(&report), ["applied"]);
    let action = &report["actions"][0];
    assert_eq!(action["evidence"]["user"], "alice.nguyen");
    let restore_id = action["restore"]["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        sim.state
            .live_session(&demo.alice_session_id)
            .unwrap()
            .suspended
    );
    assert!(
        !sim.state
            .live_session(&demo.agent_session_id)
            .unwrap()
            .suspended
    );
    let again = run_step(&sim, &ws, suspend, session.clone(), &[], 0);
    assert_eq!(statuses(&again), ["already-applied"]);

    let resume = Step::new("resume", "cyberark", "resume-session", "session")
        .param("session_id", &restore_id);
    let restored = run_step(&sim, &ws, resume.clone(), session.clone(), &[], 0);
    assert_eq!(statuses(&restored), ["applied"]);
    let after = sim.state.live_session(&demo.alice_session_id).unwrap();
    assert!(!after.suspended && !after.terminated);
    let again = run_step(&sim, &ws, resume, session, &[], 0);
    assert_eq!(statuses(&again), ["already-applied"]);
}

#[test]
fn rotate_credential_changes_the_secret_every_time_unless_changed_since() {
    let (sim, demo) = sims::cyberark();
    let ws = workspace(&sim, CYBERARK_USER.1);
    let account = identity("account", &demo.shared_root_account_id);
    let rotate = Step::new("rotate", "cyberark", "rotate-credential", "account");
    let version = |sim: &Sim<CyberArkState>| {
        sim.state
            .account(&demo.shared_root_account_id)
            .unwrap()
            .secret_version
    };
    assert_eq!(version(&sim), 1);

    let report = run_step(&sim, &ws, rotate.clone(), account.clone(), &[], 0);
    assert_eq!(statuses(&report), ["applied"]);
    assert_eq!(report["actions"][0]["evidence"]["safe"], "Linux-Prod-Root");
    assert_eq!(version(&sim), 2);
    assert_eq!(
        sim.state
            .account(&demo.agent_account_id)
            .unwrap()
            .secret_version,
        1
    );

    // A new rotation makes a new secret: a repeat rotates again.
    let again = run_step(&sim, &ws, rotate.clone(), account.clone(), &[], 0);
    assert_eq!(statuses(&again), ["applied"]);
    assert_eq!(version(&sim), 3);

    // Unless the playbook says since when the old secret is exposed.
    let changed_ms = sim
        .state
        .account(&demo.shared_root_account_id)
        .unwrap()
        .last_modified_ms;
    let since = rotate.param("changed_after", &(changed_ms / 1000).to_string());
    let skip = run_step(&sim, &ws, since, account, &[], 0);
    assert_eq!(statuses(&skip), ["already-applied"]);
    assert_eq!(version(&sim), 3);
}

#[test]
fn disable_user_is_undone_by_enable_user_and_never_locks_cordon_out() {
    let (sim, demo) = sims::cyberark();
    let ws = workspace(&sim, CYBERARK_USER.1);
    let agent_id = demo.agent_user_id.to_string();
    let agent = json!([{ "provider": "cyberark", "kind": "user", "id": "svc-agent-7",
                         "attributes": { "user_id": agent_id } }]);
    let disable = Step::new("disable", "cyberark", "disable-user", "user");

    let report = run_step(&sim, &ws, disable.clone(), agent.clone(), &[], 0);
    assert_eq!(statuses(&report), ["applied"]);
    let restore_id = report["actions"][0]["restore"]["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(restore_id, agent_id);
    assert!(sim.state.user(demo.agent_user_id).unwrap().disabled);
    assert!(!sim.state.user(demo.alice_user_id).unwrap().disabled);
    let again = run_step(&sim, &ws, disable.clone(), agent.clone(), &[], 0);
    assert_eq!(statuses(&again), ["already-applied"]);

    let enable =
        Step::new("enable", "cyberark", "enable-user", "user").param("user_id", &restore_id);
    let restored = run_step(&sim, &ws, enable.clone(), agent.clone(), &[], 0);
    assert_eq!(statuses(&restored), ["applied"]);
    assert!(!sim.state.user(demo.agent_user_id).unwrap().disabled);
    let again = run_step(&sim, &ws, enable, agent, &[], 0);
    assert_eq!(statuses(&again), ["already-applied"]);

    // A name alone cannot be disabled (PVWA addresses users by id), and
    // Cordon's own user is never disabled.
    let by_name = run_step(
        &sim,
        &ws,
        disable.clone(),
        identity("user", "bob.martinez"),
        &[],
        3,
    );
    let detail = by_name["actions"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("by numeric id"), "{detail}");
    let me = sim.state.user_by_name(CYBERARK_USER.0).unwrap();
    let myself = run_step(
        &sim,
        &ws,
        disable,
        identity("user", &me.id.to_string()),
        &[],
        3,
    );
    let detail = myself["actions"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("the user Cordon logs on as"), "{detail}");
    assert!(!sim.state.user(me.id).unwrap().disabled);
}

#[test]
fn disable_auto_management_is_undone_by_enable_auto_management() {
    let (sim, demo) = sims::cyberark();
    let ws = workspace(&sim, CYBERARK_USER.1);
    let account = identity("account", &demo.agent_account_id);
    let disable = Step::new("disable", "cyberark", "disable-auto-management", "account")
        .param("reason", "INC-E2E: credential under investigation");

    let report = run_step(&sim, &ws, disable.clone(), account.clone(), &[], 0);
    assert_eq!(statuses(&report), ["applied"]);
    let restore_id = report["actions"][0]["restore"]["account_id"]
        .as_str()
        .unwrap()
        .to_string();
    let state = sim.state.account(&demo.agent_account_id).unwrap();
    assert!(!state.automatic_management_enabled);
    assert_eq!(
        state.manual_management_reason.as_deref(),
        Some("INC-E2E: credential under investigation")
    );
    assert!(
        sim.state
            .account(&demo.shared_root_account_id)
            .unwrap()
            .automatic_management_enabled
    );
    let again = run_step(&sim, &ws, disable, account.clone(), &[], 0);
    assert_eq!(statuses(&again), ["already-applied"]);

    let enable = Step::new("enable", "cyberark", "enable-auto-management", "account")
        .param("account_id", &restore_id);
    let restored = run_step(&sim, &ws, enable.clone(), account.clone(), &[], 0);
    assert_eq!(statuses(&restored), ["applied"]);
    let state = sim.state.account(&demo.agent_account_id).unwrap();
    assert!(state.automatic_management_enabled);
    assert_eq!(state.manual_management_reason, None);
    let again = run_step(&sim, &ws, enable, account, &[], 0);
    assert_eq!(statuses(&again), ["already-applied"]);
}

fn every_identity(demo: &CyberArkDemo) -> Value {
    json!([
        { "provider": "cyberark", "kind": "user", "id": "svc-agent-7",
          "attributes": { "user_id": demo.agent_user_id.to_string() } },
        { "provider": "cyberark", "kind": "session", "id": demo.alice_session_id },
        { "provider": "cyberark", "kind": "account", "id": demo.shared_root_account_id }
    ])
}

fn every_action() -> String {
    sims::playbook(
        "cyberark-everything",
        "pam",
        &[
            Step::new("terminate", "cyberark", "terminate-sessions", "user"),
            Step::new("suspend", "cyberark", "suspend-session", "session"),
            Step::new("rotate", "cyberark", "rotate-credential", "account"),
            Step::new("disable", "cyberark", "disable-user", "user"),
            Step::new("manual", "cyberark", "disable-auto-management", "account"),
        ],
    )
}

#[test]
fn a_dry_run_plans_every_action_and_changes_nothing() {
    let (sim, demo) = sims::cyberark();
    let ws = workspace(&sim, CYBERARK_USER.1);
    let before = sims::cyberark_state(&sim.state);
    let run = sims::run(
        &ws,
        &every_action(),
        &sims::signal(every_identity(&demo)),
        &["--dry-run"],
    );
    run.expect_code(0);
    assert_logged_off(&sim);
    let report = run.json();
    assert_eq!(statuses(&report), ["planned"; 5], "{report}");
    let detail = by_target(&report)["terminate/svc-agent-7"]["detail"].clone();
    assert!(
        detail
            .as_str()
            .unwrap()
            .starts_with("would terminate 2 live PSM session(s) of vault user svc-agent-7"),
        "{detail}"
    );
    assert_eq!(sims::cyberark_state(&sim.state), before);
}

#[test]
fn wrong_credentials_fail_as_unauthorized_and_change_nothing() {
    let (sim, demo) = sims::cyberark();
    let ws = workspace(&sim, "not-the-password");
    let before = sims::cyberark_state(&sim.state);
    let run = sims::run(
        &ws,
        &every_action(),
        &sims::signal(every_identity(&demo)),
        &[],
    );
    run.expect_code(3);
    for detail in sims::failed_at_once(&run.json()) {
        let detail = detail.as_str();
        assert!(
            detail.starts_with("unauthorized: CyberArk refused to log Cordon on"),
            "{detail}"
        );
        assert!(detail.contains("ITATS004E"), "{detail}");
        assert!(!detail.contains("not-the-password"), "{detail}");
    }
    assert_eq!(sim.state.logon_count(), 0);
    assert_eq!(sims::cyberark_state(&sim.state), before);
}

#[test]
fn a_failing_action_still_logs_off() {
    let (sim, _demo) = sims::cyberark();
    let ws = workspace(&sim, CYBERARK_USER.1);
    let step = Step::new("rotate", "cyberark", "rotate-credential", "account");
    // `run_step` checks that every logon was logged off.
    let report = run_step(&sim, &ws, step, identity("account", "99_99"), &[], 3);
    let detail = report["actions"][0]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("not found: CyberArk has no account 99_99"),
        "{detail}"
    );
}

const SHIPPED_PLAYBOOK: &str =
    include_str!("../../playbooks/cyberark-privileged-session-abuse.toml");
const SHIPPED_SIGNAL: &str =
    include_str!("../../playbooks/signals/cyberark-privileged-session-abuse.json");

#[test]
fn the_shipped_session_abuse_playbook_contains_its_sample_signal() {
    let (sim, demo) = sims::cyberark();
    let ws = workspace(&sim, CYBERARK_USER.1);
    let before = sims::cyberark_state(&sim.state);
    let dry = sims::run(&ws, SHIPPED_PLAYBOOK, SHIPPED_SIGNAL, &["--dry-run"]);
    dry.expect_code(0);
    assert_eq!(statuses(&dry.json()), ["planned"; 3]);
    assert_eq!(sims::cyberark_state(&sim.state), before);

    let run = sims::run(&ws, SHIPPED_PLAYBOOK, SHIPPED_SIGNAL, &[]);
    run.expect_code(0);
    assert_logged_off(&sim);
    let report = run.json();
    assert_eq!(report["status"], "completed");
    assert_eq!(statuses(&report), ["applied"; 3], "{report}");
    assert!(!live(&sim, &demo.alice_session_id));
    assert!(
        live(&sim, &demo.agent_session_id),
        "the agent's session is not Alice's"
    );
    assert!(sim.state.user(demo.alice_user_id).unwrap().disabled);
    let shared = sim.state.account(&demo.shared_root_account_id).unwrap();
    assert_eq!(shared.secret_version, 2);
    let terminated_at = sim
        .state
        .live_session(&demo.alice_session_id)
        .unwrap()
        .terminated_at_ms
        .unwrap();
    assert!(
        shared.last_modified_ms >= terminated_at,
        "the credential changed after the session was gone"
    );

    let again = sims::run(&ws, SHIPPED_PLAYBOOK, SHIPPED_SIGNAL, &[]);
    again.expect_code(0);
    let again = again.json();
    let status = |step: &str| {
        cordon_e2e::cordon::actions_of(&again, step)[0]["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status("terminate"), "already-applied");
    assert_eq!(status("disable-user"), "already-applied");
    // Each rotation makes a new secret (documented in the plugin).
    assert_eq!(status("rotate"), "applied");
}
