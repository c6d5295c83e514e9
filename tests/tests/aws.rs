//! The AWS plugin end to end: the `cordon` binary against moto with SigV4
//! verification on, every effect checked through boto3 (not Cordon's report).

use cordon_e2e::aws::{self, key_statuses, user_policies};
use cordon_e2e::cordon::actions_of;
use cordon_e2e::moto::Moto;
use cordon_e2e::proxy::Proxy;

const RUN: &[&str] = cordon_e2e::cordon::RUN_JSON;

#[test]
fn leaked_keys_are_deactivated_and_their_users_fenced() {
    let moto = Moto::start();
    let seeded = moto.seed("dev", 3, 2, 0);
    let all = seeded.all_keys();
    let leaked = &all[..5]; // every key but the last user's second one
    let ws = aws::workspace(&moto.endpoint(), &seeded.operator, &[]);
    // Half the keys carry no `user`: the plugin must ask IAM whose they are.
    ws.write("signal.json", &aws::signal(leaked, |i| i % 2 == 0));

    let run = ws.cordon(RUN);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["status"], "completed");
    assert!(report["time_to_contain_ms"].as_i64().unwrap() >= 0);
    let deactivations = actions_of(&report, "deactivate");
    assert_eq!(deactivations.len(), 5);
    assert!(deactivations.iter().all(|a| a["status"] == "applied"));
    let fences = actions_of(&report, "fence-user");
    assert_eq!(fences.len(), 3, "one fence per user: {fences:?}");

    let state = moto.state(&seeded.operator);
    let statuses = key_statuses(&state);
    for (_, key) in leaked {
        assert_eq!(statuses[key], "Inactive", "{key}");
    }
    assert_eq!(
        statuses[&all[5].1], "Active",
        "a key not in the signal is untouched"
    );
    for (user, _) in &seeded.keys {
        assert_eq!(user_policies(&state, user), ["CordonQuarantine"], "{user}");
    }
    assert_eq!(user_policies(&state, "cordon-operator"), ["admin"]);

    // Running again changes nothing and says so.
    let again = ws.cordon(RUN);
    again.expect_code(0);
    let report = again.json();
    assert!(
        report["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] == "already-applied"),
        "{report}"
    );
}

#[test]
fn a_dry_run_plans_and_changes_nothing() {
    let moto = Moto::start();
    let seeded = moto.seed("dry", 2, 2, 0);
    let ws = aws::workspace(&moto.endpoint(), &seeded.operator, &[]);
    ws.write("signal.json", &aws::signal(&seeded.all_keys(), |i| i == 0));
    let before = moto.state(&seeded.operator);

    let run = ws.cordon(&[RUN, &["--dry-run"]].concat());
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["dry_run"], true);
    assert!(
        report["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["status"] == "planned"),
        "{report}"
    );
    assert_eq!(
        actions_of(&report, "fence-user").len(),
        2,
        "the plan names each user once"
    );
    assert_eq!(moto.state(&seeded.operator), before);
}

#[test]
fn a_denied_endpoint_leaves_the_account_untouched() {
    let moto = Moto::start();
    let seeded = moto.seed("deny", 1, 2, 0);
    let ws = aws::workspace(&moto.endpoint(), &seeded.operator, &[]);
    // Granted a different origin than the one it is configured to call.
    let config = std::fs::read_to_string(ws.path().join("cordon.toml")).unwrap();
    let granted = format!("allowed_hosts = [\"{}\"]", moto.endpoint());
    ws.write(
        "cordon.toml",
        &config.replace(&granted, "allowed_hosts = [\"https://iam.amazonaws.com\"]"),
    );
    ws.write("signal.json", &aws::signal(&seeded.all_keys(), |_| true));
    let before = moto.state(&seeded.operator);

    let run = ws.cordon(RUN);
    run.expect_code(3);
    let report = run.json();
    assert_eq!(report["status"], "failed");
    for action in actions_of(&report, "deactivate") {
        assert_eq!(action["status"], "failed");
        assert!(
            action["detail"]
                .as_str()
                .unwrap()
                .contains("which is not in its allowed_hosts"),
            "{action}"
        );
    }
    for action in actions_of(&report, "fence-user") {
        assert_eq!(action["status"], "skipped", "{action}");
    }
    assert_eq!(moto.state(&seeded.operator), before);
}

#[test]
fn wrong_credentials_fail_as_unauthorized() {
    let moto = Moto::start();
    let seeded = moto.seed("auth", 1, 1, 0);
    let mut operator = seeded.operator.clone();
    operator.secret_access_key = "not-the-secret-key-0000000000000000000000".into();
    let ws = aws::workspace(&moto.endpoint(), &operator, &[]);
    ws.write("signal.json", &aws::signal(&seeded.all_keys(), |_| true));

    let run = ws.cordon(RUN);
    run.expect_code(3);
    let action = &actions_of(&run.json(), "deactivate")[0].clone();
    assert_eq!(action["status"], "failed");
    assert_eq!(action["attempts"], 1, "unauthorized is not retried");
    let detail = action["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("unauthorized: SignatureDoesNotMatch"),
        "{detail}"
    );
    assert_eq!(
        key_statuses(&moto.state(&seeded.operator))[&seeded.all_keys()[0].1],
        "Active"
    );
}

