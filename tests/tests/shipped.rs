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
    let root = cordon_e2e::workspace_root();
    let playbook = root.join(format!("playbooks/{name}.toml"));
    let signal = root.join(format!("playbooks/signals/{name}.json"));
    let run = ws.cordon(&[
        "run",
        "--playbook",
        playbook.to_str().unwrap(),
        "--signal",
        signal.to_str().unwrap(),
        "--json",
    ]);
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

#[test]
fn the_ai_agent_is_contained_everywhere_once_its_shared_key_is_approved() {
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
    let (code, report) = run(&ws, "ai-agent-identity-compromise");
    assert_eq!(code, 4, "{report}");
    for (decision, target) in decisions(&report) {
        let expected = if target == "AKIARZPUZDIKGPSCFH3X" {
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
