//! Which records the audit chain covers, and checking the store's records
//! against it.
//!
//! The chain seals the audit records only. Runs, actions, grants, incidents
//! and facts are kept beside it, written in the same commits as the events
//! about them. [`check`] reads every one of them (a record that no longer
//! decodes is reported by key) and compares what the chain says with what
//! the records hold:
//!
//! - an action in a final state has an `action.outcome` event, and its
//!   status, detail and attempts — and, for a called action, its evidence
//!   and restore data — are the ones that event sealed; its decision is the
//!   last `decision` event's;
//! - a commander grant has its `grant.created` event, with the same
//!   principal and expiry, and is revoked exactly when a `grant.revoked`
//!   event says so.
//!
//! What the chain does not seal: an action's `sources` (which signal
//! identities it answers), the ledger behind blast-radius caps (derived from
//! the decisions), and facts (read after containment, for reports).

use crate::audit::AuditRecord;
use crate::{Store, StoreError};
use cordon_types::{ActionRecord, AuditEvent, Decision, GrantRecord, rfc3339};
use std::collections::{BTreeMap, BTreeSet};

/// What [`check`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecordCheck {
    /// Action and grant records compared with the chain.
    pub compared: u64,
    /// Each disagreement or unreadable record, in words.
    pub problems: Vec<String>,
}

/// What the chain last said about one action.
#[derive(Default)]
struct Audited {
    outcome: Option<AuditEvent>,
    decision: Option<Decision>,
}

/// Compares every record of `store` with the (already verified) `chain`.
pub fn check(store: &dyn Store, chain: &[AuditRecord]) -> Result<RecordCheck, StoreError> {
    let mut result = RecordCheck::default();
    let mut actions: BTreeMap<(String, String), Audited> = BTreeMap::new();
    let mut created: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut revoked: BTreeSet<String> = BTreeSet::new();
    for record in chain {
        let Ok(event) = record.event() else { continue };
        let run = record.run_id.clone().unwrap_or_default();
        match &event {
            AuditEvent::ActionOutcome { action, .. } => {
                actions
                    .entry((run, action.action_key.clone()))
                    .or_default()
                    .outcome = Some(event.clone());
            }
            AuditEvent::Decision {
                action, decision, ..
            } => {
                actions
                    .entry((run, action.action_key.clone()))
                    .or_default()
                    .decision = Some(decision.clone());
            }
            AuditEvent::GrantCreated {
                grant,
                to,
                expires_at,
                ..
            } => {
                created.insert(grant.clone(), (to.clone(), expires_at.clone()));
            }
            AuditEvent::GrantRevoked { grant, .. } => {
                revoked.insert(grant.clone());
            }
            _ => {}
        }
    }

    let runs = match store.runs() {
        Ok(runs) => runs,
        Err(err @ StoreError::Corrupt { .. }) => {
            result.problems.push(err.to_string());
            return Ok(result);
        }
        Err(err) => return Err(err),
    };
    for run in &runs {
        let records = match store.actions(&run.run_id) {
            Ok(records) => records,
            Err(err @ StoreError::Corrupt { .. }) => {
                result.problems.push(err.to_string());
                continue;
            }
            Err(err) => return Err(err),
        };
        for record in &records {
            result.compared += 1;
            let audited = actions.get(&(run.run_id.clone(), record.key.clone()));
            result.problems.extend(action_problems(record, audited));
        }
        if let Err(err @ StoreError::Corrupt { .. }) = store.facts(&run.run_id) {
            result.problems.push(err.to_string());
        }
        if let Some(incident) = &run.incident
            && let Err(err @ StoreError::Corrupt { .. }) = store.incident(incident)
        {
            result.problems.push(err.to_string());
        }
    }
    match store.grants() {
        Ok(grants) => {
            for grant in &grants {
                result.compared += 1;
                result
                    .problems
                    .extend(grant_problems(grant, created.get(&grant.id), &revoked));
            }
        }
        Err(err @ StoreError::Corrupt { .. }) => result.problems.push(err.to_string()),
        Err(err) => return Err(err),
    }
    Ok(result)
}

fn action_problems(record: &ActionRecord, audited: Option<&Audited>) -> Vec<String> {
    let name = format!(
        "action {} ({} on {}) of run {}",
        &record.key[..12.min(record.key.len())],
        record.action,
        record.target.label(),
        record.run_id
    );
    let mut problems = Vec::new();
    let differs = |what: &str| format!("{name}: its {what} is not the one the audit log sealed");
    if let (Some(decision), Some(sealed)) =
        (&record.decision, audited.and_then(|a| a.decision.as_ref()))
        && decision != sealed
    {
        problems.push(differs("decision"));
    }
    if !record.status.is_final() {
        return problems;
    }
    let Some(AuditEvent::ActionOutcome {
        status,
        detail,
        attempts,
        evidence,
        restore,
        ..
    }) = audited.and_then(|a| a.outcome.as_ref())
    else {
        problems.push(format!(
            "{name} is {} but the audit log holds no outcome for it",
            record.status.as_str()
        ));
        return problems;
    };
    if *status != record.status {
        problems.push(differs("status"));
    }
    if *detail != record.detail {
        problems.push(differs("detail"));
    }
    if *attempts != record.attempts {
        problems.push(differs("attempt count"));
    }
    if evidence.as_ref().is_some_and(|e| *e != record.evidence) {
        problems.push(differs("evidence"));
    }
    if restore.as_ref().is_some_and(|r| *r != record.restore) {
        problems.push(differs("restore data"));
    }
    problems
}

