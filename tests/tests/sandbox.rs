//! The plugin sandbox, driven through the `cordon` binary with the test-only
//! `misbehave` plugin: every misbehaviour is stopped and reported, and the
//! host goes on serving the next calls.

use cordon_e2e::cordon::{PluginEntry, Workspace, actions_of};

const SIGNAL: &str = r#"{ "id": "sig-1", "kind": "credential.exposed", "source": "test", "severity": "high",
  "observed_at": "2026-11-28T10:00:00Z", "incident": "INC-7",
  "identities": [
    { "provider": "test", "kind": "token", "id": "T1" },
    { "provider": "test", "kind": "token", "id": "T2" } ] }"#;

/// Runs `action` on both identities (one call at a time, so the second call
/// comes after the first was stopped), plus a well-behaved step.
fn run_misbehaviour(action: &str, limits: &[(&str, u64)]) -> serde_json::Value {
    let mut ws = Workspace::new();
    ws.env("TEST_TOKEN", "tok-3f9a1c77e2d04b5b");
    let mut plugin = PluginEntry::new("test", "misbehave")
        .secret_env("token", "TEST_TOKEN")
        .limit("concurrency", 1);
    for (name, value) in limits {
        plugin = plugin.limit(name, *value);
    }
    ws.write_config(&[plugin]);
    ws.write(
        "playbook.toml",
        &format!(
            "name = \"misbehave\"\nowner = \"nhi\"\n\
             [[step]]\nid = \"bad\"\nplugin = \"test\"\naction = \"{action}\"\nfor_each = {{ kind = \"token\" }}\n\
             [[step]]\nid = \"after\"\nplugin = \"test\"\naction = \"noop\"\nfor_each = {{ kind = \"token\" }}\n"
        ),
    );
    let run = run_playbook(&ws);
    run.expect_code(3);
    let report = run.json();
    assert_eq!(report["status"], "partial");
    for ok in actions_of(&report, "after") {
        assert_eq!(
            ok["status"], "applied",
            "the host still serves well-behaved calls: {ok}"
        );
    }
    report
}

/// `action` of the test plugin on both tokens of [`SIGNAL`], through
/// `cordon run --json` in `ws` (whose config is written).
fn run_on_every_token(ws: &Workspace, action: &str) -> cordon_e2e::cordon::Run {
    ws.write(
        "playbook.toml",
        &format!(
            "name = \"p\"\nowner = \"nhi\"\n[[step]]\nid = \"s\"\nplugin = \"test\"\naction = \"{action}\"\nfor_each = {{ kind = \"token\" }}\n"
        ),
    );
    run_playbook(ws)
}

/// `cordon run --json` of the workspace's `playbook.toml` on [`SIGNAL`].
fn run_playbook(ws: &Workspace) -> cordon_e2e::cordon::Run {
    ws.write("signal.json", SIGNAL);
    ws.cordon(&[
        "run",
        "--playbook",
        "playbook.toml",
        "--signal",
        "signal.json",
        "--json",
    ])
}

fn assert_both_failed_with(report: &serde_json::Value, reason: &str) {
    let bad = actions_of(report, "bad");
    assert_eq!(bad.len(), 2);
    for action in bad {
        assert_eq!(action["status"], "failed", "{action}");
        assert_eq!(
            action["attempts"], 1,
            "a violation is not retried: {action}"
        );
        let detail = action["detail"].as_str().unwrap();
        assert!(detail.contains(reason), "expected `{reason}` in `{detail}`");
    }
}

#[test]
fn a_plugin_that_loops_forever_is_stopped_by_its_cpu_limit() {
    let report = run_misbehaviour("loop-forever", &[("cpu_ms", 300), ("timeout_ms", 20_000)]);
    assert_both_failed_with(&report, "exceeded its CPU limit of 300 ms");
}

#[test]
fn a_plugin_that_waits_forever_is_stopped_by_its_time_limit() {
    let report = run_misbehaviour("sleep-forever", &[("timeout_ms", 1_000)]);
    assert_both_failed_with(&report, "exceeded its time limit of 1000 ms");
}

#[test]
fn a_plugin_that_allocates_without_bound_is_stopped_by_its_memory_limit() {
    let report = run_misbehaviour("allocate-unbounded", &[("memory_mb", 24)]);
    assert_both_failed_with(&report, "exceeded its memory limit of 24 MiB");
}

