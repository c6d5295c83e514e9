//! Playbooks and signals built for a test.

use super::FakePlugins;
use cordon_input::{Playbook, Signal, SourceFile};

/// Parses a playbook and checks it against `fake`.
pub fn playbook(fake: &FakePlugins, text: &str) -> Playbook {
    let playbook = Playbook::parse(SourceFile::from_text("test.toml", text))
        .unwrap_or_else(|e| panic!("playbook does not parse: {e:?}"));
    playbook
        .check(fake)
        .unwrap_or_else(|e| panic!("playbook does not check: {e:?}"));
    playbook
}

/// A signal identity as JSON.
pub fn ident(
    provider: &str,
    kind: &str,
    id: &str,
    attributes: &[(&str, &str)],
) -> serde_json::Value {
    let attributes: serde_json::Map<String, serde_json::Value> = attributes
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect();
    serde_json::json!({ "provider": provider, "kind": kind, "id": id, "attributes": attributes })
}

/// An AWS access key of `user`.
pub fn key(id: &str, user: &str) -> serde_json::Value {
    ident("aws", "access-key", id, &[("user", user)])
}

/// A signal with these identities (and an incident, if given); and its JSON.
pub fn signal(incident: Option<&str>, identities: Vec<serde_json::Value>) -> (Signal, String) {
    let mut json = serde_json::json!({
        "id": "sig-test", "kind": "credential.exposed", "source": "test",
        "severity": "high", "observed_at": "2026-11-28T10:00:00Z",
        "identities": identities,
    });
    if let Some(incident) = incident {
        json["incident"] = incident.into();
    }
    let text = serde_json::to_string_pretty(&json).expect("json");
    let signal = Signal::parse(&SourceFile::from_text("signal.json", text.clone()))
        .unwrap_or_else(|e| panic!("signal does not parse: {e:?}"));
    (signal, text)
}

/// The signal most tests use: keys AK1 (of user `a`) and AK2 (of `b`).
pub fn two_keys() -> (Signal, String) {
    signal(None, vec![key("AK1", "a"), key("AK2", "b")])
}
