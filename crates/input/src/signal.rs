//! Detection signals: the events that start playbooks.
//!
//! A signal arrives as JSON (a file for the CLI). It names what was detected,
//! how severe it is and the identities involved. Parsing rejects anything
//! malformed with the field, line and column at fault.

use crate::diagnostic::{self, InputErrors, SourceFile};
pub use cordon_types::Severity;
use cordon_types::{Identity, IdentityKind};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// A detection event (signal format v1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signal {
    /// The detector's id for this event.
    #[serde(deserialize_with = "non_empty")]
    pub id: String,
    /// What was detected, e.g. `credential.exposed`.
    #[serde(deserialize_with = "non_empty")]
    pub kind: String,
    /// Which detector sent it, e.g. `aws.health`.
    #[serde(deserialize_with = "non_empty")]
    pub source: String,
    /// How severe the detector judges the event.
    pub severity: Severity,
    /// When the abuse was observed (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub observed_at: time::OffsetDateTime,
    /// The incident this signal belongs to, if one is open.
    #[serde(default)]
    pub incident: Option<String>,
    /// The identities involved; at least one.
    #[serde(deserialize_with = "identities")]
    pub identities: Vec<Identity>,
    /// Detector-specific details, kept as they came.
    #[serde(default = "empty_object")]
    pub details: serde_json::Value,
}

impl Signal {
    /// Reads and validates a signal file.
    pub fn load(path: &Path) -> Result<Signal, InputErrors> {
        Signal::parse(&SourceFile::read(path)?)
    }

    /// Parses and validates signal JSON.
    pub fn parse(source: &SourceFile) -> Result<Signal, InputErrors> {
        diagnostic::from_json(source)
    }
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

fn non_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let value = String::deserialize(deserializer)?;
    if value.trim().is_empty() {
        return Err(serde::de::Error::custom("must not be empty"));
    }
    Ok(value)
}

/// An identity as written in a signal: `attributes` is a JSON object of strings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalIdentity {
    #[serde(deserialize_with = "non_empty")]
    provider: String,
    kind: IdentityKind,
    #[serde(deserialize_with = "non_empty")]
    id: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

fn identities<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Identity>, D::Error> {
    let listed = Vec::<SignalIdentity>::deserialize(deserializer)?;
    if listed.is_empty() {
        return Err(serde::de::Error::custom(
            "a signal must name at least one identity",
        ));
    }
    Ok(listed
        .into_iter()
        .map(|i| Identity {
            provider: i.provider,
            kind: i.kind,
            id: i.id,
            attributes: i.attributes,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Signal, InputErrors> {
        Signal::parse(&SourceFile::from_text("signal.json", text))
    }

    const GOOD: &str = r#"{ "id": "sig-1", "kind": "credential.exposed", "source": "aws.health",
  "severity": "high", "observed_at": "2026-11-28T10:00:00Z", "incident": "INC-42",
  "identities": [ { "provider": "aws", "kind": "access-key", "id": "AKIA1",
                    "attributes": { "user": "ci-bot" } } ] }"#;

    #[test]
    fn parses_a_v1_signal() {
        let signal = parse(GOOD).unwrap();
        assert_eq!(signal.severity, Severity::High);
        assert_eq!(signal.identities[0].kind, IdentityKind::AccessKey);
        assert_eq!(signal.identities[0].attributes["user"], "ci-bot");
        assert!(signal.details.is_object());
    }

    #[test]
    fn unknown_identity_kind_names_the_field() {
        let err = parse(&GOOD.replace("access-key", "acess-key")).unwrap_err();
        let err = &err.0[0];
        assert_eq!(err.field, "identities[0].kind");
        assert_eq!(err.line, 3);
        assert!(err.message.contains("unknown variant"), "{}", err.message);
    }

    #[test]
    fn rejects_empty_ids_bad_times_and_no_identities() {
        assert_eq!(
            parse(&GOOD.replace("\"AKIA1\"", "\"\"")).unwrap_err().0[0].field,
            "identities[0].id"
        );
        assert_eq!(
            parse(&GOOD.replace("2026-11-28T10:00:00Z", "yesterday"))
                .unwrap_err()
                .0[0]
                .field,
            "observed_at"
        );
        let none = r#"{"id":"s","kind":"k","source":"x","severity":"low","observed_at":"2026-11-28T10:00:00Z","identities":[]}"#;
        assert!(
            parse(none).unwrap_err().0[0]
                .message
                .contains("at least one")
        );
    }
}
