//! `cordon grant commander|revoke|list`: temporary cross-domain authority
//! for an incident commander.

use super::context::Context;
use super::{EXIT_INVALID_INPUT, EXIT_OK};
use crate::audit::AuditEvent;
use crate::authority::model::parse_duration;
use crate::report::rfc3339;
use crate::store::{GrantRecord, now_ms};
use anyhow::bail;
use serde_json::json;
use std::path::Path;

/// `cordon grant commander --incident INC --principal P --ttl 2h --as GRANTER`.
pub async fn commander(
    config_path: &Path,
    incident: &str,
    principal: &str,
    ttl: &str,
    granter: &str,
) -> anyhow::Result<u8> {
    let ctx = Context::open(config_path)?;
    let authority = ctx.require_authority("grant commander")?;
    let Some(rule) = &authority.model().commander else {
        bail!("the authority model has no [commander] rule: nobody may grant commander authority");
    };
    let ttl = match parse_duration(ttl) {
        Ok(ttl) => ttl,
        Err(message) => {
            eprintln!("error: --ttl: {message}");
            return Ok(EXIT_INVALID_INPUT);
        }
    };
    if ttl > rule.max_ttl {
        eprintln!(
            "error: --ttl: {} is longer than the model's max_ttl of {}",
            humanize(ttl.as_secs()),
            humanize(rule.max_ttl.as_secs())
        );
        return Ok(EXIT_INVALID_INPUT);
    }
    if !rule
        .granted_by
        .iter()
        .any(|team| authority.model().is_member(granter, team))
    {
        ctx.store.audit(AuditEvent {
            kind: "grant.refused",
            incident: Some(incident.to_string()),
            principal: Some(granter.to_string()),
            data: json!({ "to": principal, "granted_by": rule.granted_by }),
            ..Default::default()
        })?;
        ctx.store.sync().await?;
        bail!(
            "{granter} may not grant commander authority: that takes a member of team {}",
            rule.granted_by.join(" or ")
        );
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
    ctx.store.audit(AuditEvent {
        kind: "grant.created",
        incident: Some(incident.to_string()),
        principal: Some(granter.to_string()),
        data: json!({
            "grant": grant.id, "to": principal, "effects": rule.effects,
            "expires_at": rfc3339(grant.expires_at),
        }),
        ..Default::default()
    })?;
    ctx.store.put_grant(&grant)?;
    ctx.store.sync().await?;
    let effects: Vec<String> = rule.effects.iter().map(|e| e.to_string()).collect();
    println!(
        "{}: {principal} is incident commander for {incident} until {} (may {} in every domain; never restore)",
        grant.id,
        rfc3339(grant.expires_at),
        effects.join(", ")
    );
    Ok(EXIT_OK)
}

/// `cordon grant revoke GRANT --as P`.
pub async fn revoke(config_path: &Path, grant_id: &str, principal: &str) -> anyhow::Result<u8> {
    let ctx = Context::open(config_path)?;
    let authority = ctx.require_authority("grant revoke")?;
    let Some(mut grant) = ctx.store.grants()?.into_iter().find(|g| g.id == grant_id) else {
        bail!("no commander grant `{grant_id}`");
    };
    let may = grant.granted_by == principal
        || authority.model().commander.as_ref().is_some_and(|rule| {
            rule.granted_by
                .iter()
                .any(|team| authority.model().is_member(principal, team))
        });
    if !may {
        bail!(
            "{principal} may not revoke {grant_id}: only its granter or a member of a granting team can"
        );
    }
    if grant.revoked_at.is_some() {
        println!("{grant_id} was already revoked");
        return Ok(EXIT_OK);
    }
    grant.revoked_at = Some(now_ms());
    grant.revoked_by = Some(principal.to_string());
    ctx.store.audit(AuditEvent {
        kind: "grant.revoked",
        incident: Some(grant.incident.clone()),
        principal: Some(principal.to_string()),
        data: json!({ "grant": grant.id, "from": grant.principal }),
        ..Default::default()
    })?;
    ctx.store.put_grant(&grant)?;
    ctx.store.sync().await?;
    println!(
        "{grant_id} revoked: {} is no longer incident commander for {}",
        grant.principal, grant.incident
    );
    Ok(EXIT_OK)
}

/// `cordon grant list`.
pub fn list(config_path: &Path, json: bool) -> anyhow::Result<u8> {
    let ctx = Context::open(config_path)?;
    let now = now_ms();
    let grants = ctx.store.grants()?;
    if json {
        let rows: Vec<_> = grants
            .iter()
            .map(|g| json!({
                "id": g.id, "incident": g.incident, "principal": g.principal, "granted_by": g.granted_by,
                "expires_at": rfc3339(g.expires_at), "revoked_at": g.revoked_at.map(rfc3339),
                "active": g.is_active(now),
            }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if grants.is_empty() {
        println!("No commander grants.");
    } else {
        for g in grants {
            let state = if g.revoked_at.is_some() {
                format!("revoked by {}", g.revoked_by.unwrap_or_default())
            } else if g.is_active(now) {
                format!("active until {}", rfc3339(g.expires_at))
            } else {
                format!("expired at {}", rfc3339(g.expires_at))
            };
            println!(
                "{} · {} commands {} · granted by {} · {state}",
                g.id, g.principal, g.incident, g.granted_by
            );
        }
    }
    Ok(EXIT_OK)
}

fn humanize(secs: u64) -> String {
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (h, 0, 0) if h > 0 => format!("{h}h"),
        (0, m, 0) => format!("{m}m"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}
