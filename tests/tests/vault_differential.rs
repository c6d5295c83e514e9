//! Keeps the Vault simulator honest: the same requests go to the simulator
//! and to a real OpenBao server, and their status codes and error shapes
//! (the `errors` texts, the warnings, whether there is a body) must match.
//!
//! Each side is seeded with the same organisation; ids differ (each server
//! chooses its own), so a case names them through [`Ids`].

use cordon_e2e::bao::{BAO_ROOT_TOKEN, Bao};
use cordon_e2e::sims::{self, VAULT_ROOT_TOKEN};
use cordon_sim::vault::{SecretIdSpec, TokenSpec};
use serde_json::{Value, json};

/// The ids one side's seeded organisation has.
struct Ids {
    root: String,
    agent_secret_id: String,
    deployer_secret_id: String,
    live_token: String,
    entity: String,
}

/// One request, built from a side's ids.
struct Case {
    name: &'static str,
    method: &'static str,
    path: fn(&Ids) -> String,
    body: fn(&Ids) -> Option<Value>,
}

const UNKNOWN_UUID: &str = "00000000-0000-0000-0000-000000000000";

fn accessor_body(accessor: &str) -> Option<Value> {
    Some(json!({ "secret_id_accessor": accessor }))
}

/// The cases, in order: later ones see what earlier ones changed (the live
/// token is revoked, then revoked again; the agent's secret-id destroyed,
/// then destroyed again).
fn cases() -> Vec<Case> {
    let lookup = |_: &Ids| "auth/approle/role/agent-7/secret-id-accessor/lookup".to_string();
    let destroy = |_: &Ids| "auth/approle/role/agent-7/secret-id-accessor/destroy".to_string();
    vec![
        Case {
            name: "token lookup of an unknown accessor",
            method: "POST",
            path: |_| "auth/token/lookup-accessor".into(),
            body: |_| Some(json!({ "accessor": "NoSuchAccessor000000000" })),
        },
        Case {
            name: "token lookup without an accessor",
            method: "POST",
            path: |_| "auth/token/lookup-accessor".into(),
            body: |_| Some(json!({})),
        },
        Case {
            name: "revoking a live token by accessor",
            method: "POST",
            path: |_| "auth/token/revoke-accessor".into(),
            body: |ids| Some(json!({ "accessor": ids.live_token })),
        },
        Case {
            name: "revoking it again",
            method: "POST",
            path: |_| "auth/token/revoke-accessor".into(),
            body: |ids| Some(json!({ "accessor": ids.live_token })),
        },
        Case {
            name: "revoking an unknown accessor",
            method: "POST",
            path: |_| "auth/token/revoke-accessor".into(),
            body: |_| Some(json!({ "accessor": "NoSuchAccessor000000000" })),
        },
        Case {
            name: "lease lookup of an unknown lease",
            method: "POST",
            path: |_| "sys/leases/lookup".into(),
            body: |_| Some(json!({ "lease_id": "pki/issue/nobody/abc" })),
        },
        Case {
            name: "revoking an unknown lease",
            method: "POST",
            path: |_| "sys/leases/revoke".into(),
            body: |_| Some(json!({ "lease_id": "pki/issue/nobody/abc", "sync": true })),
        },
        Case {
            name: "revoke-prefix with a trailing slash",
            method: "POST",
            path: |_| "sys/leases/revoke-prefix/pki/issue/nobody/".into(),
            body: |_| Some(json!({ "sync": true })),
        },
        Case {
            name: "revoke-prefix without one",
            method: "POST",
            path: |_| "sys/leases/revoke-prefix/pki/issue/nobody".into(),
            body: |_| Some(json!({ "sync": true })),
        },
        Case {
            name: "secret-id lookup of the role's own accessor",
            method: "POST",
            path: lookup,
            body: |ids| accessor_body(&ids.agent_secret_id),
        },
        Case {
            name: "secret-id lookup of another role's accessor",
            method: "POST",
            path: lookup,
            body: |ids| accessor_body(&ids.deployer_secret_id),
        },
        Case {
            name: "secret-id lookup of an unknown accessor",
            method: "POST",
            path: lookup,
            body: |_| accessor_body(UNKNOWN_UUID),
        },
        Case {
            name: "secret-id lookup on an unknown role",
            method: "POST",
            path: |_| "auth/approle/role/no-such-role/secret-id-accessor/lookup".into(),
            body: |ids| accessor_body(&ids.agent_secret_id),
        },
        Case {
            name: "secret-id lookup on an unknown mount",
            method: "POST",
            path: |_| "auth/no-such-mount/role/agent-7/secret-id-accessor/lookup".into(),
            body: |ids| accessor_body(&ids.agent_secret_id),
        },
        Case {
            name: "destroying another role's secret-id",
            method: "POST",
            path: destroy,
            body: |ids| accessor_body(&ids.deployer_secret_id),
        },
        Case {
            name: "destroying an unknown secret-id",
            method: "POST",
            path: destroy,
            body: |_| accessor_body(UNKNOWN_UUID),
        },
        Case {
            name: "destroying the role's own secret-id",
            method: "POST",
            path: destroy,
            body: |ids| accessor_body(&ids.agent_secret_id),
        },
        Case {
            name: "destroying it again",
            method: "POST",
            path: destroy,
            body: |ids| accessor_body(&ids.agent_secret_id),
        },
        Case {
            name: "its lookup after the destroy",
            method: "POST",
            path: lookup,
            body: |ids| accessor_body(&ids.agent_secret_id),
        },
        Case {
            name: "reading an unknown entity",
            method: "GET",
            path: |_| format!("identity/entity/id/{UNKNOWN_UUID}"),
            body: |_| None,
        },
        Case {
            name: "updating an unknown entity",
            method: "POST",
            path: |_| format!("identity/entity/id/{UNKNOWN_UUID}"),
            body: |_| Some(json!({ "disabled": true })),
        },
        Case {
            name: "disabling a known entity",
            method: "POST",
            path: |ids| format!("identity/entity/id/{}", ids.entity),
            body: |_| Some(json!({ "disabled": true })),
        },
    ]
}