#[test]
fn a_plugin_calling_a_host_it_was_not_granted_is_denied_and_recorded() {
    let report = run_misbehaviour("call-ungranted-host", &[]);
    assert_both_failed_with(
        &report,
        "tried to send POST to http://198.51.100.7:80, which is not in its allowed_hosts",
    );
    let request = &actions_of(&report, "bad")[0]["requests"][0];
    assert_eq!(request["denied"], true);
    assert_eq!(request["origin"], "http://198.51.100.7:80");
    assert_eq!(request["path"], "/exfiltrate");
}

#[test]
fn a_plugin_reading_a_secret_it_was_not_granted_fails() {
    let report = run_misbehaviour("read-ungranted-secret", &[]);
    assert_both_failed_with(
        &report,
        "asked for secret `not-granted`, which is not granted to it",
    );
}

#[test]
fn a_panicking_plugin_is_reported_with_its_panic_message() {
    let report = run_misbehaviour("panic", &[]);
    assert_both_failed_with(&report, "misbehave plugin panicked on purpose");
}

#[test]
fn a_plugin_returning_too_much_fails_its_call_and_nothing_of_it_is_kept() {
    for action in ["return-huge", "return-many"] {
        let report = run_misbehaviour(action, &[("memory_mb", 128)]);
        assert_both_failed_with(&report, "past the cap of 1048576 bytes and 1000 entries");
        let shown = report.to_string();
        assert!(
            shown.len() < 64 << 10,
            "{action}: the report holds {} bytes",
            shown.len()
        );
    }
}

#[test]
fn a_plugin_flooding_its_log_is_cut_off_and_the_host_says_how_much_it_dropped() {
    let mut ws = Workspace::new();
    ws.env("RUST_LOG", "info");
    ws.write_config(&[PluginEntry::new("test", "misbehave").limit("concurrency", 1)]);
    let run = run_on_every_token(&ws, "log-flood");
    run.expect_code(0);
    let stderr = run.stderr();
    let flood_lines = stderr.lines().filter(|l| l.contains("flood line")).count();
    assert_eq!(flood_lines, 2 * 1_000, "1,000 lines per call, two calls");
    let dropped = stderr
        .lines()
        .filter(|l| l.contains("wrote 99000 more log lines") && l.contains("they were dropped"))
        .count();
    assert_eq!(
        dropped,
        2,
        "each call says what it dropped:\n{}",
        &stderr[stderr.len().saturating_sub(2000)..]
    );
}

