//! What the audit log records: one typed [`AuditEvent`] per thing that
//! happened, inside an [`AuditEntry`] that says whom it concerns.
//!
//! The store keeps each event as its `kind` (e.g. `action.outcome`) and its
//! `data` (a JSON object); writers and readers share this one enum, so a
//! field renamed by a writer is a compile error for every reader.

use crate::decision::Decision;
use crate::identity::{Effect, Identity};
use crate::records::{ActionRecord, ActionStatus, RunStatus};
use crate::severity::Severity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An event and whom it concerns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The run it belongs to, if any.
    pub run_id: Option<String>,
    /// The incident it belongs to, if any.
    pub incident: Option<String>,
    /// Who acted (a run's principal, an approver, a granter).
    pub principal: Option<String>,
    /// What happened.
    pub event: AuditEvent,
}

impl AuditEntry {
    /// An entry with no run, incident or principal yet.
    pub fn new(event: AuditEvent) -> AuditEntry {
        AuditEntry {
            run_id: None,
            incident: None,
            principal: None,
            event,
        }
    }

    /// Sets the run.
    pub fn run(mut self, run_id: impl Into<String>) -> AuditEntry {
        self.run_id = Some(run_id.into());
        self
    }

    /// Sets the incident.
    pub fn incident(mut self, incident: Option<String>) -> AuditEntry {
        self.incident = incident;
        self
    }

    /// Sets the principal.
    pub fn by(mut self, principal: impl Into<String>) -> AuditEntry {
        self.principal = Some(principal.into());
        self
    }
}

/// The action an event is about (flattened into the event's data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRef {
    /// The action's key (its idempotency key).
    pub action_key: String,
    /// The playbook step.
    pub step: String,
    /// The plugin's name in the config.
    pub plugin: String,
    /// The plugin action.
    pub action: String,
    /// What it does.
    pub effect: Effect,
    /// What it acts on.
    pub target: Identity,
}

impl From<&ActionRecord> for ActionRef {
    fn from(record: &ActionRecord) -> ActionRef {
        ActionRef {
            action_key: record.key.clone(),
            step: record.step.clone(),
            plugin: record.plugin.clone(),
            action: record.action.clone(),
            effect: record.effect,
            target: record.target.clone(),
        }
    }
}

/// The signal that started a run, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalSummary {
    /// The detector's id.
    pub id: String,
    /// What was detected.
    pub kind: String,
    /// Which detector sent it.
    pub source: String,
    /// How bad.
    pub severity: Severity,
    /// When the abuse was observed (Unix seconds).
    pub observed_at: i64,
    /// `provider:kind:id` of each identity.
    pub identities: Vec<String>,
}

/// An outbound request as the audit log keeps it (no duration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditedRequest {
    /// The HTTP method.
    pub method: String,
    /// `scheme://host:port`.
    pub origin: String,
    /// The path without its query.
    pub path: String,
    /// The response status, if one arrived.
    pub status: Option<u16>,
    /// Whether the allow-list refused it.
    pub denied: bool,
}

/// One action a restore run will undo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreTarget {
    /// The key of the action undone.
    pub of_action: String,
    /// The restore action.
    pub action: String,
    /// What it acts on.
    pub target: Identity,
}

/// An applied action a restore cannot undo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Irreversible {
    /// The action's key.
    pub action_key: String,
    /// The action.
    pub action: String,
    /// What it acted on.
    pub target: Identity,
    /// Why it cannot be undone.
    pub why: String,
}