#[test]
fn transient_errors_are_retried_and_throttling_is_waited_out() {
    let moto = Moto::start();
    let seeded = moto.seed("flaky", 2, 1, 0);
    let proxy = Proxy::start(moto.port);
    proxy.fail("UpdateAccessKey", 2, 500, "ServiceFailure");
    proxy.fail("PutUserPolicy", 1, 400, "Throttling");
    let ws = aws::workspace(&proxy.endpoint(), &seeded.operator, &[("concurrency", 1)]);
    ws.write("signal.json", &aws::signal(&seeded.all_keys(), |_| true));

    let run = ws.cordon(RUN);
    run.expect_code(0);
    let report = run.json();
    let attempts: u64 = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["attempts"].as_u64().unwrap())
        .sum();
    assert_eq!(
        attempts,
        4 + 3,
        "2 keys + 2 fences, plus 2 server failures and 1 throttle"
    );
    assert_eq!(proxy.count("UpdateAccessKey"), 4);
    assert_eq!(proxy.count("PutUserPolicy"), 3);
    let state = moto.state(&seeded.operator);
    assert!(
        key_statuses(&state)
            .iter()
            .filter(|(k, _)| seeded.all_keys().iter().any(|(_, s)| s == *k))
            .all(|(_, v)| v == "Inactive")
    );
}

#[test]
fn identical_targets_run_once_and_fan_out_stays_under_the_concurrency_limit() {
    let moto = Moto::start();
    let seeded = moto.seed("fan", 12, 2, 0);
    let proxy = Proxy::start(moto.port);
    let ws = aws::workspace(&proxy.endpoint(), &seeded.operator, &[("concurrency", 3)]);
    ws.write(
        "signal.json",
        &aws::signal(&seeded.all_keys(), |i| i % 3 != 0),
    );

    let run = ws.cordon(RUN);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(actions_of(&report, "deactivate").len(), 24);
    assert_eq!(actions_of(&report, "fence-user").len(), 12);
    for (user, _) in &seeded.keys {
        assert_eq!(
            proxy.count_with("PutUserPolicy", "UserName", user),
            1,
            "{user} fenced once"
        );
    }
    assert!(
        proxy.max_in_flight() <= 3,
        "at most 3 calls at once, saw {}",
        proxy.max_in_flight()
    );
}

