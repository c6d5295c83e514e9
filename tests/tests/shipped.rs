//! Every shipped playbook, with its sample signal, under the shipped
//! authority model and inventory: the decisions the demo organisation
//! agreed on are the ones made.

use cordon_e2e::cordon::{PluginEntry, Workspace, actions_of};
use cordon_e2e::moto::Moto;
use cordon_e2e::sims::{self, CYBERARK_USER, OKTA_API_TOKEN, VAULT_ROOT_TOKEN};
use serde_json::Value;

const AUTHORITY: &str = include_str!("../../authority.toml");
const INVENTORY: &str = include_str!("../../inventory.toml");

fn workspace(plugins: &[PluginEntry], secrets: &[(&str, &str)]) -> Workspace {
    let mut ws = Workspace::new();
    for (var, value) in secrets {
        ws.env(var, value);
    }
    ws.authority(AUTHORITY);
    ws.inventory(INVENTORY);
    ws.write_config(plugins);
    ws
}

fn run(ws: &Workspace, name: &str) -> (i32, Value) {
    run_with(ws, name, &[])
}

fn run_with(ws: &Workspace, name: &str, extra: &[&str]) -> (i32, Value) {
    let root = cordon_e2e::workspace_root();
    let playbook = root.join(format!("playbooks/{name}.toml"));
    let signal = root.join(format!("playbooks/signals/{name}.json"));
    let args = [
        "run",
        "--playbook",
        playbook.to_str().unwrap(),
        "--signal",
        signal.to_str().unwrap(),
        "--json",
    ];
    let run = ws.cordon(&[&args[..], extra].concat());
    (run.code(), run.json())
}

/// `(decision, target id)` of every action.
fn decisions(report: &Value) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["decision"]["decision"]
                    .as_str()
                    .unwrap_or("none")
                    .to_string(),
                a["target"]["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    all.sort();
    all
}

fn all_allowed(report: &Value) {
    for (decision, target) in decisions(report) {
        assert_eq!(decision, "allowed", "{target}: {report}");
    }
}

#[test]
fn vault_token_leak_is_pre_authorized_for_the_nhi_team() {
    let (vault, _) = sims::vault();
    let ws = workspace(
        &[sims::vault_plugin(&vault.url)],
        &[("VAULT_TOKEN", VAULT_ROOT_TOKEN)],
    );
    let (code, report) = run(&ws, "vault-token-leak");
    assert_eq!(code, 0, "{report}");
    all_allowed(&report);
}

#[test]
fn okta_session_hijack_is_pre_authorized_for_incident_response() {
    let (okta, _) = sims::okta();
    let ws = workspace(
        &[sims::okta_plugin(&okta.url)],
        &[("OKTA_API_TOKEN", OKTA_API_TOKEN)],
    );
    let (code, report) = run(&ws, "okta-session-hijack");
    assert_eq!(code, 0, "{report}");
    all_allowed(&report);
}

#[test]
fn cyberark_session_abuse_is_pre_authorized_for_the_pam_team() {
    let (cyberark, _) = sims::cyberark();
    let ws = workspace(
        &[sims::cyberark_plugin(&cyberark.url)],
        &[
            ("CYBERARK_USERNAME", CYBERARK_USER.0),
            ("CYBERARK_PASSWORD", CYBERARK_USER.1),
        ],
    );
    let (code, report) = run(&ws, "cyberark-privileged-session-abuse");
    assert_eq!(code, 0, "{report}");
    all_allowed(&report);
}

fn aws_plugin(moto: &Moto) -> PluginEntry {
    PluginEntry::new("aws", "aws")
        .allow(&moto.endpoint())
        .config("endpoint", &moto.endpoint())
        .secret_env("access_key_id", "AWS_ACCESS_KEY_ID")
        .secret_env("secret_access_key", "AWS_SECRET_ACCESS_KEY")
}

#[test]
fn the_leaked_aws_keys_are_contained_but_the_break_glass_key_is_denied() {
    let moto = Moto::start();
    let (operator, _) = moto.seed_demo();
    let ws = workspace(
        &[aws_plugin(&moto)],
        &[
            ("AWS_ACCESS_KEY_ID", &operator.access_key_id),
            ("AWS_SECRET_ACCESS_KEY", &operator.secret_access_key),
        ],
    );
    let (code, report) = run(&ws, "aws-leaked-access-key");
    assert_eq!(code, 3, "{report}");
    let glass = "AKIARZPUZDIKINRH67HK";
    for action in actions_of(&report, "deactivate") {
        let expected = if action["target"]["id"] == glass {
            "denied"
        } else {
            "allowed"
        };
        assert_eq!(action["decision"]["decision"], expected, "{action}");
    }
    let fences = actions_of(&report, "fence-user");
    for fence in &fences {
        if fence["target"]["id"] == glass {
            assert_eq!(
                fence["status"], "skipped",
                "the break-glass key's user is not fenced: {fence}"
            );
        } else {
            assert_eq!(fence["decision"]["decision"], "allowed", "{fence}");
        }
    }
    assert_eq!(
        fences.len(),
        3,
        "ci-bot, data-pipeline, and the skipped break-glass fence: {report}"
    );
}