/// Something worth recording. `kind` names the variant in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data")]
pub enum AuditEvent {
    /// A containment run was recorded.
    #[serde(rename = "run.started")]
    RunStarted {
        /// The playbook's name.
        playbook: String,
        /// Whether nothing is changed.
        dry_run: bool,
        /// The signal.
        signal: SignalSummary,
    },
    /// A signal opened an incident for incident response.
    #[serde(rename = "incident.opened")]
    IncidentOpened {
        /// The signal's id.
        signal: String,
        /// Its severity.
        severity: Severity,
        /// The incident-response team.
        incident_response: String,
        /// What incident response may now do in every domain.
        effects: Vec<Effect>,
    },
    /// The decision point decided an action.
    #[serde(rename = "decision")]
    Decision {
        /// The action.
        #[serde(flatten)]
        action: ActionRef,
        /// The decision.
        decision: Decision,
        /// The containment domain it was decided in.
        domain: Option<String>,
    },
    /// An attempt is about to call the plugin.
    #[serde(rename = "action.intent")]
    ActionIntent {
        /// The action.
        #[serde(flatten)]
        action: ActionRef,
        /// 1-based attempt number.
        attempt: u32,
        /// Whether the call is a dry run.
        dry_run: bool,
        /// The action's parameters.
        params: BTreeMap<String, String>,
    },
    /// During an attempt, before a write, the plugin kept evidence (and
    /// restore data) the provider could not give after it.
    #[serde(rename = "action.checkpoint")]
    ActionCheckpoint {
        /// The action.
        #[serde(flatten)]
        action: ActionRef,
        /// 1-based attempt number.
        attempt: u32,
        /// The evidence kept.
        evidence: BTreeMap<String, String>,
        /// The names of the restore parameters kept (their values are in
        /// the action's record).
        restore: Vec<String>,
    },
    /// An action reached its final state.
    #[serde(rename = "action.outcome")]
    ActionOutcome {
        /// The action.
        #[serde(flatten)]
        action: ActionRef,
        /// Its final status.
        status: ActionStatus,
        /// What happened, in words.
        detail: String,
        /// Plugin calls made.
        attempts: u32,
        /// What the plugin reported.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        evidence: Option<BTreeMap<String, String>>,
        /// What its restore action would be fed (sealed, so the data a
        /// restore re-enables with cannot be changed unnoticed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        restore: Option<BTreeMap<String, String>>,
        /// The requests it made.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        requests: Option<Vec<AuditedRequest>>,
    },
    /// An approver approved a waiting action.
    #[serde(rename = "approval.granted")]
    ApprovalGranted(Answer),
    /// An approver rejected a waiting action.
    #[serde(rename = "approval.rejected")]
    ApprovalRejected(Answer),
    /// Someone without the right tried to answer.
    #[serde(rename = "approval.refused")]
    ApprovalRefused {
        /// The action's key.
        action_key: String,
        /// The teams that may answer.
        approvers: Vec<String>,
        /// Whether they tried to approve (or reject).
        approve: bool,
    },
    /// Commander authority was granted.
    #[serde(rename = "grant.created")]
    GrantCreated {
        /// The grant's id.
        grant: String,
        /// Who receives it.
        to: String,
        /// What it allows.
        effects: Vec<Effect>,
        /// Until when (RFC 3339).
        expires_at: String,
    },
    /// A commander grant was revoked.
    #[serde(rename = "grant.revoked")]
    GrantRevoked {
        /// The grant's id.
        grant: String,
        /// Whose it was.
        from: String,
    },
    /// Someone without the right tried to grant commander authority.
    #[serde(rename = "grant.refused")]
    GrantRefused {
        /// Who would have received it.
        to: String,
        /// The teams that may grant.
        granted_by: Vec<String>,
    },
    /// A restore run was asked for.
    #[serde(rename = "restore.requested")]
    RestoreRequested {
        /// The run whose actions are undone.
        of_run: String,
        /// What will be undone.
        actions: Vec<RestoreTarget>,
        /// What cannot be.
        irreversible: Vec<Irreversible>,
    },
    /// A run ended.
    #[serde(rename = "run.finished")]
    RunFinished(RunEnd),
    /// A run stopped to wait for approvals.
    #[serde(rename = "run.paused")]
    RunPaused(RunEnd),
    /// The service stopped before the run finished; the next start resumes it.
    #[serde(rename = "run.interrupted")]
    RunInterrupted(RunEnd),
    /// A caller was refused: not authenticated (401) or not entitled (403).
    #[serde(rename = "access.denied")]
    AccessDenied(AccessDenied),
    /// Someone submitted a signal (the runs it started follow).
    #[serde(rename = "signal.submitted")]
    SignalSubmitted {
        /// The signal's id.
        signal: String,
        /// The runs it started.
        runs: Vec<String>,
        /// Where it came from (the caller's address).
        from: String,
    },
    /// A notifier was told that an action waits for an approval.
    #[serde(rename = "notification.delivered")]
    NotificationDelivered(Notified),
    /// A notifier could not be told, after every attempt.
    #[serde(rename = "notification.failed")]
    NotificationFailed(Notified),
}

/// A notification of an action waiting for approval, and how it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notified {
    /// The notifier's name in the config.
    pub notifier: String,
    /// The action waiting for approval.
    pub action_key: String,
    /// How many requests were made.
    pub attempts: u32,
    /// The last HTTP status, when there was an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why the last attempt failed (never the notifier's URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A refused API call: who (if known), from where, what and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessDenied {
    /// 401 or 403.
    pub status: u16,
    /// The caller's address.
    pub from: String,
    /// The HTTP method.
    pub method: String,
    /// The path asked for (without the query).
    pub path: String,
    /// Why, in words (never the credential presented).
    pub reason: String,
    /// How the caller authenticated (`token:ID`, `oidc:ISSUER`), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// An approver's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// The action's key.
    pub action_key: String,
    /// The action.
    pub action: String,
    /// What it acts on.
    pub target: Identity,
    /// The reason given, if any.
    pub reason: Option<String>,
}

