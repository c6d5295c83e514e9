//! `cordon grant commander|revoke|list`: temporary cross-domain authority
//! for an incident commander.

use super::{EXIT_INVALID_INPUT, EXIT_OK};
use cordon_authority::grants::{self, GrantError, Revoked};
use cordon_authority::model::parse_duration;
use cordon_config::Context;
use cordon_report::GrantView;
use cordon_types::{now_ms, rfc3339};
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
    let ttl = match parse_duration(ttl) {
        Ok(ttl) => ttl,
        Err(error) => {
            warnln!("error: --ttl: {error}");
            return Ok(EXIT_INVALID_INPUT);
        }
    };
    let model = authority.model();
    let grant =
        match grants::create(ctx.store.as_ref(), model, incident, principal, ttl, granter).await {
            Ok(grant) => grant,
            Err(err @ GrantError::TooLong { .. }) => {
                warnln!("error: --ttl: {err}");
                return Ok(EXIT_INVALID_INPUT);
            }
            Err(err) => return Err(err.into()),
        };
    let effects: Vec<String> = model
        .commander
        .iter()
        .flat_map(|rule| rule.effects.iter().map(|e| e.to_string()))
        .collect();
    sayln!(
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
    match grants::revoke(ctx.store.as_ref(), authority.model(), grant_id, principal).await? {
        Revoked::Already(_) => sayln!("{grant_id} was already revoked"),
        Revoked::Now(grant) => sayln!(
            "{grant_id} revoked: {} is no longer incident commander for {}",
            grant.principal,
            grant.incident
        ),
    }
    Ok(EXIT_OK)
}

/// `cordon grant list`.
pub fn list(config_path: &Path, json: bool) -> anyhow::Result<u8> {
    let ctx = Context::open(config_path)?;
    let now = now_ms();
    let grants: Vec<GrantView> = ctx
        .store
        .grants()?
        .iter()
        .map(|g| GrantView::new(g, now))
        .collect();
    if json {
        sayln!("{}", serde_json::to_string_pretty(&grants)?);
    } else {
        say!("{}", GrantView::human(&grants));
    }
    Ok(EXIT_OK)
}
