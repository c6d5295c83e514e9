//! The containment-authority model end to end: protected identities,
//! blast-radius caps and approvals, commander grants, owner-only restore,
//! the tamper-evident audit log, fail-closed auditing and the incident report.

use cordon_e2e::aws::{self, key_statuses, user_policies};
use cordon_e2e::cordon::{PluginEntry, Workspace, actions_of};
use cordon_e2e::moto::Moto;
use cordon_e2e::proxy::Proxy;

const MODEL: &str = r#"
[teams.iam]
members = ["ines"]
domains = ["iam"]
immediate = ["isolate", "quarantine"]
[teams.nhi]
members = ["nadia"]
domains = ["nhi"]
immediate = ["revoke", "quarantine"]
[teams.ir]
members = ["rita", "carl"]
[incident_response]
team = "ir"
min_severity = "high"
effects = ["revoke", "isolate", "quarantine"]
[commander]
granted_by = ["ir"]
max_ttl = "2h"
effects = ["revoke", "isolate", "quarantine"]
[[guardrails.protected]]
provider = "aws"
kind = "user"
id = "prot-0001"
reason = "break-glass account"
[[guardrails.protected]]
provider = "aws"
kind = "access-key"
attributes = { user = "prot-0001" }
reason = "key of a break-glass account"
"#;

/// `cordon grant commander` for `incident`, to `principal`, by `granter`.
fn grant(
    ws: &Workspace,
    incident: &str,
    principal: &str,
    ttl: &str,
    granter: &str,
) -> cordon_e2e::cordon::Run {
    ws.cordon(&[
        "grant",
        "commander",
        "--incident",
        incident,
        "--principal",
        principal,
        "--ttl",
        ttl,
        "--as",
        granter,
    ])
}

fn model_with(guardrails: &str) -> String {
    format!("{MODEL}\n[guardrails]\n{guardrails}\n")
}

const RUN: &[&str] = cordon_e2e::cordon::RUN_JSON;

#[test]
fn a_protected_identity_stays_untouched_while_the_rest_is_contained() {
    let moto = Moto::start();
    let seeded = moto.seed("prot", 2, 1, 0);
    let mut ws = Workspace::new();
    ws.authority(MODEL);
    let ws = aws::workspace_in(ws, &moto.endpoint(), &seeded.operator, &[]);
    ws.write("signal.json", &aws::signal(&seeded.all_keys(), |_| true));

    // Incident response acts in every domain once a high-severity signal opened the incident.
    let run = ws.cordon(&[RUN, &["--as", "rita"]].concat());
    run.expect_code(3);
    let report = run.json();
    assert_eq!(report["status"], "partial");
    let deactivations = actions_of(&report, "deactivate");
    let guarded = deactivations
        .iter()
        .find(|a| a["target"]["attributes"]["user"] == "prot-0001")
        .unwrap();
    assert_eq!(guarded["status"], "denied");
    assert!(
        guarded["detail"]
            .as_str()
            .unwrap()
            .contains("key of a break-glass account"),
        "{guarded}"
    );
    let other = deactivations
        .iter()
        .find(|a| a["target"]["attributes"]["user"] == "prot-0000")
        .unwrap();
    assert_eq!(other["status"], "applied");
    assert!(
        other["decision"]["rule"]
            .as_str()
            .unwrap()
            .contains("incident response"),
        "{other}"
    );

    let state = moto.state(&seeded.operator);
    let statuses = key_statuses(&state);
    assert_eq!(
        statuses[&seeded.keys[1].1[0]], "Active",
        "the protected key is untouched"
    );
    assert!(
        user_policies(&state, "prot-0001").is_empty(),
        "the protected user is not fenced"
    );
    assert_eq!(statuses[&seeded.keys[0].1[0]], "Inactive");
    assert_eq!(user_policies(&state, "prot-0000"), ["CordonQuarantine"]);
}

