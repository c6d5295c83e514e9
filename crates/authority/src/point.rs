//! [`Authority`]: the decision point backed by the authority model, the
//! inventory and what the store knows (open incidents, commander grants,
//! and the blast-radius ledger of what runs and domains have been allowed).

use crate::decide::{GrantState, IncidentState, Situation, decide};
use crate::inventory::Inventory;
use crate::model::AuthorityModel;
use crate::{DecisionError, DecisionPoint, DecisionRequest, Prepared};
use cordon_input::Signal;
use cordon_store::{Batch, LedgerKey, Store, StoreError};
use cordon_types::{
    AuditEntry, AuditEvent, Effect, Identity, IncidentRecord, Millis, now_ms, rfc3339,
};
use std::sync::Arc;

/// How far back the per-domain rate guardrail looks.
pub const WINDOW_MS: Millis = 60_000;

/// The decision point of an organisation's authority model.
pub struct Authority {
    model: Arc<AuthorityModel>,
    inventory: Inventory,
    store: Arc<dyn Store>,
}

impl Authority {
    /// An authority over `store`.
    pub fn new(model: AuthorityModel, inventory: Inventory, store: Arc<dyn Store>) -> Authority {
        Authority {
            model: Arc::new(model),
            inventory,
            store,
        }
    }

    /// The model.
    pub fn model(&self) -> &AuthorityModel {
        &self.model
    }

    /// The inventory.
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// The domain of an action: the model's per-action override, else the
    /// inventory's word on the target, else the target kind's default.
    fn domain_for(&self, plugin: &str, action: &str, target: &Identity) -> String {
        if let Some(domain) = self.model.action_domains.get(&format!("{plugin}.{action}")) {
            return domain.clone();
        }
        match self.inventory.domain(target) {
            Some(domain) => domain.to_string(),
            None => self.model.domain_of(plugin, action, target),
        }
    }

    fn incident_state(&self, incident: Option<&str>) -> Result<IncidentState, StoreError> {
        Ok(match incident {
            Some(id) if self.store.incident(id)?.is_some() => {
                IncidentState::Open { id: id.to_string() }
            }
            _ => IncidentState::NotOpen,
        })
    }

    fn grant_state(
        &self,
        principal: &str,
        incident: Option<&str>,
    ) -> Result<GrantState, StoreError> {
        let Some(incident) = incident else {
            return Ok(GrantState::None);
        };
        let now = now_ms();
        let grants: Vec<_> = self
            .store
            .grants()?
            .into_iter()
            .filter(|g| g.incident == incident && g.principal == principal)
            .collect();
        if let Some(g) = grants
            .iter()
            .filter(|g| g.is_active(now))
            .max_by_key(|g| g.expires_at)
        {
            return Ok(GrantState::Active {
                id: g.id.clone(),
                granted_by: g.granted_by.clone(),
                until: rfc3339(g.expires_at),
            });
        }
        Ok(match grants.last() {
            Some(g) if g.revoked_at.is_some() => GrantState::Revoked { id: g.id.clone() },
            Some(g) => GrantState::Expired { id: g.id.clone() },
            None => GrantState::None,
        })
    }
}

/// Whether an effect counts against the blast-radius caps.
fn counts(effect: Effect) -> bool {
    !matches!(effect, Effect::Read | Effect::Restore)
}

impl DecisionPoint for Authority {
    fn prepare(&self, request: &DecisionRequest<'_>) -> Result<Prepared, DecisionError> {
        let domain = self.domain_for(request.plugin, request.action, request.target);
        let incident = self.incident_state(request.incident)?;
        let grant = self.grant_state(request.principal, request.incident)?;
        let used_by = self.inventory.used_by(request.target);
        let model = self.model.clone();
        let principal = request.principal.to_string();
        let effect = request.effect;
        let target = request.target.clone();
        let for_rule = domain.clone();
        let ledger = LedgerKey {
            run_id: request.run_id.to_string(),
            domain: domain.clone(),
            since: now_ms() - WINDOW_MS,
        };
        Ok(Prepared::with_ledger(
            ledger,
            Some(domain),
            counts(effect),
            move |ledger| {
                decide(
                    &model,
                    &Situation {
                        principal: &principal,
                        effect,
                        target: &target,
                        domain: &for_rule,
                        incident: incident.clone(),
                        grant: grant.clone(),
                        used_by,
                        run_allowed: ledger.run_allowed,
                        domain_last_minute: ledger.domain_since,
                    },
                )
            },
        ))
    }

    fn domain(&self, plugin: &str, action: &str, target: &Identity) -> Option<String> {
        Some(self.domain_for(plugin, action, target))
    }