/// What must match: the status, the `errors` texts, the warnings, whether
/// `data` is there and its `error` (its other content differs: ids, times),
/// or that there is no body. Each side's ids are replaced by their names.
fn shape(ids: &Ids, status: u16, body: &Value) -> Value {
    let body = match body {
        Value::Null => json!("no body"),
        Value::Object(map) if map.contains_key("errors") => json!({ "errors": map["errors"] }),
        Value::Object(map) => json!({
            "warnings": map.get("warnings").cloned().unwrap_or(Value::Null),
            "data": map.get("data").map(|d| !d.is_null()),
            "data.error": map.get("data").and_then(|d| d.get("error")).cloned(),
        }),
        other => json!({ "not JSON": other }),
    };
    let mut text = body.to_string();
    for (id, name) in [
        (&ids.agent_secret_id, "<agent secret-id>"),
        (&ids.deployer_secret_id, "<deployer secret-id>"),
        (&ids.live_token, "<live token>"),
        (&ids.entity, "<entity>"),
    ] {
        text = text.replace(id.as_str(), name);
    }
    json!({ "status": status, "body": serde_json::from_str::<Value>(&text).unwrap() })
}

#[test]
fn the_simulator_answers_like_openbao() {
    let bao = Bao::start();
    let real = bao.seed_demo();
    let (_, live) = bao.call(
        BAO_ROOT_TOKEN,
        "POST",
        "auth/token/create",
        Some(json!({ "policies": ["default"] })),
    );
    let bao_ids = Ids {
        root: BAO_ROOT_TOKEN.into(),
        agent_secret_id: real.agent_secret_id_accessor.clone(),
        deployer_secret_id: real.deployer_secret_id_accessor.clone(),
        live_token: live["auth"]["accessor"].as_str().unwrap().into(),
        entity: real.agent_entity_id.clone(),
    };

    let (sim, demo) = sims::vault();
    let deployer = sim.state.seed_secret_id(SecretIdSpec {
        mount: "approle".into(),
        role: "ci-deployer".into(),
        accessor: None,
        metadata: Default::default(),
    });
    let sim_ids = Ids {
        root: VAULT_ROOT_TOKEN.into(),
        agent_secret_id: demo.agent_secret_id_accessor.clone(),
        deployer_secret_id: deployer,
        live_token: sim
            .state
            .seed_token(TokenSpec::new("token").policies(&["default"])),
        entity: demo.agent_entity_id.clone(),
    };
    let client = reqwest::blocking::Client::new();
    let send = |base: &str, ids: &Ids, case: &Case| {
        let method = reqwest::Method::from_bytes(case.method.as_bytes()).unwrap();
        let mut request = client
            .request(method, format!("{base}/v1/{}", (case.path)(ids)))
            .header("X-Vault-Token", &ids.root);
        if let Some(body) = (case.body)(ids) {
            request = request.json(&body);
        }
        let answer = request.send().expect("an answer");
        let status = answer.status().as_u16();
        let text = answer.text().unwrap_or_default();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        shape(ids, status, &body)
    };

    let mut differences = Vec::new();
    for case in cases() {
        let real = send(&bao.url, &bao_ids, &case);
        let simulated = send(&sim.url, &sim_ids, &case);
        if real != simulated {
            differences.push(format!(
                "{}:\n  OpenBao:   {real}\n  simulator: {simulated}",
                case.name
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "the simulator differs from OpenBao in {} of {} cases:\n{}",
        differences.len(),
        cases().len(),
        differences.join("\n")
    );
}
