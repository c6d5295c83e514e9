//! The decision itself: a pure function of the model and the situation, so
//! it can be tested as a table and replayed from the audit log.

use crate::model::AuthorityModel;
pub use cordon_types::UsedBy;
use cordon_types::{Decision, Effect, Identity};

/// The incident a run belongs to, as far as authority is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentState {
    /// No incident, or one no signal has opened (severity below the bar).
    NotOpen,
    /// Opened by a signal at or above incident response's severity.
    Open {
        /// The incident id.
        id: String,
    },
}

/// The acting principal's commander grant for the run's incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantState {
    /// No grant, or the run has no incident.
    None,
    /// A grant in force now.
    Active {
        /// The grant's id.
        id: String,
        /// The principal who gave the grant.
        granted_by: String,
        /// When the grant expires (RFC 3339).
        until: String,
    },
    /// The latest grant ran past its expiry.
    Expired {
        /// The grant's id.
        id: String,
    },
    /// The latest grant was revoked.
    Revoked {
        /// The grant's id.
        id: String,
    },
}

/// Everything a decision depends on.
#[derive(Debug, Clone)]
pub struct Situation<'a> {
    /// Who the action would run as.
    pub principal: &'a str,
    /// What the action does to its target.
    pub effect: Effect,
    /// The identity the action acts on.
    pub target: &'a Identity,
    /// The containment domain the action falls in.
    pub domain: &'a str,
    /// The run's incident.
    pub incident: IncidentState,
    /// The principal's commander grant for that incident.
    pub grant: GrantState,
    /// Whether humans, agents or both use the target, per the inventory.
    pub used_by: Option<UsedBy>,
    /// Actions this run has already been allowed to execute.
    pub run_allowed: usize,
    /// Actions allowed in this domain during the last minute, across runs.
    pub domain_last_minute: usize,
}

/// Decides one action. Order: protected identities; read-only; restore
/// (owners only); pre-assigned rights (owning team, incident response,
/// incident commander); otherwise approval by the owners, or denial for a
/// principal with no standing; finally the guardrails on what was allowed.
pub fn decide(model: &AuthorityModel, s: &Situation<'_>) -> Decision {
    if let Some(protected) = model
        .guardrails
        .protected
        .iter()
        .find(|p| p.matches(s.target))
    {
        return Decision::Denied {
            reason: format!(
                "{} is protected ({}): no principal may touch it",
                s.target, protected.reason
            ),
        };
    }
    if s.effect == Effect::Read {
        return Decision::Allowed {
            rule: "read-only actions change nothing and are always allowed".into(),
        };
    }
    let owners = model.owners_of(s.domain);
    let owner_names: Vec<String> = owners.iter().map(|t| t.name.clone()).collect();
    if owners.is_empty() {
        return Decision::Denied {
            reason: format!(
                "no team owns the {} domain, so nobody may act on it",
                s.domain
            ),
        };
    }
    if s.effect == Effect::Restore {
        return match owners.iter().find(|t| model.member(t, s.principal)) {
            Some(team) => Decision::Allowed {
                rule: format!(
                    "restore by team {} which owns the {} domain",
                    team.name, s.domain
                ),
            },
            None => Decision::Denied {
                reason: format!(
                    "restoring {} identities is reserved to the owning team ({}); {} is not a member \
                     (incident commanders and incident response never restore)",
                    s.domain,
                    owner_names.join(", "),
                    s.principal
                ),
            },
        };
    }

    let rule = pre_assigned_right(model, s);
    let Some(rule) = rule else {
        let grant_note = match &s.grant {
            GrantState::Expired { id } => format!(" (commander grant {id} has expired)"),
            GrantState::Revoked { id } => format!(" (commander grant {id} was revoked)"),
            _ => String::new(),
        };
        if model.teams_of(s.principal).is_empty() {
            return Decision::Denied {
                reason: format!(
                    "{} belongs to no team and holds no commander grant for this incident{grant_note}",
                    s.principal
                ),
            };
        }
        return Decision::NeedsApproval {
            approvers: owner_names,
            reason: format!(
                "{} has no pre-assigned right to {} {} identities{grant_note}",
                s.principal, s.effect, s.domain
            ),
        };
    };

    // Guardrails on what would otherwise run at once.
    if s.used_by == Some(UsedBy::Both) {
        let human_owner = !s.principal.starts_with("automation:")
            && owners.iter().any(|t| model.member(t, s.principal));
        if !human_owner {
            return Decision::NeedsApproval {
                approvers: owner_names,
                reason: format!(
                    "{} is used by both humans and agents: its owning team must approve",
                    s.target
                ),
            };
        }
    }
    let mut cap_approvers = owner_names.clone();
    if let Some(ir) = &model.incident_response
        && !cap_approvers.contains(&ir.team)
    {
        cap_approvers.push(ir.team.clone());
    }
    if let Some(cap) = model.guardrails.max_actions_per_run
        && s.run_allowed >= cap
    {
        return Decision::NeedsApproval {
            approvers: cap_approvers,
            reason: format!(
                "blast-radius cap: this run has already executed {cap} actions, its cap"
            ),
        };
    }
    if let Some(&cap) = model.guardrails.max_per_domain_per_minute.get(s.domain)
        && s.domain_last_minute >= cap
    {
        return Decision::NeedsApproval {
            approvers: cap_approvers,
            reason: format!(
                "blast-radius cap: {} actions in the {} domain in the last minute (cap {cap})",
                s.domain_last_minute, s.domain
            ),
        };
    }
    Decision::Allowed { rule }
}

/// The rule that lets the principal execute the effect at once, if any.
fn pre_assigned_right(model: &AuthorityModel, s: &Situation<'_>) -> Option<String> {
    if let Some(team) = model
        .owners_of(s.domain)
        .into_iter()
        .find(|t| model.member(t, s.principal) && t.immediate.contains(&s.effect))
    {
        return Some(format!(
            "team {} owns the {} domain and may {} at once",
            team.name, s.domain, s.effect
        ));
    }
    if let (Some(ir), IncidentState::Open { id }) = (&model.incident_response, &s.incident)
        && model.is_member(s.principal, &ir.team)
        && ir.effects.contains(&s.effect)
    {
        return Some(format!(
            "incident response (team {}) may {} in every domain while incident {id} is open",
            ir.team, s.effect
        ));
    }
    if let (
        Some(commander),
        GrantState::Active {
            id,
            granted_by,
            until,
        },
    ) = (&model.commander, &s.grant)
        && commander.effects.contains(&s.effect)
    {
        return Some(format!(
            "incident commander grant {id} from {granted_by}, valid until {until}"
        ));
    }
    None
}
