//! The decision table: every combination of principal (team) × domain ×
//! effect × incident state × commander grant × guardrail, checked against the
//! rules of the containment-authority model written as a first-match table.

use crate::decide::{GrantState, IncidentState, Situation, UsedBy, decide};
use crate::model::AuthorityModel;
use cordon_input::diagnostic::SourceFile;
use cordon_types::{Decision, Effect, Identity, IdentityKind};

const MODEL: &str = r#"
[teams.iam]
members = ["ines"]
domains = ["iam"]
immediate = ["isolate", "quarantine"]
[teams.pam]
members = ["paula"]
domains = ["pam"]
immediate = ["isolate", "quarantine", "rotate"]
[teams.nhi]
members = ["nadia"]
domains = ["nhi"]
immediate = ["revoke", "quarantine", "rotate"]
[teams.ir]
members = ["rita"]
[incident_response]
team = "ir"
min_severity = "high"
effects = ["revoke", "isolate", "quarantine"]
[commander]
granted_by = ["ir"]
max_ttl = "8h"
effects = ["revoke", "isolate", "quarantine", "rotate"]
[guardrails]
max_actions_per_run = 10
max_actions_per_domain_per_minute = { iam = 5, pam = 5, nhi = 5 }
[[guardrails.protected]]
provider = "aws"
id = "break-glass-*"
reason = "break-glass account"
[[guardrails.protected]]
provider = "cyberark"
id = "bg-*"
"#;

fn model() -> AuthorityModel {
    AuthorityModel::parse(&SourceFile::from_text("authority.toml", MODEL)).unwrap()
}

