//! [`Authority`]: the decision point backed by the authority model, the
//! inventory and what the store knows (open incidents, commander grants,
//! what this run and this minute have already done).

use super::decide::{GrantState, IncidentState, Situation, decide};
use super::model::AuthorityModel;
use super::{Decision, DecisionPoint, DecisionRequest};
use crate::audit::AuditEvent;
use crate::identity::{Effect, Identity};
use crate::inventory::Inventory;
use crate::report::rfc3339;
use crate::signal::Signal;
use crate::store::{IncidentRecord, Millis, Store, StoreError, now_ms};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// How far back the per-domain rate guardrail looks.
const WINDOW_MS: Millis = 60_000;

/// The decision point of an organisation's authority model.
pub struct Authority {
    model: AuthorityModel,
    inventory: Inventory,
    store: Arc<Store>,
    ledger: Mutex<Ledger>,
}

/// What has been allowed, for the blast-radius guardrails.
#[derive(Default)]
struct Ledger {
    per_run: HashMap<String, usize>,
    /// (when, domain) of every containment action allowed in the window.
    recent: VecDeque<(Millis, String)>,
}

impl Authority {
    /// An authority over `store`, counting what was allowed in the last minute.
    pub fn new(
        model: AuthorityModel,
        inventory: Inventory,
        store: Arc<Store>,
    ) -> Result<Authority, StoreError> {
        let since = now_ms() - WINDOW_MS;
        let mut recent = Vec::new();
        for run in store
            .runs()?
            .into_iter()
            .filter(|r| r.finished_at.is_none_or(|f| f >= since))
        {
            for action in store.actions(&run.run_id)? {
                if action.created_at >= since
                    && counts(action.effect)
                    && matches!(action.decision, Some(Decision::Allowed { .. }))
                    && let Some(domain) = action.domain
                {
                    recent.push((action.created_at, domain));
                }
            }
        }
        recent.sort();
        Ok(Authority {
            model,
            inventory,
            store,
            ledger: Mutex::new(Ledger {
                per_run: HashMap::new(),
                recent: recent.into(),
            }),
        })
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

    fn incident_state(&self, incident: Option<&str>) -> IncidentState {
        match incident.map(|id| (id, self.store.incident(id))) {
            Some((id, Ok(Some(_)))) => IncidentState::Open { id: id.to_string() },
            _ => IncidentState::NotOpen,
        }
    }

    fn grant_state(&self, principal: &str, incident: Option<&str>) -> GrantState {
        let Some(incident) = incident else {
            return GrantState::None;
        };
        let now = now_ms();
        let grants: Vec<_> = self
            .store
            .grants()
            .unwrap_or_default()
            .into_iter()
            .filter(|g| g.incident == incident && g.principal == principal)
            .collect();
        if let Some(g) = grants
            .iter()
            .filter(|g| g.is_active(now))
            .max_by_key(|g| g.expires_at)
        {
            return GrantState::Active {
                id: g.id.clone(),
                granted_by: g.granted_by.clone(),
                until: rfc3339(g.expires_at),
            };
        }
        match grants.last() {
            Some(g) if g.revoked_at.is_some() => GrantState::Revoked { id: g.id.clone() },
            Some(g) => GrantState::Expired { id: g.id.clone() },
            None => GrantState::None,
        }
    }
}

/// Whether an effect counts against the blast-radius caps.
fn counts(effect: Effect) -> bool {
    !matches!(effect, Effect::Read | Effect::Restore)
}

impl DecisionPoint for Authority {
    fn decide(&self, request: &DecisionRequest<'_>) -> Decision {
        let domain = self.domain_for(request.plugin, request.action, request.target);
        let incident = self.incident_state(request.incident);
        let grant = self.grant_state(request.principal, request.incident);
        let used_by = self.inventory.used_by(request.target);

        let mut ledger = self.ledger.lock().expect("authority ledger");
        let now = now_ms();
        while ledger
            .recent
            .front()
            .is_some_and(|(at, _)| *at < now - WINDOW_MS)
        {
            ledger.recent.pop_front();
        }
        if !ledger.per_run.contains_key(request.run_id) {
            let already = self
                .store
                .actions(request.run_id)
                .unwrap_or_default()
                .iter()
                .filter(|a| {
                    counts(a.effect) && matches!(a.decision, Some(Decision::Allowed { .. }))
                })
                .count();
            ledger.per_run.insert(request.run_id.to_string(), already);
        }
        let run_allowed = ledger.per_run[request.run_id];
        let domain_last_minute = ledger.recent.iter().filter(|(_, d)| *d == domain).count();
        let decision = decide(
            &self.model,
            &Situation {
                principal: request.principal,
                effect: request.effect,
                target: request.target,
                domain: &domain,
                incident,
                grant,
                used_by,
                run_allowed,
                domain_last_minute,
            },
        );
        if matches!(decision, Decision::Allowed { .. }) && counts(request.effect) {
            *ledger
                .per_run
                .get_mut(request.run_id)
                .expect("inserted above") += 1;
            ledger.recent.push_back((now, domain));
        }
        decision
    }

    fn domain(&self, plugin: &str, action: &str, target: &Identity) -> Option<String> {
        Some(self.domain_for(plugin, action, target))
    }

    fn signal_received(&self, signal: &Signal, run_id: &str) -> Result<(), StoreError> {
        let (Some(ir), Some(incident)) = (&self.model.incident_response, &signal.incident) else {
            return Ok(());
        };
        if signal.severity < ir.min_severity || self.store.incident(incident)?.is_some() {
            return Ok(());
        }
        let record = IncidentRecord {
            id: incident.clone(),
            opened_at: now_ms(),
            opened_by: signal.id.clone(),
            severity: signal.severity,
        };
        self.store.audit(AuditEvent {
            kind: "incident.opened",
            run_id: Some(run_id.to_string()),
            incident: Some(incident.clone()),
            principal: None,
            data: serde_json::json!({
                "signal": signal.id, "severity": signal.severity.to_string(),
                "incident_response": ir.team, "effects": ir.effects,
            }),
        })?;
        self.store.put_incident(&record)
    }
}
