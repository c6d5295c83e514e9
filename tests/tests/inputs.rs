//! Bad input — playbooks, configs, signals — is refused with exit code 2, a
//! message naming file, line, column and field, and nothing recorded or run.

use cordon_e2e::cordon::{PluginEntry, RUN, Workspace};

const SIGNAL: &str = r#"{ "id": "sig-1", "kind": "credential.exposed", "source": "test", "severity": "high",
  "observed_at": "2026-11-28T10:00:00Z",
  "identities": [ { "provider": "test", "kind": "token", "id": "T1" } ] }"#;

const PLAYBOOK: &str = r#"name = "ok"
owner = "nhi"
[trigger]
kinds = ["credential.*"]
[[step]]
id = "first"
plugin = "test"
action = "noop"
for_each = { kind = "token" }
[[step]]
id = "second"
needs = ["first"]
plugin = "test"
action = "noop"
for_each = { kind = "token" }
params = { note = "{{ steps.first.evidence.target }}" }
"#;

fn workspace() -> Workspace {
    let ws = Workspace::new();
    ws.write_config(&[PluginEntry::new("test", "misbehave")]);
    ws.write("playbook.toml", PLAYBOOK);
    ws.write("signal.json", SIGNAL);
    ws
}

/// Runs with the given files and expects exit 2, no store, and `expected` in stderr.
fn refused(ws: &Workspace, expected: &[&str]) {
    let run = ws.cordon(&[
        "run",
        "--playbook",
        "playbook.toml",
        "--signal",
        "signal.json",
    ]);
    run.expect_code(2);
    let stderr = run.stderr();
    for fragment in expected {
        assert!(
            stderr.contains(fragment),
            "expected `{fragment}` in:\n{stderr}"
        );
    }
    assert!(
        !ws.store_dir().exists(),
        "invalid input must record nothing"
    );
}

#[test]
fn the_reference_playbook_is_valid() {
    let ws = workspace();
    let check = ws.cordon(&["playbook", "check", "playbook.toml"]);
    check.expect_code(0);
    assert!(
        check.stdout().contains("playbook `ok` is valid (2 steps"),
        "{}",
        check.stdout()
    );
    ws.cordon(&[
        "run",
        "--playbook",
        "playbook.toml",
        "--signal",
        "signal.json",
    ])
    .expect_code(0);
}

#[test]
fn unknown_action_is_located() {
    let ws = workspace();
    ws.write(
        "playbook.toml",
        &PLAYBOOK.replacen("action = \"noop\"", "action = \"nope\"", 1),
    );
    refused(
        &ws,
        &["playbook.toml:8:10: step[0].action: plugin `test` has no action `nope` (it has: noop,"],
    );
    let check = ws.cordon(&["playbook", "check", "playbook.toml"]);
    check.expect_code(2);
    assert!(check.stderr().contains("playbook.toml:8:10"));
}

#[test]
fn unknown_plugin_is_located() {
    let ws = workspace();
    ws.write(
        "playbook.toml",
        &PLAYBOOK.replacen("plugin = \"test\"", "plugin = \"okta\"", 1),
    );
    refused(
        &ws,
        &["playbook.toml:7:10: step[0].plugin: no plugin `okta`"],
    );
}

#[test]
fn cycles_are_located() {
    let ws = workspace();
    ws.write(
        "playbook.toml",
        &PLAYBOOK.replacen("id = \"first\"", "id = \"first\"\nneeds = [\"second\"]", 1),
    );
    refused(
        &ws,
        &[
            "playbook.toml:7:10: step[0].needs: steps depend on each other in a cycle: first -> second -> first",
        ],
    );
}

#[test]
fn bad_templates_are_located() {
    let ws = workspace();
    ws.write(
        "playbook.toml",
        &PLAYBOOK.replace("steps.first.evidence.target", "target.nope"),
    );
    refused(
        &ws,
        &[
            "playbook.toml:16:",
            "step[1].params.note: unknown value `target.nope`",
        ],
    );
    ws.write(
        "playbook.toml",
        &PLAYBOOK.replace("needs = [\"first\"]\n", ""),
    );
    refused(
        &ws,
        &["step[1].params.note: `steps.first`: step `second` must list `first` in `needs`"],
    );
}

#[test]
fn wrong_types_and_unknown_fields_are_located() {
    let ws = workspace();
    ws.write(
        "playbook.toml",
        &PLAYBOOK.replacen("id = \"first\"", "id = \"first\"\nretries = \"three\"", 1),
    );
    refused(
        &ws,
        &["playbook.toml:7:11: step[0].retries: invalid type: string \"three\", expected u32"],
    );
    ws.write(
        "playbook.toml",
        &PLAYBOOK.replacen("id = \"first\"", "id = \"first\"\nretry = 3", 1),
    );
    refused(
        &ws,
        &[
            "playbook.toml:",
            "step[0].retry: unknown field `retry`, expected one of",
        ],
    );
    ws.write(
        "playbook.toml",
        &PLAYBOOK.replacen("kind = \"token\"", "kind = \"tokn\"", 1),
    );
    refused(&ws, &["playbook.toml:9:", "unknown variant `tokn`"]);
}