#[test]
fn secrets_never_reach_output_logs_or_the_store() {
    const TOKEN: &str = "tok-3f9a1c77e2d04b5b";
    let mut ws = Workspace::new();
    ws.env("TEST_TOKEN", TOKEN);
    ws.env("RUST_LOG", "trace");
    // The plugin also puts the token into every string its describe and
    // inspect return (version, descriptions, owner, workload, issuer, facts).
    ws.write_config(&[PluginEntry::new("test", "misbehave")
        .secret_env("token", "TEST_TOKEN")
        .config("leak_everywhere", "true")]);
    ws.write(
        "playbook.toml",
        "name = \"leaky\"\nowner = \"nhi\"\n[[step]]\nid = \"leak\"\nplugin = \"test\"\naction = \"log-secret\"\nfor_each = { kind = \"token\" }\n",
    );
    ws.write("signal.json", SIGNAL);
    let mut outputs = Vec::new();
    for args in [
        vec![
            "run",
            "--playbook",
            "playbook.toml",
            "--signal",
            "signal.json",
            "--json",
        ],
        vec![
            "run",
            "--playbook",
            "playbook.toml",
            "--signal",
            "signal.json",
        ],
    ] {
        let run = ws.cordon(&args);
        run.expect_code(0);
        outputs.push(run.stdout());
        outputs.push(run.stderr());
    }
    // The plugin did write the token to its log and its outcome: redacted.
    assert!(
        outputs
            .iter()
            .any(|o| o.contains("the token is [REDACTED]")),
        "{outputs:?}"
    );
    assert!(outputs.iter().any(|o| o.contains("token=[REDACTED]")));
    let runs = ws.cordon(&["runs", "list", "--json"]).json();
    let run_id = runs[0]["run_id"].as_str().unwrap();
    outputs.push(ws.cordon(&["runs", "show", run_id, "--json"]).stdout());
    let inspected = ws.cordon(&["plugins", "inspect", "test"]);
    inspected.expect_code(0);
    assert!(
        inspected.stdout().contains("version 0.") && inspected.stdout().contains("+[REDACTED]"),
        "describe's version held the token, scrubbed: {}",
        inspected.stdout()
    );
    outputs.push(inspected.stdout());
    outputs.push(
        ws.cordon(&["plugins", "inspect", "test", "--json"])
            .stdout(),
    );
    for format in ["md", "json", "html"] {
        let review = ws.cordon(&["report", "INC-7", "--format", format]);
        review.expect_code(0);
        outputs.push(review.stdout());
    }
    let review = outputs.last().unwrap();
    assert!(
        review.contains("owner [REDACTED]"),
        "inspect's owner reached the review, scrubbed: {review}"
    );
    for output in &outputs {
        assert!(
            !output.contains(TOKEN),
            "secret leaked into output:\n{output}"
        );
    }
    for entry in walk(&ws.store_dir()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
            "secret leaked into {}",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn a_plugin_whose_digest_does_not_match_its_pin_is_refused() {
    let ws = Workspace::new();
    let mut plugin = PluginEntry::new("test", "misbehave");
    let actual = plugin.sha256.clone();
    plugin.sha256 = "0".repeat(64);
    ws.write_config(&[plugin]);
    ws.write(
        "playbook.toml",
        "name = \"p\"\nowner = \"nhi\"\n[[step]]\nid = \"s\"\nplugin = \"test\"\naction = \"noop\"\n",
    );
    ws.write("signal.json", SIGNAL);
    let run = ws.cordon(&[
        "run",
        "--playbook",
        "playbook.toml",
        "--signal",
        "signal.json",
    ]);
    run.expect_code(2);
    let stderr = run.stderr();
    assert!(stderr.contains("plugin `test`"), "{stderr}");
    assert!(
        stderr.contains(&actual) && stderr.contains(&"0".repeat(64)),
        "{stderr}"
    );
    assert!(!ws.store_dir().exists(), "nothing was recorded");
}

#[test]
fn the_second_start_loads_the_compiled_component_from_the_cache() {
    let mut ws = Workspace::new();
    let cache = ws.private_cache();
    ws.write_config(&[PluginEntry::new("test", "misbehave")]);
    let first = ws.cordon(&["plugins", "list", "--json"]);
    first.expect_code(0);
    assert_eq!(first.json()[0]["compiled"], "now");
    assert_eq!(first.json()[0]["compiler"], "baseline", "a cold start");
    assert!(
        std::fs::read_dir(&cache).unwrap().count() > 0,
        "an artifact was cached"
    );
    let second = ws.cordon(&["plugins", "list", "--json"]);
    assert_eq!(second.json()[0]["compiled"], "cached");
    assert_eq!(second.json()[0]["provider"], "test");

    // The deployment step leaves the optimised code in the cache; every
    // later start uses it.
    let compiled = ws.cordon(&["plugins", "compile", "--json"]);
    compiled.expect_code(0);
    let optimized = ws.cordon(&["plugins", "list", "--json"]);
    assert_eq!(optimized.json()[0]["compiled"], "cached");
    assert_eq!(optimized.json()[0]["compiler"], "optimizing");
    assert_eq!(optimized.json()[0]["provider"], "test", "describe ran");
}

#[test]
fn one_call_cannot_hold_more_than_its_share_of_connections() {
    fan_out_is_capped_and_answered(false);
}

/// A guest that takes its answers in another order than the host sent its
/// requests still gets them all: a place under the caps is held while a
/// request waits for its answer's head, not while that answer waits for the
/// guest (which, over the cap, would leave the awaited request without one).
#[test]
fn a_call_waiting_on_its_requests_last_first_gets_every_answer() {
    fan_out_is_capped_and_answered(true);
}

fn fan_out_is_capped_and_answered(reverse: bool) {
    use cordon_e2e::holding::HoldingServer;
    use cordon_plugin_harness::{Harness, Target};
    let server = HoldingServer::start();
    let test = Harness::new("test", cordon_e2e::cordon::plugin("misbehave"))
        .allow(&server.url)
        .load()
        .unwrap();
    let target = Target::new("test", cordon_types::IdentityKind::Token, "T1");
    let called = test
        .call("fan-out", &target)
        .param("url", &server.url)
        .param("count", "40")
        .param("reverse", if reverse { "true" } else { "false" })
        .send();
    assert_eq!(called.expect_ok().detail, "40 of 40 answered");
    assert_eq!(server.answered(), 40);
    assert!(
        server.most_in_flight() <= 16,
        "one call had {} requests in flight at once",
        server.most_in_flight()
    );
    assert_eq!(called.requests().len(), 40, "every request is recorded");
}