fn token_signal(id: &str, severity: &str, tokens: usize) -> String {
    let identities: Vec<serde_json::Value> = (0..tokens)
        .map(|i| serde_json::json!({ "provider": "test", "kind": "token", "id": format!("T{i}") }))
        .collect();
    serde_json::json!({
        "id": id, "kind": "token.abused", "source": "test", "severity": severity,
        "observed_at": "2026-11-28T10:00:00Z", "incident": "INC-9", "identities": identities,
    })
    .to_string()
}

fn noop_workspace(model: &str) -> Workspace {
    let mut ws = Workspace::new();
    ws.authority(model);
    ws.write_config(&[PluginEntry::new("test", "misbehave")]);
    ws.write(
        "playbook.toml",
        "name = \"fence-tokens\"\nowner = \"nhi\"\n[[step]]\nid = \"fence\"\nplugin = \"test\"\naction = \"noop\"\nfor_each = { kind = \"token\" }\n",
    );
    ws
}

fn statuses(report: &serde_json::Value) -> Vec<String> {
    let mut all: Vec<String> = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap().to_string())
        .collect();
    all.sort();
    all
}

#[test]
fn a_blast_radius_cap_turns_the_excess_into_approvals_that_only_the_right_principals_give() {
    let ws = noop_workspace(&model_with("max_actions_per_run = 3"));
    ws.write("signal.json", &token_signal("sig-cap", "medium", 5));

    let run = ws.cordon(RUN);
    run.expect_code(4);
    let report = run.json();
    assert_eq!(report["status"], "awaiting-approval");
    assert_eq!(
        statuses(&report),
        [
            "applied",
            "applied",
            "applied",
            "awaiting-approval",
            "awaiting-approval"
        ]
    );
    let run_id = report["run_id"].as_str().unwrap().to_string();

    let pending = ws.cordon(&["approvals", "list", "--json"]).json();
    assert_eq!(pending.as_array().unwrap().len(), 2);
    assert_eq!(pending[0]["approvers"], serde_json::json!(["nhi", "ir"]));
    assert!(
        pending[0]["reason"]
            .as_str()
            .unwrap()
            .contains("blast-radius cap")
    );

    // A member of a team the decision does not name is refused, and nothing changes.
    let refused = ws.cordon(&["approve", &run_id, "--as", "ines"]);
    refused.expect_code(1);
    assert!(
        refused.stderr().contains("ines may not answer"),
        "{}",
        refused.stderr()
    );
    assert_eq!(
        ws.cordon(&["approvals", "list", "--json"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // One approval by an owner: that action runs, the run still waits.
    let first = pending[0]["action_id"].as_str().unwrap();
    let approved = ws.cordon(&[
        "approve",
        &run_id,
        "--action",
        &first[..10],
        "--as",
        "nadia",
        "--json",
    ]);
    approved.expect_code(4);
    assert_eq!(
        statuses(&approved.json()),
        [
            "applied",
            "applied",
            "applied",
            "applied",
            "awaiting-approval"
        ]
    );

    // Incident response rejects the other: the run ends.
    let rejected = ws.cordon(&[
        "reject",
        &run_id,
        "--as",
        "rita",
        "--reason",
        "false positive",
        "--json",
    ]);
    rejected.expect_code(3);
    let report = rejected.json();
    assert_eq!(report["status"], "partial");
    let denied: Vec<_> = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "denied")
        .collect();
    assert_eq!(denied.len(), 1);
    assert!(
        denied[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("rejected by rita: false positive"),
        "{}",
        denied[0]
    );

    let audit = ws
        .cordon(&["audit", "export", "--format", "jsonl"])
        .stdout();
    let kinds: Vec<String> = audit
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for kind in ["approval.refused", "approval.granted", "approval.rejected"] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "{kind} missing from {kinds:?}"
        );
    }
}

#[test]
fn a_commander_grant_gives_cross_domain_authority_until_it_is_revoked() {
    let ws = noop_workspace(MODEL);
    // Severity low: the incident is not open, so incident response alone has no rights.
    ws.write("signal.json", &token_signal("sig-1", "low", 2));
    let without = ws.cordon(&[RUN, &["--as", "carl"]].concat());
    without.expect_code(4);
    assert!(
        without.json()["actions"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("carl has no pre-assigned right")
    );

    // Only a member of a granting team may grant.
    let refused = grant(&ws, "INC-9", "carl", "1h", "nadia");
    refused.expect_code(1);
    assert!(
        refused.stderr().contains("nadia may not grant"),
        "{}",
        refused.stderr()
    );
    let too_long = grant(&ws, "INC-9", "carl", "9h", "rita");
    too_long.expect_code(2);

    let granted = grant(&ws, "INC-9", "carl", "1h", "rita");
    granted.expect_code(0);
    let grant_id = granted.stdout().split(':').next().unwrap().to_string();

    ws.write("signal.json", &token_signal("sig-2", "low", 2));
    let with = ws.cordon(&[RUN, &["--as", "carl"]].concat());
    with.expect_code(0);
    let rule = with.json()["actions"][0]["decision"]["rule"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        rule.contains(&format!("incident commander grant {grant_id} from rita")),
        "{rule}"
    );

    ws.cordon(&["grant", "revoke", &grant_id, "--as", "rita"])
        .expect_code(0);
    ws.write("signal.json", &token_signal("sig-3", "low", 2));
    let revoked = ws.cordon(&[RUN, &["--as", "carl"]].concat());
    revoked.expect_code(4);
    let detail = revoked.json()["actions"][0]["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.contains(&format!("commander grant {grant_id} was revoked")),
        "{detail}"
    );
}

#[test]
fn restore_is_kept_by_the_owning_teams_and_refused_to_the_commander() {
    let moto = Moto::start();
    let seeded = moto.seed("undo", 1, 1, 0);
    let (user, key) = (&seeded.keys[0].0, &seeded.keys[0].1[0]);
    let mut ws = Workspace::new();
    ws.authority(MODEL);
    let ws = aws::workspace_in(ws, &moto.endpoint(), &seeded.operator, &[]);
    ws.write("signal.json", &aws::signal(&seeded.all_keys(), |_| true));
    let run = ws.cordon(&[RUN, &["--as", "rita"]].concat());
    run.expect_code(0);
    let run_id = run.json()["run_id"].as_str().unwrap().to_string();
    grant(&ws, "INC-42", "carl", "1h", "rita").expect_code(0);

    let by_commander = ws.cordon(&["restore", &run_id, "--as", "carl", "--json"]);
    by_commander.expect_code(3);
    for action in by_commander.json()["actions"].as_array().unwrap() {
        assert_eq!(action["status"], "denied");
        assert!(
            action["detail"]
                .as_str()
                .unwrap()
                .contains("reserved to the owning team"),
            "{action}"
        );
    }
    let state = moto.state(&seeded.operator);
    assert_eq!(key_statuses(&state)[key], "Inactive");
    assert_eq!(user_policies(&state, user), ["CordonQuarantine"]);

    // The NHI team owns the key; the IAM team owns the user.
    let by_nhi = ws.cordon(&["restore", &run_id, "--as", "nadia", "--json"]);
    by_nhi.expect_code(3);
    let state = moto.state(&seeded.operator);
    assert_eq!(key_statuses(&state)[key], "Active");
    assert_eq!(user_policies(&state, user), ["CordonQuarantine"]);

    let by_iam = ws.cordon(&[
        "restore",
        &run_id,
        "--step",
        "fence-user",
        "--as",
        "ines",
        "--json",
    ]);
    by_iam.expect_code(0);
    assert_eq!(by_iam.json()["actions"][0]["action"], "release-user");
    assert!(user_policies(&moto.state(&seeded.operator), user).is_empty());

    // Restoring again is idempotent: the provider is already in that state.
    let again = ws.cordon(&[
        "restore",
        &run_id,
        "--step",
        "fence-user",
        "--as",
        "ines",
        "--json",
    ]);
    again.expect_code(0);
    assert_eq!(again.json()["actions"][0]["status"], "already-applied");

    // The review names what was restored, by whom, and offers it no more.
    let report = ws.cordon(&["report", "INC-42", "--format", "json"]);
    report.expect_code(0);
    let report = report.json();
    let restored: Vec<(&str, &str)> = report["restored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["action"]["action"].as_str().unwrap(),
                r["restored_by"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        restored.contains(&("deactivate-access-key", "nadia"))
            && restored.contains(&("quarantine-user", "ines")),
        "{report}"
    );
    assert!(
        report["restorable"].as_array().unwrap().is_empty(),
        "{report}"
    );
    let md = ws.cordon(&["report", "INC-42", "--format", "md"]).stdout();
    let section = &md[md.find("## Restored").expect("a Restored section")..];
    let section = &section[..section[3..].find("## ").map_or(section.len(), |i| i + 3)];
    assert!(
        section.contains("quarantine-user") && !section.contains("Nothing was restored"),
        "{section}"
    );
}

#[test]
fn audit_tampering_is_detected_and_names_the_first_broken_record() {
    let ws = noop_workspace(MODEL);
    ws.write("signal.json", &token_signal("sig-a", "high", 3));
    ws.cordon(RUN).expect_code(0);
    let intact = ws.cordon(&["audit", "verify"]);
    intact.expect_code(0);
    assert!(
        intact.stdout().contains("audit log intact"),
        "{}",
        intact.stdout()
    );

    let pristine = tempfile::tempdir().unwrap();
    copy_dir(&ws.store_dir(), pristine.path());
    let tamper = |edit: &dyn Fn(&sled::Tree)| -> String {
        let _ = std::fs::remove_dir_all(ws.store_dir());
        copy_dir(pristine.path(), &ws.store_dir());
        {
            let db = sled::open(ws.store_dir()).unwrap();
            edit(&db.open_tree("audit").unwrap());
            db.flush().unwrap();
        }
        let verify = ws.cordon(&["audit", "verify"]);
        verify.expect_code(1);
        verify.stderr()
    };
    let key = |n: u64| n.to_be_bytes();

    let altered = tamper(&|tree| {
        let mut record: serde_json::Value =
            serde_json::from_slice(&tree.get(key(3)).unwrap().unwrap()).unwrap();
        record["principal"] = serde_json::json!("someone-else");
        tree.insert(key(3), serde_json::to_vec(&record).unwrap())
            .unwrap();
    });
    assert!(
        altered.contains("broken at record 3: record 3 was altered"),
        "{altered}"
    );

    let deleted = tamper(&|tree| {
        tree.remove(key(4)).unwrap();
    });
    assert!(deleted.contains("record 4 is missing"), "{deleted}");

    let reordered = tamper(&|tree| {
        let (two, five) = (
            tree.get(key(2)).unwrap().unwrap(),
            tree.get(key(5)).unwrap().unwrap(),
        );
        tree.insert(key(2), five).unwrap();
        tree.insert(key(5), two).unwrap();
    });
    assert!(reordered.contains("broken at record 2"), "{reordered}");

    let truncated = tamper(&|tree| {
        let (last, _) = tree.last().unwrap().unwrap();
        tree.remove(last).unwrap();
    });
    assert!(truncated.contains("deleted from the end"), "{truncated}");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn when_the_audit_log_cannot_be_written_the_action_does_not_run() {
    let moto = Moto::start();
    let seeded = moto.seed("closed", 1, 1, 0);
    let proxy = Proxy::start(moto.port);
    let mut ws = aws::workspace(&proxy.endpoint(), &seeded.operator, &[]);
    ws.write("signal.json", &aws::signal(&seeded.all_keys(), |_| true));
    // Records: 1 run.started, 2 decision, 3 the intent of the first call.
    ws.env("CORDON_FAILPOINT_AUDIT", "3");
    let run = ws.cordon(RUN);
    run.expect_code(1);
    assert!(
        run.stderr()
            .contains("the audit log cannot be written, so nothing was executed"),
        "{}",
        run.stderr()
    );
    assert!(
        proxy.seen().is_empty(),
        "the plugin was called: {:?}",
        proxy.seen()
    );
    assert_eq!(
        key_statuses(&moto.state(&seeded.operator))[&seeded.all_keys()[0].1],
        "Active"
    );

    // With a writable log, the run resumes and completes.
    let mut ws = ws;
    ws.env("CORDON_FAILPOINT_AUDIT", "0");
    ws.cordon(&["resume", "--json"]).expect_code(0);
    assert_eq!(
        key_statuses(&moto.state(&seeded.operator))[&seeded.all_keys()[0].1],
        "Inactive"
    );
    ws.cordon(&["audit", "verify"]).expect_code(0);
}

#[test]
fn the_incident_report_maps_identities_to_owner_workload_and_issuer() {
    let moto = Moto::start();
    let seeded = moto.seed("rep", 2, 1, 0);
    let keys = seeded.all_keys();
    let mut ws = Workspace::new();
    ws.authority(MODEL);
    ws.inventory(&format!(
        "[[identity]]\nprovider = \"aws\"\nkind = \"access-key\"\nid = \"{}\"\nowner = \"payments-team\"\n\n\
         [[identity]]\nprovider = \"aws\"\nkind = \"user\"\nid = \"rep-0001\"\nused_by = \"both\"\n",
        keys[0].1
    ));
    let ws = aws::workspace_in(ws, &moto.endpoint(), &seeded.operator, &[]);
    ws.write("signal.json", &aws::signal(&keys, |_| true));
    let run = ws.cordon(&[RUN, &["--as", "rita"]].concat());
    // The fence of rep-0001, used by humans and agents, waits for its owners.
    run.expect_code(4);

    let report = ws.cordon(&["report", "INC-42", "--format", "json"]);
    report.expect_code(0);
    let report = report.json();
    assert_eq!(report["opened"]["by_signal"], "sig-aws-1");
    let identities = report["identities"].as_array().unwrap();
    assert_eq!(identities.len(), 2);
    let first = identities
        .iter()
        .find(|i| i["identity"]["id"] == keys[0].1.as_str())
        .unwrap();
    assert_eq!(
        first["owner"], "payments-team",
        "the inventory wins: {first}"
    );
    assert_eq!(
        first["workload"], "svc-0",
        "the plugin fills the rest: {first}"
    );
    assert_eq!(first["issuer"], "aws-iam:123456789012");
    assert_eq!(first["status"], "contained");
    assert!(first["time_to_contain_ms"].as_i64().is_some());
    let second = identities
        .iter()
        .find(|i| i["identity"]["id"] == keys[1].1.as_str())
        .unwrap();
    assert_eq!(second["owner"], "team-1");
    assert_eq!(second["status"], "pending approval");
    assert_eq!(
        report["pending_approvals"][0]["approvers"],
        serde_json::json!(["iam"])
    );
    let restorable: Vec<&str> = report["restorable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["restore_with"].as_str().unwrap())
        .collect();
    assert!(
        restorable.contains(&"reactivate-access-key") && restorable.contains(&"release-user"),
        "{restorable:?}"
    );
    assert!(
        report["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["kind"] == "incident.opened")
    );

    let html = ws.path().join("report.html");
    ws.cordon(&[
        "report",
        "INC-42",
        "--format",
        "html",
        "--output",
        html.to_str().unwrap(),
    ])
    .expect_code(0);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.starts_with("<!doctype html>")
            && page.contains("payments-team")
            && page.contains("pending approval")
    );
    assert!(
        !page.contains("<link") && !page.contains("<script"),
        "one self-contained file"
    );
    let md = ws.cordon(&["report", "INC-42", "--format", "md"]).stdout();
    assert!(
        md.contains("## Abused identities") && md.contains("payments-team"),
        "{md}"
    );
}