const PRINCIPALS: [&str; 6] = [
    "ines",
    "paula",
    "nadia",
    "automation:nhi",
    "rita",
    "mallory",
];
const DOMAINS: [&str; 3] = ["iam", "pam", "nhi"];
const EFFECTS: [Effect; 6] = [
    Effect::Revoke,
    Effect::Isolate,
    Effect::Quarantine,
    Effect::Rotate,
    Effect::Restore,
    Effect::Read,
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Grant {
    None,
    Active,
    Expired,
    Revoked,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Guardrail {
    None,
    Protected,
    SharedIdentity,
    RunCap,
    DomainRate,
}

#[derive(Debug, PartialEq)]
enum Expect {
    Allow,
    Approve(Vec<&'static str>),
    Deny,
}

fn target(domain: &str, protected: bool) -> Identity {
    let (provider, kind, id, guarded) = match domain {
        "iam" => ("aws", IdentityKind::User, "alice", "break-glass-1"),
        "pam" => (
            "cyberark",
            IdentityKind::Account,
            "root@db01",
            "bg-vault-admin",
        ),
        _ => ("aws", IdentityKind::AccessKey, "AKIA1", "break-glass-key"),
    };
    Identity {
        provider: provider.into(),
        kind,
        id: if protected { guarded } else { id }.into(),
        attributes: Default::default(),
    }
}

/// The model's rules, written as a first-match table over simple facts.
fn expected(
    principal: &str,
    domain: &str,
    effect: Effect,
    open: bool,
    grant: Grant,
    guard: Guardrail,
) -> Expect {
    let owner = matches!(
        (principal, domain),
        ("ines", "iam") | ("paula", "pam") | ("nadia" | "automation:nhi", "nhi")
    );
    let immediate = match domain {
        "iam" => [Effect::Isolate, Effect::Quarantine].contains(&effect),
        "pam" => [Effect::Isolate, Effect::Quarantine, Effect::Rotate].contains(&effect),
        _ => [Effect::Revoke, Effect::Quarantine, Effect::Rotate].contains(&effect),
    };
    let incident_response = principal == "rita"
        && open
        && [Effect::Revoke, Effect::Isolate, Effect::Quarantine].contains(&effect);
    let commander = grant == Grant::Active
        && [
            Effect::Revoke,
            Effect::Isolate,
            Effect::Quarantine,
            Effect::Rotate,
        ]
        .contains(&effect);
    let in_a_team = principal != "mallory";
    let owners = vec![domain_owner(domain)];
    let owners_and_ir = vec![domain_owner(domain), "ir"];
    let right = (owner && immediate) || incident_response || commander;
    let human_owner = owner && !principal.starts_with("automation:");

    match () {
        _ if guard == Guardrail::Protected => Expect::Deny,
        _ if effect == Effect::Read => Expect::Allow,
        _ if effect == Effect::Restore && owner => Expect::Allow,
        _ if effect == Effect::Restore => Expect::Deny,
        _ if !right && !in_a_team => Expect::Deny,
        _ if !right => Expect::Approve(owners),
        _ if guard == Guardrail::SharedIdentity && !human_owner => Expect::Approve(owners),
        _ if guard == Guardrail::RunCap || guard == Guardrail::DomainRate => {
            Expect::Approve(owners_and_ir)
        }
        _ => Expect::Allow,
    }
}

fn domain_owner(domain: &str) -> &'static str {
    match domain {
        "iam" => "iam",
        "pam" => "pam",
        _ => "nhi",
    }
}

#[test]
fn every_combination_decides_as_the_model_says() {
    let model = model();
    let mut checked = 0;
    for principal in PRINCIPALS {
        for domain in DOMAINS {
            for effect in EFFECTS {
                for open in [false, true] {
                    for grant in [Grant::None, Grant::Active, Grant::Expired, Grant::Revoked] {
                        for guard in [
                            Guardrail::None,
                            Guardrail::Protected,
                            Guardrail::SharedIdentity,
                            Guardrail::RunCap,
                            Guardrail::DomainRate,
                        ] {
                            let target = target(domain, guard == Guardrail::Protected);
                            let situation = Situation {
                                principal,
                                effect,
                                target: &target,
                                domain,
                                incident: if open {
                                    IncidentState::Open { id: "INC-1".into() }
                                } else {
                                    IncidentState::NotOpen
                                },
                                grant: match grant {
                                    Grant::None => GrantState::None,
                                    Grant::Active => GrantState::Active {
                                        id: "grant-1".into(),
                                        granted_by: "rita".into(),
                                        until: "2026-11-29T12:00:00Z".into(),
                                    },
                                    Grant::Expired => GrantState::Expired {
                                        id: "grant-1".into(),
                                    },
                                    Grant::Revoked => GrantState::Revoked {
                                        id: "grant-1".into(),
                                    },
                                },
                                used_by: (guard == Guardrail::SharedIdentity)
                                    .then_some(UsedBy::Both),
                                run_allowed: if guard == Guardrail::RunCap { 10 } else { 3 },
                                domain_last_minute: if guard == Guardrail::DomainRate {
                                    5
                                } else {
                                    1
                                },
                            };
                            let decision = decide(&model, &situation);
                            let want = expected(principal, domain, effect, open, grant, guard);
                            let got = match &decision {
                                Decision::Allowed { .. } => Expect::Allow,
                                Decision::Denied { .. } => Expect::Deny,
                                Decision::NeedsApproval { approvers, .. } => Expect::Approve(
                                    approvers
                                        .iter()
                                        .map(|a| match a.as_str() {
                                            "iam" => "iam",
                                            "pam" => "pam",
                                            "nhi" => "nhi",
                                            "ir" => "ir",
                                            other => panic!("unexpected approver {other}"),
                                        })
                                        .collect(),
                                ),
                            };
                            assert_eq!(
                                got, want,
                                "{principal} {effect} on {domain} (incident open: {open}, grant: {grant:?}, \
                                 guardrail: {guard:?}) decided {decision:?}"
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 6 * 3 * 6 * 2 * 4 * 5);
}

fn situation<'a>(
    principal: &'a str,
    effect: Effect,
    target: &'a Identity,
    domain: &'a str,
) -> Situation<'a> {
    Situation {
        principal,
        effect,
        target,
        domain,
        incident: IncidentState::NotOpen,
        grant: GrantState::None,
        used_by: None,
        run_allowed: 0,
        domain_last_minute: 0,
    }
}

#[test]
fn the_reasons_name_the_rule() {
    let model = model();
    let key = target("nhi", false);
    match decide(
        &model,
        &situation("automation:nhi", Effect::Revoke, &key, "nhi"),
    ) {
        Decision::Allowed { rule } => {
            assert_eq!(rule, "team nhi owns the nhi domain and may revoke at once")
        }
        other => panic!("{other:?}"),
    }
    let user = target("iam", false);
    let mut s = situation("rita", Effect::Revoke, &user, "iam");
    s.incident = IncidentState::Open { id: "INC-7".into() };
    match decide(&model, &s) {
        Decision::Allowed { rule } => {
            assert!(rule.contains("while incident INC-7 is open"), "{rule}")
        }
        other => panic!("{other:?}"),
    }
    let mut s = situation("nadia", Effect::Isolate, &user, "iam");
    s.grant = GrantState::Expired {
        id: "grant-9".into(),
    };
    match decide(&model, &s) {
        Decision::NeedsApproval { approvers, reason } => {
            assert_eq!(approvers, ["iam"]);
            assert!(
                reason.contains("commander grant grant-9 has expired"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    let mut s = situation("rita", Effect::Restore, &user, "iam");
    s.grant = GrantState::Active {
        id: "g".into(),
        granted_by: "rita".into(),
        until: "later".into(),
    };
    match decide(&model, &s) {
        Decision::Denied { reason } => assert!(
            reason.contains("reserved to the owning team (iam)"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
    let glass = target("iam", true);
    match decide(
        &model,
        &situation("ines", Effect::Quarantine, &glass, "iam"),
    ) {
        Decision::Denied { reason } => assert!(reason.contains("break-glass account"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_shipped_model_parses_and_protects_break_glass_accounts() {
    let shipped = AuthorityModel::parse(&SourceFile::from_text(
        "authority.toml",
        include_str!("../../../authority.toml"),
    ))
    .unwrap();
    assert_eq!(shipped.teams.len(), 4);
    let key = Identity {
        provider: "aws".into(),
        kind: IdentityKind::AccessKey,
        id: "AKIAEXAMPLE".into(),
        attributes: [("user".to_string(), "break-glass-admin".to_string())].into(),
    };
    let s = Situation {
        principal: "rita@acme.example",
        effect: Effect::Revoke,
        target: &key,
        domain: "nhi",
        incident: IncidentState::Open {
            id: "INC-42".into(),
        },
        grant: GrantState::None,
        used_by: None,
        run_allowed: 0,
        domain_last_minute: 0,
    };
    assert!(matches!(decide(&shipped, &s), Decision::Denied { .. }));
}

#[test]
fn the_directory_adds_members_the_identity_provider_vouches_for_and_takes_them_away() {
    let model = model();
    let key = target("nhi", false);
    let restore =
        |model: &AuthorityModel| decide(model, &situation("olga", Effect::Restore, &key, "nhi"));
    assert!(matches!(restore(&model), Decision::Denied { .. }));
    // Clones share the directory, as the engine's and the service's do.
    let shared = model.clone();
    model.directory.set("olga", vec!["nhi".into()]);
    match restore(&shared) {
        Decision::Allowed { rule } => assert!(rule.contains("team nhi"), "{rule}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        shared
            .teams_of("olga")
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["nhi"]
    );
    model.directory.set("olga", Vec::new());
    assert!(matches!(restore(&shared), Decision::Denied { .. }));
}