fn grant_problems(
    grant: &GrantRecord,
    created: Option<&(String, String)>,
    revoked: &BTreeSet<String>,
) -> Vec<String> {
    let name = format!("grant {} to {}", grant.id, grant.principal);
    let Some((to, expires_at)) = created else {
        return vec![format!(
            "{name}: the audit log holds no grant.created for it"
        )];
    };
    let mut problems = Vec::new();
    if *to != grant.principal || *expires_at != rfc3339(grant.expires_at) {
        problems.push(format!(
            "{name}: its principal or expiry is not the one the audit log sealed"
        ));
    }
    if grant.revoked_at.is_some() != revoked.contains(&grant.id) {
        problems.push(format!(
            "{name}: it is {} but the audit log says {}",
            if grant.revoked_at.is_some() {
                "revoked"
            } else {
                "active"
            },
            if revoked.contains(&grant.id) {
                "it was revoked"
            } else {
                "it never was"
            }
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::check;
    use crate::conformance::{sample_action, sample_run};
    use crate::{Batch, SledStore, Store, StoreExt};
    use cordon_types::{ActionRef, ActionStatus, AuditEntry, AuditEvent, GrantRecord, rfc3339};

    fn tempdir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("cordon-check-test-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A run with one applied action and one grant, each with its events.
    async fn history(store: &SledStore) {
        let mut action = sample_action("run-1", "k1", 0);
        action.status = ActionStatus::Applied;
        action.attempts = 1;
        action.detail = "revoked".into();
        action.restore.insert("entity_id".into(), "e-1".into());
        let outcome = AuditEvent::ActionOutcome {
            action: ActionRef::from(&action),
            status: action.status,
            detail: action.detail.clone(),
            attempts: 1,
            evidence: Some(action.evidence.clone()),
            restore: Some(action.restore.clone()),
            requests: None,
        };
        let grant = GrantRecord {
            id: "grant-1".into(),
            incident: "INC-1".into(),
            principal: "ines".into(),
            granted_by: "carla".into(),
            created_at: 1,
            expires_at: 3_600_000,
            revoked_at: None,
            revoked_by: None,
        };
        let created = AuditEvent::GrantCreated {
            grant: grant.id.clone(),
            to: grant.principal.clone(),
            effects: Vec::new(),
            expires_at: rfc3339(grant.expires_at),
        };
        store
            .commit(
                Batch::new()
                    .run(&sample_run("run-1", 1))
                    .action(&action)
                    .audit(AuditEntry::new(outcome).run("run-1"))
                    .grant(&grant)
                    .audit(AuditEntry::new(created)),
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn records_that_agree_with_the_chain_pass() {
        let store = SledStore::open(&tempdir()).unwrap();
        history(&store).await;
        let found = check(&store, &store.audit_records().unwrap()).unwrap();
        assert_eq!(found.compared, 2);
        assert!(found.problems.is_empty(), "{:?}", found.problems);
    }

    #[tokio::test]
    async fn records_changed_behind_the_chain_are_named() {
        let store = SledStore::open(&tempdir()).unwrap();
        history(&store).await;
        // Rewritten without an event: the restore data a restore would use,
        // and a grant's expiry pushed out by a year.
        let mut action = store.action("run-1", "k1").unwrap().unwrap();
        action
            .restore
            .insert("entity_id".into(), "e-attacker".into());
        let mut grant = store.grants().unwrap().remove(0);
        grant.expires_at += 365 * 86_400_000;
        store
            .commit(Batch::new().action(&action).grant(&grant))
            .await
            .unwrap();
        let found = check(&store, &store.audit_records().unwrap()).unwrap();
        assert_eq!(found.problems.len(), 2, "{:?}", found.problems);
        assert!(found.problems[0].contains("its restore data is not the one the audit log sealed"));
        assert!(found.problems[1].contains("grant grant-1 to ines: its principal or expiry"));
    }

    #[tokio::test]
    async fn an_unreadable_record_is_named_by_key() {
        let dir = tempdir();
        {
            let store = SledStore::open(&dir).unwrap();
            history(&store).await;
        }
        {
            let db = sled::open(&dir).unwrap();
            let actions = db.open_tree("actions").unwrap();
            let key = b"run-1/k1";
            let mut bytes = actions.get(key).unwrap().unwrap().to_vec();
            bytes[0] ^= 0x55;
            actions.insert(key, bytes).unwrap();
            db.flush().unwrap();
        }
        let store = SledStore::open(&dir).unwrap();
        let found = check(&store, &store.audit_records().unwrap()).unwrap();
        assert_eq!(found.problems.len(), 1, "{:?}", found.problems);
        assert!(
            found.problems[0].contains("run-1/k1"),
            "{:?}",
            found.problems
        );
    }
}