#[test]
fn every_aws_action_works_and_repeats_as_already_applied() {
    let moto = Moto::start();
    let seeded = moto.seed_with("all", 1, 2, 1, true);
    let user = &seeded.keys[0].0;
    let (key_a, key_b) = (&seeded.keys[0].1[0], &seeded.keys[0].1[1]);
    let role = &seeded.roles[0];
    let ws = aws::workspace(&moto.endpoint(), &seeded.operator, &[]);
    ws.write(
        "signal.json",
        &serde_json::json!({
            "id": "sig-all", "kind": "credential.exposed", "source": "test", "severity": "critical",
            "observed_at": "2026-11-28T10:00:00Z",
            "identities": [
                { "provider": "aws", "kind": "access-key", "id": key_a },
                { "provider": "aws", "kind": "access-key", "id": key_b, "attributes": { "user": user } },
                { "provider": "aws", "kind": "user", "id": user },
                { "provider": "aws", "kind": "role", "id": role }
            ]
        })
        .to_string(),
    );
    let playbook = |name: &str, steps: &[(&str, &str)]| {
        let mut text = format!("name = \"{name}\"\nowner = \"nhi\"\n");
        for (i, (action, kind)) in steps.iter().enumerate() {
            text.push_str(&format!(
                "[[step]]\nid = \"s{i}\"\nplugin = \"aws\"\naction = \"{action}\"\nfor_each = {{ kind = \"{kind}\" }}\n"
            ));
            if i > 0 {
                text.push_str(&format!("needs = [\"s{}\"]\n", i - 1));
            }
        }
        ws.write(&format!("{name}.toml"), &text);
    };
    let run = |name: &str| {
        let run = ws.cordon(&[
            "run",
            "--playbook",
            &format!("{name}.toml"),
            "--signal",
            "signal.json",
            "--json",
        ]);
        run.expect_code(0);
        run.json()
    };
    let statuses = |report: &serde_json::Value| -> Vec<String> {
        report["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["status"].as_str().unwrap().to_string())
            .collect()
    };

    playbook(
        "contain",
        &[
            ("quarantine-role", "role"),
            ("revoke-role-sessions", "role"),
            ("delete-login-profile", "user"),
            ("delete-access-key", "access-key"),
        ],
    );
    let first = run("contain");
    assert_eq!(statuses(&first), ["applied"; 5], "{first}");
    let state = moto.state(&seeded.operator);
    assert_eq!(state["users"][user]["login_profile"], false);
    assert!(
        state["users"][user]["keys"].as_object().unwrap().is_empty(),
        "both keys deleted"
    );
    let policies = &state["roles"][role]["policies"];
    assert!(policies["CordonQuarantine"].is_object());
    let condition = &policies["AWSRevokeOlderSessions"]["Statement"][0]["Condition"]["DateLessThan"]
        ["aws:TokenIssueTime"];
    assert!(
        condition.as_str().is_some_and(|t| t.starts_with("20")),
        "{policies}"
    );
    let again = run("contain");
    let repeat = statuses(&again);
    // Session revocation re-stamps the cut-off time: it always applies.
    assert_eq!(
        repeat,
        [
            "already-applied",
            "applied",
            "already-applied",
            "already-applied",
            "already-applied"
        ],
        "{again}"
    );

    playbook("release", &[("release-role", "role")]);
    assert_eq!(statuses(&run("release")), ["applied"]);
    assert_eq!(statuses(&run("release")), ["already-applied"]);
    let state = moto.state(&seeded.operator);
    assert!(state["roles"][role]["policies"]["CordonQuarantine"].is_null());
}

#[test]
fn deactivation_and_fences_are_undone_by_their_restore_actions() {
    let moto = Moto::start();
    let seeded = moto.seed("undo", 1, 1, 0);
    let ws = aws::workspace(&moto.endpoint(), &seeded.operator, &[]);
    ws.write("signal.json", &aws::signal(&seeded.all_keys(), |_| false));
    let report = ws.cordon(RUN).expect_code(0).json();
    let deactivate = actions_of(&report, "deactivate")[0];
    assert_eq!(deactivate["restore"]["user"], seeded.keys[0].0.as_str());
    ws.write(
        "restore.toml",
        "name = \"restore\"\nowner = \"nhi\"\n\
         [[step]]\nid = \"reactivate\"\nplugin = \"aws\"\naction = \"reactivate-access-key\"\nfor_each = { kind = \"access-key\" }\n\
         [[step]]\nid = \"release\"\nplugin = \"aws\"\naction = \"release-user\"\nfor_each = { kind = \"access-key\" }\n",
    );
    let restored = ws.cordon(&[
        "run",
        "--playbook",
        "restore.toml",
        "--signal",
        "signal.json",
        "--json",
    ]);
    restored.expect_code(0);
    let state = moto.state(&seeded.operator);
    assert_eq!(key_statuses(&state)[&seeded.keys[0].1[0]], "Active");
    assert!(user_policies(&state, &seeded.keys[0].0).is_empty());
}

#[test]
fn a_write_whose_answer_was_lost_is_the_runs_own_effect_and_restorable() {
    let moto = Moto::start();
    let seeded = moto.seed("lost", 1, 1, 0);
    let (user, key) = (&seeded.keys[0].0, &seeded.keys[0].1[0]);
    let proxy = Proxy::start(moto.port);
    // moto deactivates the key; the plugin gets a gateway's 502 instead.
    proxy.lose_answer("UpdateAccessKey", 1);
    let ws = aws::workspace(&proxy.endpoint(), &seeded.operator, &[]);
    ws.write("signal.json", &aws::signal(&seeded.all_keys(), |_| true));

    let run = ws.cordon(RUN);
    run.expect_code(0);
    let report = run.json();
    let deactivate = actions_of(&report, "deactivate")[0];
    assert_eq!(deactivate["status"], "applied", "{deactivate}");
    assert_eq!(deactivate["attempts"], 2);
    assert!(
        deactivate["detail"]
            .as_str()
            .unwrap()
            .contains("applied by attempt 1 of this run, whose answer was lost"),
        "{deactivate}"
    );
    assert_eq!(deactivate["restore"]["user"], user.as_str());
    assert_eq!(
        proxy.count("UpdateAccessKey"),
        1,
        "the retry read the key's state and wrote nothing"
    );
    assert_eq!(key_statuses(&moto.state(&seeded.operator))[key], "Inactive");

    // Its owners can restore it like any other applied action.
    let run_id = report["run_id"].as_str().unwrap();
    let restored = ws.cordon(&[
        "restore",
        run_id,
        "--step",
        "deactivate",
        "--as",
        "oscar",
        "--json",
    ]);
    restored.expect_code(0);
    let restored = restored.json();
    assert_eq!(restored["actions"][0]["action"], "reactivate-access-key");
    assert_eq!(restored["actions"][0]["status"], "applied", "{restored}");
    assert_eq!(key_statuses(&moto.state(&seeded.operator))[key], "Active");
}
