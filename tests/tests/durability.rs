//! Durable runs: `kill -9` mid-run, then `cordon resume`, applies every
//! action exactly once; a store held by another process is refused clearly.

use cordon_e2e::aws;
use cordon_e2e::cordon::{PluginEntry, Workspace, actions_of};
use cordon_e2e::moto::Moto;
use cordon_e2e::proxy::Proxy;
use cordon_e2e::wait_for;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

#[test]
fn kill_9_mid_run_then_resume_applies_every_action_exactly_once() {
    const USERS: usize = 150;
    let moto = Moto::start();
    let seeded = moto.seed("bulk", USERS, 2, 0);
    let keys = seeded.all_keys();
    let proxy = Proxy::start(moto.port);
    let ws = aws::workspace(&proxy.endpoint(), &seeded.operator, &[("concurrency", 8)]);
    ws.write("signal.json", &aws::signal(&keys, |i| i % 2 == 0));

    let mut child = ws
        .command(&[
            "run",
            "--playbook",
            "playbook.toml",
            "--signal",
            "signal.json",
            "--json",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill once a third of the keys are deactivated: mid-run by construction.
    wait_for(
        "a third of the deactivations",
        Duration::from_secs(300),
        || proxy.count_with("UpdateAccessKey", "Status", "Inactive") >= keys.len() / 3,
    );
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());
    let deactivated_before_resume = proxy.count_with("UpdateAccessKey", "Status", "Inactive");
    assert!(
        deactivated_before_resume < keys.len(),
        "the run finished before it could be killed"
    );

    let runs = ws.cordon(&["runs", "list", "--json"]).json();
    assert_eq!(
        runs[0]["status"], "running",
        "the killed run is unfinished: {runs}"
    );

    // Starting the same signal again is refused: it must be resumed instead.
    let again = ws.cordon(&[
        "run",
        "--playbook",
        "playbook.toml",
        "--signal",
        "signal.json",
    ]);
    again.expect_code(1);
    assert!(
        again.stderr().contains("cordon resume"),
        "{}",
        again.stderr()
    );

    let resumed = ws.cordon(&["resume", "--json"]);
    resumed.expect_code(0);
    let reports = resumed.json();
    let report = &reports[0];
    assert_eq!(report["run_id"], runs[0]["run_id"]);
    assert_eq!(report["status"], "completed");

    // The record shows each action exactly once.
    let deactivations = actions_of(report, "deactivate");
    assert_eq!(deactivations.len(), keys.len());
    let mut targets: Vec<&str> = deactivations
        .iter()
        .map(|a| a["target"]["id"].as_str().unwrap())
        .collect();
    targets.sort();
    targets.dedup();
    assert_eq!(targets.len(), keys.len());
    assert_eq!(actions_of(report, "fence-user").len(), USERS);

    // The provider saw each effect exactly once, and no recorded action was
    // called again: the plugin's calls (one ListAccessKeys per attempt)
    // match the recorded attempts, and only actions caught mid-flight
    // (at most the concurrency limit) needed a second attempt.
    for (user, key) in &keys {
        assert_eq!(
            proxy.count_with("UpdateAccessKey", "AccessKeyId", key),
            1,
            "key {key} of {user}"
        );
    }
    for (user, _) in &seeded.keys {
        assert_eq!(
            proxy.count_with("PutUserPolicy", "UserName", user),
            1,
            "fence of {user}"
        );
    }
    // An intent is written just before its call, so a kill between the two
    // can leave at most one unsent attempt per slot.
    let attempts = deactivations
        .iter()
        .map(|a| a["attempts"].as_u64().unwrap())
        .sum::<u64>() as usize;
    let calls = proxy.count("ListAccessKeys");
    assert!(
        calls <= attempts && attempts <= calls + 8,
        "{attempts} attempts recorded, {calls} calls made"
    );
    let retried = deactivations
        .iter()
        .filter(|a| a["attempts"].as_u64().unwrap() > 1)
        .count();
    assert!(
        retried <= 8,
        "{retried} deactivations were re-run; at most 8 were in flight"
    );

    let state = moto.state(&seeded.operator);
    assert!(
        aws::key_statuses(&state)
            .iter()
            .filter(|(k, _)| keys.iter().any(|(_, s)| s == *k))
            .all(|(_, v)| v == "Inactive")
    );
}

#[test]
fn a_store_in_use_by_another_process_is_refused_clearly() {
    let mut ws = Workspace::new();
    ws.write_config(&[PluginEntry::new("test", "misbehave").limit("timeout_ms", 60_000)]);
    ws.write(
        "playbook.toml",
        "name = \"slow\"\nowner = \"nhi\"\n[[step]]\nid = \"wait\"\nplugin = \"test\"\naction = \"sleep-forever\"\n",
    );
    ws.write(
        "signal.json",
        r#"{"id":"s","kind":"k","source":"t","severity":"low","observed_at":"2026-11-28T10:00:00Z",
            "identities":[{"provider":"test","kind":"token","id":"T"}]}"#,
    );
    ws.env("RUST_LOG", "cordon=info");
    let mut holder = ws
        .command(&[
            "run",
            "--playbook",
            "playbook.toml",
            "--signal",
            "signal.json",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(holder.stderr.take().unwrap()).lines();
    // The run logs "run started" once it holds the store.
    loop {
        let line = lines.next().expect("cordon exited early").unwrap();
        if line.contains("run started") {
            break;
        }
    }
    let second = ws.cordon(&["runs", "list"]);
    second.expect_code(1);
    assert!(
        second
            .stderr()
            .contains("is in use by another cordon process"),
        "{}",
        second.stderr()
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
    // Once the holder is gone, the store opens and shows the interrupted run.
    let list = ws.cordon(&["runs", "list", "--json"]);
    list.expect_code(0);
    assert_eq!(list.json()[0]["status"], "running");
}