/// The ai-agent playbook's four providers, and a workspace using them all.
struct AiAgent {
    ws: Workspace,
    moto: Moto,
    operator: cordon_e2e::moto::Operator,
    _sims: Vec<Box<dyn std::any::Any>>,
}

impl AiAgent {
    /// The status of access key `id` at moto, as boto3 reads it.
    fn key_status(&self, id: &str) -> String {
        let state = self.moto.state(&self.operator);
        let users = state["users"].as_object().expect("users");
        users
            .values()
            .find_map(|user| user["keys"][id].as_str())
            .unwrap_or_else(|| panic!("no key {id} at moto: {state}"))
            .to_string()
    }
}

fn ai_agent() -> AiAgent {
    let moto = Moto::start();
    let (operator, _) = moto.seed_demo();
    let (vault, _) = sims::vault();
    let (okta, _) = sims::okta();
    let (cyberark, _) = sims::cyberark();
    let ws = workspace(
        &[
            aws_plugin(&moto),
            sims::vault_plugin(&vault.url),
            sims::okta_plugin(&okta.url),
            sims::cyberark_plugin(&cyberark.url),
        ],
        &[
            ("AWS_ACCESS_KEY_ID", &operator.access_key_id),
            ("AWS_SECRET_ACCESS_KEY", &operator.secret_access_key),
            ("VAULT_TOKEN", VAULT_ROOT_TOKEN),
            ("OKTA_API_TOKEN", OKTA_API_TOKEN),
            ("CYBERARK_USERNAME", CYBERARK_USER.0),
            ("CYBERARK_PASSWORD", CYBERARK_USER.1),
        ],
    );
    AiAgent {
        ws,
        moto,
        operator,
        _sims: vec![Box::new(vault), Box::new(okta), Box::new(cyberark)],
    }
}

/// The agent's access key that is shared with a human: its deactivation
/// needs the NHI team's approval.
const SHARED_KEY: &str = "AKIARZPUZDIKGPSCFH3X";

#[test]
fn the_ai_agent_is_contained_everywhere_once_its_shared_key_is_approved() {
    let agent = ai_agent();
    let ws = &agent.ws;
    let (code, report) = run(ws, "ai-agent-identity-compromise");
    assert_eq!(code, 4, "{report}");
    for (decision, target) in decisions(&report) {
        let expected = if target == SHARED_KEY {
            "needs-approval"
        } else {
            "allowed"
        };
        assert_eq!(decision, expected, "{target}: {report}");
    }
    let run_id = report["run_id"].as_str().unwrap();
    // Incident response may not approve it; its owners (the NHI team) may.
    ws.cordon(&["approve", run_id, "--as", "rita@acme.example"])
        .expect_code(1);
    let approved = ws.cordon(&["approve", run_id, "--as", "nadia@acme.example", "--json"]);
    approved.expect_code(0);
    assert_eq!(approved.json()["status"], "completed");
}

/// The README says to start with `--dry-run`: a dry run of a playbook with an
/// approval in it must finish at once, plan the approved action too, and
/// leave the real run of the same signal free to start and be approved.
#[test]
fn a_dry_run_never_waits_for_approval_nor_blocks_the_real_run() {
    let agent = ai_agent();
    let ws = &agent.ws;
    let (code, dry) = run_with(ws, "ai-agent-identity-compromise", &["--dry-run"]);
    assert_eq!(code, 0, "a dry run finishes: {dry}");
    assert_eq!(dry["status"], "completed", "{dry}");
    assert_eq!(dry["dry_run"], true);
    let shared: Vec<_> = dry["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["target"]["id"] == SHARED_KEY)
        .collect();
    assert!(!shared.is_empty(), "{dry}");
    for action in shared {
        assert_eq!(action["status"], "planned", "{action}");
        let detail = action["detail"].as_str().unwrap();
        assert!(
            detail.contains("a real run waits for approval by a member of team nhi"),
            "{detail}"
        );
    }
    let pending = ws.cordon(&["approvals", "list", "--json"]).json();
    assert_eq!(pending, serde_json::json!([]), "a dry run asks nobody");
    assert_eq!(agent.key_status(SHARED_KEY), "Active");

    // The real run of the same signal starts, and only it waits.
    let (code, real) = run(ws, "ai-agent-identity-compromise");
    assert_eq!(code, 4, "{real}");
    let real_id = real["run_id"].as_str().unwrap();
    let pending = ws.cordon(&["approvals", "list", "--json"]).json();
    let runs: Vec<_> = pending
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(runs, vec![real_id], "{pending}");

    // Approving the dry run is refused, naming it; the real one is approved.
    let dry_id = dry["run_id"].as_str().unwrap();
    let refused = ws.cordon(&["approve", dry_id, "--as", "nadia@acme.example"]);
    refused.expect_code(1);
    assert!(
        refused.stderr().contains("is a dry run"),
        "{}",
        refused.stderr()
    );
    let approved = ws.cordon(&["approve", real_id, "--as", "nadia@acme.example", "--json"]);
    approved.expect_code(0);
    assert_eq!(agent.key_status(SHARED_KEY), "Inactive");
}
