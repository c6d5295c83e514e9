//! `cordon plugins call`: one action in the real sandbox with the config's
//! grants, no playbook or signal written — checked through the simulator's
//! own state, and through the store (the call is a run like any other).

use cordon_e2e::sims::{self, OKTA_API_TOKEN};

#[test]
fn one_action_is_planned_then_applied_with_its_requests_and_restore_data() {
    let (sim, demo) = sims::okta();
    let ws = sims::workspace(
        &[sims::okta_plugin(&sim.url)],
        &[("OKTA_API_TOKEN", OKTA_API_TOKEN)],
    );
    let call = |extra: &[&str]| {
        let mut args = vec!["plugins", "call", "okta", "suspend-user", "--target"];
        args.push(&demo.alice_id);
        args.extend_from_slice(extra);
        ws.cordon(&args)
    };

    let planned = call(&["--dry-run"]);
    planned.expect_code(0);
    let text = planned.stdout();
    assert!(text.contains("okta.suspend-user on user:"), "{text}");
    assert!(text.contains("planned: would suspend user"), "{text}");
    assert!(text.contains("requests (1):"), "{text}");
    assert!(
        text.contains(&format!("GET {}/api/v1/users/", sim.url)),
        "{text}"
    );
    assert_eq!(sim.state.user(&demo.alice_id).unwrap().status, "ACTIVE");

    let applied = call(&["--json"]);
    applied.expect_code(0);
    let report = applied.json();
    let action = &report["actions"][0];
    assert_eq!(action["status"], "applied", "{report}");
    assert_eq!(action["restore"]["user_id"], demo.alice_id.as_str());
    assert!(
        action["requests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["method"] == "POST" && r["status"] == 200),
        "{action}"
    );
    assert_eq!(sim.state.user(&demo.alice_id).unwrap().status, "SUSPENDED");
    assert!(
        !applied.stdout().contains(OKTA_API_TOKEN) && !applied.stderr().contains(OKTA_API_TOKEN),
        "the token never shows"
    );

    // A call is a run like any other: stored, and restorable by its owners.
    let run_id = report["run_id"].as_str().unwrap();
    let restored = ws.cordon(&["restore", run_id, "--as", "oscar", "--json"]);
    restored.expect_code(0);
    assert_eq!(restored.json()["actions"][0]["action"], "unsuspend-user");
    assert_eq!(sim.state.user(&demo.alice_id).unwrap().status, "ACTIVE");
}

#[test]
fn a_call_names_what_is_wrong_and_changes_nothing() {
    let (sim, demo) = sims::okta();
    let mut ws = sims::workspace(
        &[sims::okta_plugin(&sim.url)],
        &[("OKTA_API_TOKEN", OKTA_API_TOKEN)],
    );
    let before = sim.state.requests().len();

    let unknown = ws.cordon(&["plugins", "call", "okta", "delete-org", "--target", "x"]);
    unknown.expect_code(1);
    assert!(
        unknown
            .stderr()
            .contains("plugin `okta` has no action `delete-org` (it offers: suspend-user,"),
        "{}",
        unknown.stderr()
    );
    let no_plugin = ws.cordon(&["plugins", "call", "github", "x", "--target", "x"]);
    no_plugin.expect_code(1);
    assert!(no_plugin.stderr().contains("no plugin `github`"));
    let bad_param = ws.cordon(&[
        "plugins",
        "call",
        "okta",
        "unsuspend-user",
        "--target",
        &demo.alice_id,
        "--param",
        "user_id",
    ]);
    bad_param.expect_code(1);
    assert!(
        bad_param
            .stderr()
            .contains("--param `user_id`: expected KEY=VALUE"),
        "{}",
        bad_param.stderr()
    );
    let bad_kind = ws.cordon(&[
        "plugins",
        "call",
        "okta",
        "suspend-user",
        "--target",
        "x",
        "--kind",
        "robot",
    ]);
    bad_kind.expect_code(1);
    assert!(
        bad_kind
            .stderr()
            .contains("--kind `robot` is not an identity kind")
    );
    let wrong_kind = ws.cordon(&[
        "plugins",
        "call",
        "okta",
        "suspend-user",
        "--target",
        "x",
        "--kind",
        "token",
    ]);
    wrong_kind.expect_code(1);
    assert!(
        wrong_kind
            .stderr()
            .contains("action `suspend-user` of plugin `okta` takes user, not token"),
        "{}",
        wrong_kind.stderr()
    );
    // Against a server, a call would bypass its API: refused.
    ws.env("CORDON_TOKEN", "e2e-unused-token");
    let remote = ws.cordon(&[
        "plugins",
        "call",
        "okta",
        "suspend-user",
        "--target",
        &demo.alice_id,
        "--server",
        "http://127.0.0.1:9",
    ]);
    remote.expect_code(1);
    assert!(
        remote
            .stderr()
            .contains("`cordon plugins call` runs on a local store"),
        "{}",
        remote.stderr()
    );
    assert_eq!(
        sim.state.requests().len(),
        before,
        "no request reached Okta: {:?}",
        sim.state.requests()
    );
    assert_eq!(sim.state.user(&demo.alice_id).unwrap().status, "ACTIVE");
}