    fn signal_received(
        &self,
        signal: &Signal,
        run_id: &str,
        batch: Batch,
    ) -> Result<Batch, StoreError> {
        let (Some(ir), Some(incident)) = (&self.model.incident_response, &signal.incident) else {
            return Ok(batch);
        };
        if signal.severity < ir.min_severity || self.store.incident(incident)?.is_some() {
            return Ok(batch);
        }
        let record = IncidentRecord {
            id: incident.clone(),
            opened_at: now_ms(),
            opened_by: signal.id.clone(),
            severity: signal.severity,
        };
        let entry = AuditEntry::new(AuditEvent::IncidentOpened {
            signal: signal.id.clone(),
            severity: signal.severity,
            incident_response: ir.team.clone(),
            effects: ir.effects.clone(),
        })
        .run(run_id)
        .incident(Some(incident.clone()));
        Ok(batch.audit(entry).incident(&record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordon_input::SourceFile;
    use cordon_store::failing::{FailingStore, Op};
    use cordon_store::{MemoryStore, StoreExt};
    use cordon_types::{Decision, GrantRecord, IdentityKind, Severity};
    use std::collections::BTreeMap;

    const MODEL: &str = r#"
[teams.nhi]
members = ["nadia"]
domains = ["nhi"]
immediate = ["revoke"]

[teams.ir]
members = ["rita"]
domains = []
immediate = []

[incident_response]
team = "ir"
min_severity = "high"
effects = ["revoke"]

[commander]
granted_by = ["ir"]
effects = ["revoke"]
max_ttl = "4h"

[guardrails]
max_actions_per_run = 2
"#;

    fn authority(store: Arc<dyn Store>) -> Authority {
        let model = AuthorityModel::parse(&SourceFile::from_text("authority.toml", MODEL)).unwrap();
        Authority::new(model, Inventory::default(), store)
    }

    fn token() -> Identity {
        Identity {
            provider: "vault".into(),
            kind: IdentityKind::Token,
            id: "acc-1".into(),
            attributes: BTreeMap::new(),
        }
    }

    fn request<'a>(principal: &'a str, target: &'a Identity) -> DecisionRequest<'a> {
        DecisionRequest {
            run_id: "run-1",
            principal,
            plugin: "vault",
            action: "revoke-token",
            effect: Effect::Revoke,
            target,
            incident: Some("INC-1"),
            severity: Severity::High,
        }
    }

    #[test]
    fn a_store_error_while_reading_incidents_or_grants_is_an_error_not_a_decision() {
        let failing = Arc::new(FailingStore::new(Arc::new(MemoryStore::new())));
        let authority = authority(failing.clone());
        let target = token();
        for op in [Op::Incidents, Op::Grants] {
            failing.fail(op);
            assert!(
                matches!(
                    authority.prepare(&request("rita", &target)),
                    Err(DecisionError::Store(_))
                ),
                "{op:?}"
            );
            failing.heal(op);
        }
        assert!(authority.prepare(&request("rita", &target)).is_ok());
    }

    #[test]
    fn a_ledger_that_cannot_be_read_records_nothing() {
        let failing = Arc::new(FailingStore::new(Arc::new(MemoryStore::new())));
        let authority = authority(failing.clone());
        let target = token();
        let prepared = authority
            .prepare(&request("automation:nhi", &target))
            .unwrap();
        failing.fail(Op::Ledger);
        let mut called = false;
        let result = prepared.record(failing.as_ref(), now_ms(), &mut |_| {
            called = true;
            Batch::new()
        });
        assert!(result.is_err());
        assert!(!called, "no decision without the ledger");
    }

    #[tokio::test]
    async fn the_per_run_cap_is_counted_in_the_store() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let target = token();
        let decide = |authority: &Authority| {
            let prepared = authority
                .prepare(&request("automation:nhi", &target))
                .unwrap();
            prepared
                .record(store.as_ref(), now_ms(), &mut |_| Batch::new())
                .unwrap()
        };
        // Two authorities over one store, as two processes would be.
        let (a, b) = (authority(store.clone()), authority(store.clone()));
        assert!(decide(&a).is_allowed());
        assert!(decide(&b).is_allowed());
        assert!(matches!(decide(&a), Decision::NeedsApproval { .. }));
        assert!(matches!(decide(&b), Decision::NeedsApproval { .. }));
    }

    #[tokio::test]
    async fn an_active_commander_grant_allows_and_a_revoked_one_does_not() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let authority = authority(store.clone());
        let target = token();
        let mut grant = GrantRecord {
            id: "grant-1".into(),
            incident: "INC-1".into(),
            principal: "ic".into(),
            granted_by: "rita".into(),
            created_at: now_ms(),
            expires_at: now_ms() + 60_000,
            revoked_at: None,
            revoked_by: None,
        };
        store.commit(Batch::new().grant(&grant)).await.unwrap();
        let decision = authority
            .prepare(&request("ic", &target))
            .unwrap()
            .decide(Default::default());
        assert!(decision.is_allowed(), "{decision:?}");
        grant.revoked_at = Some(now_ms());
        store.commit(Batch::new().grant(&grant)).await.unwrap();
        let decision = authority
            .prepare(&request("ic", &target))
            .unwrap()
            .decide(Default::default());
        assert!(matches!(decision, Decision::Denied { .. }), "{decision:?}");
    }
}
