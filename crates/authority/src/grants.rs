//! Temporary cross-domain authority for an incident commander: who may give
//! and take it back, and what is recorded.

use crate::model::AuthorityModel;
use cordon_store::{Batch, Store, StoreError, StoreExt};
use cordon_types::{AuditEntry, AuditEvent, GrantRecord, now_ms, rfc3339};
use std::time::Duration;

/// Why a grant was not given or revoked.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// The store failed; nothing was recorded.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The model has no commander rule.
    #[error("the authority model has no [commander] rule: nobody may grant commander authority")]
    NoCommanderRule,
    /// The grant would outlive the model's `max_ttl`.
    #[error("{} is longer than the model's max_ttl of {}", humanize(.ttl.as_secs()), humanize(.max.as_secs()))]
    TooLong {
        /// The duration asked for.
        ttl: Duration,
        /// The model's maximum.
        max: Duration,
    },
    /// The granter is in none of the granting teams (the refusal is audited).
    #[error("{granter} may not grant commander authority: that takes a member of team {}", .teams.join(" or "))]
    NotEntitled {
        /// Who tried.
        granter: String,
        /// The teams that may grant.
        teams: Vec<String>,
    },
    /// No grant has this id.
    #[error("no commander grant `{0}`")]
    NoSuchGrant(String),
    /// Only the granter or a member of a granting team may revoke.
    #[error(
        "{principal} may not revoke {grant}: only its granter or a member of a granting team can"
    )]
    NotEntitledToRevoke {
        /// Who tried.
        principal: String,
        /// The grant.
        grant: String,
    },
}

/// Gives `principal` commander authority over `incident` for `ttl`, as
/// `granter`; durable when it returns.
pub async fn create(
    store: &dyn Store,
    model: &AuthorityModel,
    incident: &str,
    principal: &str,
    ttl: Duration,
    granter: &str,
) -> Result<GrantRecord, GrantError> {
    let Some(rule) = &model.commander else {
        return Err(GrantError::NoCommanderRule);
    };
    if ttl > rule.max_ttl {
        return Err(GrantError::TooLong {
            ttl,
            max: rule.max_ttl,
        });
    }
    if !rule
        .granted_by
        .iter()
        .any(|team| model.is_member(granter, team))
    {
        let refused = AuditEntry::new(AuditEvent::GrantRefused {
            to: principal.to_string(),
            granted_by: rule.granted_by.clone(),
        })
        .incident(Some(incident.to_string()))
        .by(granter);
        store.commit(Batch::new().audit(refused)).await?;
        return Err(GrantError::NotEntitled {
            granter: granter.to_string(),
            teams: rule.granted_by.clone(),
        });
    }
    let now = now_ms();
    let grant = GrantRecord {
        id: format!("grant-{}", uuid::Uuid::now_v7().simple()),
        incident: incident.to_string(),
        principal: principal.to_string(),
        granted_by: granter.to_string(),
        created_at: now,
        expires_at: now + ttl.as_millis() as i64,
        revoked_at: None,
        revoked_by: None,
    };
    let created = AuditEntry::new(AuditEvent::GrantCreated {
        grant: grant.id.clone(),
        to: principal.to_string(),
        effects: rule.effects.clone(),
        expires_at: rfc3339(grant.expires_at),
    })
    .incident(Some(incident.to_string()))
    .by(granter);
    store
        .commit(Batch::new().audit(created).grant(&grant))
        .await?;
    Ok(grant)
}

/// What [`revoke`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// The grant is revoked now.
    Now(GrantRecord),
    /// It had been revoked before.
    Already(GrantRecord),
}

/// Revokes a grant, as `principal` (its granter or a member of a granting
/// team); durable when it returns.
pub async fn revoke(
    store: &dyn Store,
    model: &AuthorityModel,
    grant_id: &str,
    principal: &str,
) -> Result<Revoked, GrantError> {
    let Some(mut grant) = store.grants()?.into_iter().find(|g| g.id == grant_id) else {
        return Err(GrantError::NoSuchGrant(grant_id.to_string()));
    };
    let may = grant.granted_by == principal
        || model.commander.as_ref().is_some_and(|rule| {
            rule.granted_by
                .iter()
                .any(|team| model.is_member(principal, team))
        });
    if !may {
        return Err(GrantError::NotEntitledToRevoke {
            principal: principal.to_string(),
            grant: grant_id.to_string(),
        });
    }
    if grant.revoked_at.is_some() {
        return Ok(Revoked::Already(grant));
    }
    grant.revoked_at = Some(now_ms());
    grant.revoked_by = Some(principal.to_string());
    let revoked = AuditEntry::new(AuditEvent::GrantRevoked {
        grant: grant.id.clone(),
        from: grant.principal.clone(),
    })
    .incident(Some(grant.incident.clone()))
    .by(principal);
    store
        .commit(Batch::new().audit(revoked).grant(&grant))
        .await?;
    Ok(Revoked::Now(grant))
}

/// `2h`, `30m`, `1h30m0s`.
pub fn humanize(secs: u64) -> String {
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (h, 0, 0) if h > 0 => format!("{h}h"),
        (0, m, 0) => format!("{m}m"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}