/// How a run ended (or paused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEnd {
    /// The run's status.
    pub status: RunStatus,
    /// How many actions ended in each status.
    pub actions: BTreeMap<String, usize>,
}

impl AuditEvent {
    /// The name the log keeps it under, e.g. `action.outcome`.
    pub fn kind(&self) -> &'static str {
        match self {
            AuditEvent::RunStarted { .. } => "run.started",
            AuditEvent::IncidentOpened { .. } => "incident.opened",
            AuditEvent::Decision { .. } => "decision",
            AuditEvent::ActionIntent { .. } => "action.intent",
            AuditEvent::ActionCheckpoint { .. } => "action.checkpoint",
            AuditEvent::ActionOutcome { .. } => "action.outcome",
            AuditEvent::ApprovalGranted(_) => "approval.granted",
            AuditEvent::ApprovalRejected(_) => "approval.rejected",
            AuditEvent::ApprovalRefused { .. } => "approval.refused",
            AuditEvent::GrantCreated { .. } => "grant.created",
            AuditEvent::GrantRevoked { .. } => "grant.revoked",
            AuditEvent::GrantRefused { .. } => "grant.refused",
            AuditEvent::RestoreRequested { .. } => "restore.requested",
            AuditEvent::RunFinished(_) => "run.finished",
            AuditEvent::RunPaused(_) => "run.paused",
            AuditEvent::RunInterrupted(_) => "run.interrupted",
            AuditEvent::AccessDenied(_) => "access.denied",
            AuditEvent::SignalSubmitted { .. } => "signal.submitted",
            AuditEvent::NotificationDelivered(_) => "notification.delivered",
            AuditEvent::NotificationFailed(_) => "notification.failed",
        }
    }

    /// The event's data, the JSON object the log keeps beside its kind.
    pub fn data(&self) -> serde_json::Value {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut map)) => {
                map.remove("data").unwrap_or(serde_json::Value::Null)
            }
            _ => serde_json::Value::Null,
        }
    }

    /// Reads an event back from its kind and data.
    pub fn from_parts(
        kind: &str,
        data: &serde_json::Value,
    ) -> Result<AuditEvent, serde_json::Error> {
        serde_json::from_value(serde_json::json!({ "kind": kind, "data": data }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::IdentityKind;

    fn target() -> Identity {
        Identity {
            provider: "vault".into(),
            kind: IdentityKind::Token,
            id: "acc-1".into(),
            attributes: BTreeMap::new(),
        }
    }

    #[test]
    fn action_events_keep_the_flat_shape_the_log_has_always_had() {
        let event = AuditEvent::Decision {
            action: ActionRef {
                action_key: "k".into(),
                step: "revoke".into(),
                plugin: "vault".into(),
                action: "revoke-token".into(),
                effect: Effect::Revoke,
                target: target(),
            },
            decision: Decision::Allowed { rule: "r".into() },
            domain: Some("nhi".into()),
        };
        assert_eq!(event.kind(), "decision");
        let data = event.data();
        assert_eq!(data["action_key"], "k");
        assert_eq!(data["effect"], "revoke");
        assert_eq!(data["decision"]["decision"], "allowed");
        assert_eq!(AuditEvent::from_parts("decision", &data).unwrap(), event);
    }

    #[test]
    fn every_kind_round_trips() {
        let events = [
            AuditEvent::RunFinished(RunEnd {
                status: RunStatus::Completed,
                actions: BTreeMap::from([("applied".into(), 2)]),
            }),
            AuditEvent::ApprovalGranted(Answer {
                action_key: "k".into(),
                action: "a".into(),
                target: target(),
                reason: None,
            }),
            AuditEvent::GrantRefused {
                to: "x".into(),
                granted_by: vec!["ir".into()],
            },
        ];
        for event in events {
            let back = AuditEvent::from_parts(event.kind(), &event.data()).unwrap();
            assert_eq!(back, event);
        }
    }

    #[test]
    fn a_renamed_field_is_an_error_not_a_silent_default() {
        let data = serde_json::json!({ "grant": "g", "form": "x" });
        assert!(AuditEvent::from_parts("grant.revoked", &data).is_err());
    }
}