#[test]
fn bad_config_is_located() {
    let ws = workspace();
    let mut plugin = PluginEntry::new("test", "misbehave");
    plugin.sha256 = "xyz".into();
    ws.write_config(&[plugin]);
    refused(
        &ws,
        &[
            "cordon.toml:",
            "plugins.test.sha256: must be the component's sha256 digest",
        ],
    );

    let config = std::fs::read_to_string(ws.path().join("cordon.toml")).unwrap();
    ws.write(
        "cordon.toml",
        &config.replace("allowed_hosts = []", "allowed_hosts = [\"ftp://x\"]"),
    );
    refused(
        &ws,
        &["plugins.test.allowed_hosts[0]: scheme `ftp` is not http or https"],
    );

    ws.write_config(&[
        PluginEntry::new("test", "misbehave").secret_env("token", "CORDON_TEST_UNSET_VARIABLE")
    ]);
    refused(
        &ws,
        &["plugins.test.secrets.token: environment variable CORDON_TEST_UNSET_VARIABLE is not set"],
    );
}

/// `file:line:col` of the `component =` line of plugin `test` in the
/// workspace's config, as load errors give it.
fn component_location(ws: &Workspace) -> String {
    let config = std::fs::read_to_string(ws.path().join("cordon.toml")).unwrap();
    let start = config.find("[plugins.test]").expect("plugin table");
    let line = config[..start].lines().count() + 2;
    format!("cordon.toml:{line}:13: plugin `test`: ")
}

#[test]
fn plugin_load_problems_are_located_and_secret_files_must_be_regular() {
    let ws = workspace();
    let genuine = PluginEntry::new("test", "misbehave");

    // A component that is not there.
    let mut missing = genuine.clone();
    missing.component = ws.path().join("missing.wasm");
    ws.write_config(&[missing]);
    let at = component_location(&ws);
    refused(&ws, &[&format!("{at}cannot read component")]);

    // A file whose digest is not the pinned one.
    ws.write("other.wasm", "not the plugin");
    let mut swapped = genuine.clone();
    swapped.component = ws.path().join("other.wasm");
    ws.write_config(&[swapped.clone()]);
    refused(&ws, &[&format!("{at}refusing to load")]);

    // A pinned file that is no component.
    swapped.sha256 = cordon_e2e::cordon::sha256_of(&ws.path().join("other.wasm"));
    ws.write_config(&[swapped]);
    refused(&ws, &[&at]);

    // A secret file that is a FIFO would block for ever: it is refused.
    let fifo = ws.path().join("token.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let mut fed = genuine.clone();
    fed.secrets.insert("token".into(), "file:token.fifo".into());
    ws.write_config(&[fed]);
    refused(
        &ws,
        &["plugins.test.secrets.token: cannot read file token.fifo: it is not a regular file"],
    );
}

/// `memory_mb = 4096`, the documented maximum, starts and runs.
#[test]
fn the_largest_memory_limit_runs() {
    let ws = workspace();
    ws.write_config(&[PluginEntry::new("test", "misbehave").limit("memory_mb", 4096)]);
    ws.cordon(RUN).expect_code(0);
}

#[test]
fn bad_signals_are_located() {
    let ws = workspace();
    ws.write("signal.json", &SIGNAL.replace("\"token\"", "\"tokn\""));
    refused(
        &ws,
        &[
            "signal.json:3:",
            "identities[0].kind: unknown variant `tokn`",
        ],
    );
    ws.write(
        "signal.json",
        &SIGNAL.replace("\"severity\": \"high\",", ""),
    );
    refused(&ws, &["signal.json:", "missing field `severity`"]);
    ws.write("signal.json", "{ \"id\": ");
    refused(&ws, &["signal.json:1:"]);
}

#[test]
fn a_signal_the_trigger_does_not_accept_is_refused() {
    let ws = workspace();
    ws.write(
        "signal.json",
        &SIGNAL.replace("credential.exposed", "session.hijacked"),
    );
    refused(
        &ws,
        &[
            "signal.json:1:1: the signal does not match the trigger of playbook `ok`: signal kind `session.hijacked`",
        ],
    );
}

/// A signal's ids, attributes and incident name reach the terminal: a raw
/// ESC, CR or NUL in them is printed as a visible escape, never as itself.
#[test]
fn control_characters_from_a_signal_are_escaped_on_the_terminal() {
    let ws = workspace();
    ws.write(
        "signal.json",
        &SIGNAL
            .replace("\"T1\"", "\"T1\\u001b[2J\\r\\u0000\"")
            .replace(
                "\"id\": \"sig-1\"",
                "\"id\": \"sig-1\", \"incident\": \"INC\\u001b]0;owned\\u0007\"",
            ),
    );
    let run = ws.cordon(RUN);
    run.expect_code(0);
    let listed = ws.cordon(&["runs", "list"]);
    listed.expect_code(0);
    for (name, text) in [
        ("run stdout", run.stdout()),
        ("run stderr", run.stderr()),
        ("runs list", listed.stdout()),
    ] {
        assert!(
            !text.contains(['\u{1b}', '\r', '\0', '\u{7}']),
            "{name} holds a raw control character: {text:?}"
        );
    }
    assert!(
        run.stdout().contains("T1\\u{1b}[2J\\u{d}\\u{0}"),
        "{}",
        run.stdout()
    );
}
