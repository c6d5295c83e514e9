//! `inspect`: what Vault knows about a token (by accessor), an identity
//! entity or a lease.
//!
//! Owner and workload come from the token's metadata (`owner`, `workload`,
//! `role_name`) or its entity's metadata (`owner`, `workload`); the issuer is
//! `vault:<auth path>` (e.g. `vault:auth/approle/login`). Who uses it is read
//! from the entity's metadata (`used-by`, or `kind = ai-agent`) or guessed
//! from the auth method: machine logins (AppRole, Kubernetes, cloud, JWT,
//! certificates) are `agent`, interactive ones (OIDC, userpass, LDAP, Okta,
//! GitHub) are `human`.

use crate::client::{EntityInfo, Vault};
use cordon_plugin_sdk::prelude::*;

/// The auth method of an auth path: `auth/approle/login` → `approle`.
pub fn auth_method(path: &str) -> &str {
    path.strip_prefix("auth/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("")
}

/// `human`, `agent` or `both` from entity metadata, else from the auth method.
pub fn used_by(metadata: Option<&EntityInfo>, path: &str) -> Option<UsedBy> {
    if let Some(entity) = metadata {
        if let Some(value) = entity
            .metadata
            .get("used-by")
            .or(entity.metadata.get("used_by"))
            .and_then(|value| UsedBy::parse(value))
        {
            return Some(value);
        }
        if let Some(kind) = entity.metadata.get("kind") {
            if kind.contains("agent") || kind == "workload" || kind == "service" {
                return Some(UsedBy::Agent);
            }
            if kind == "human" || kind == "person" {
                return Some(UsedBy::Human);
            }
        }
    }
    match auth_method(path) {
        "approle" | "kubernetes" | "aws" | "gcp" | "azure" | "jwt" | "cert" | "alicloud"
        | "oci" => Some(UsedBy::Agent),
        "oidc" | "userpass" | "ldap" | "okta" | "github" | "radius" => Some(UsedBy::Human),
        _ => None,
    }
}

fn entity_facts(entity: &EntityInfo, attributes: &mut Vec<(String, String)>) {
    attributes.push(("entity_id".into(), entity.id.clone()));
    attributes.push(("entity_name".into(), entity.name.clone()));
    attributes.push(("entity_disabled".into(), entity.disabled.to_string()));
    for (key, value) in &entity.metadata {
        attributes.push((format!("entity.{key}"), value.clone()));
    }
}

/// `inspect` for every supported kind.
pub fn inspect(vault: &Vault, target: &Identity) -> Result<IdentityFacts, ProviderError> {
    match target.kind {
        IdentityKind::Token => inspect_token(vault, &target.id),
        IdentityKind::Workload
        | IdentityKind::Agent
        | IdentityKind::ServiceAccount
        | IdentityKind::User => {
            let id = target.attribute("entity_id").unwrap_or(&target.id);
            let entity = vault.entity(id)?;
            let mut attributes = Vec::new();
            entity_facts(&entity, &mut attributes);
            attributes.push(("policies".into(), entity.policies.join(",")));
            Ok(IdentityFacts {
                owner: entity.metadata.get("owner").cloned(),
                workload: entity.metadata.get("workload").cloned(),
                issuer: Some("vault:identity".into()),
                used_by: used_by(Some(&entity), ""),
                attributes,
            })
        }
        IdentityKind::Secret => {
            let lease = vault.lookup_lease(&target.id)?.ok_or_else(|| {
                not_found(format!(
                    "Vault does not know lease {} (revoked, expired or never existed)",
                    target.id
                ))
            })?;
            let mount = target.id.split('/').next().unwrap_or_default();
            let mut attributes = vec![("lease_id".to_string(), target.id.clone())];
            for key in ["issue_time", "expire_time", "ttl", "renewable"] {
                if !lease[key].is_null() {
                    let value = lease[key]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| lease[key].to_string());
                    attributes.push((key.to_string(), value));
                }
            }
            Ok(IdentityFacts {
                owner: None,
                workload: None,
                issuer: Some(format!("vault:{mount}")),
                used_by: None,
                attributes,
            })
        }
        other => Err(ProviderError::Unsupported(format!(
            "the vault plugin cannot inspect a {other:?}"
        ))),
    }
}

fn inspect_token(vault: &Vault, accessor: &str) -> Result<IdentityFacts, ProviderError> {
    let token = vault.lookup_accessor(accessor)?.ok_or_else(|| {
        not_found(format!(
            "Vault does not know token accessor {accessor} (revoked, expired or never existed)"
        ))
    })?;
    // The entity adds owner facts; a token may lack the right to read it.
    let entity = if token.entity_id.is_empty() {
        None
    } else {
        match vault.entity(&token.entity_id) {
            Ok(entity) => Some(entity),
            Err(ProviderError::Unauthorized(_) | ProviderError::NotFound(_)) => None,
            Err(e) => return Err(e),
        }
    };
    let mut attributes = vec![
        ("display_name".to_string(), token.display_name.clone()),
        ("policies".to_string(), token.policies.join(",")),
        ("path".to_string(), token.path.clone()),
    ];
    if let Some(expire) = &token.expire_time {
        attributes.push(("expire_time".into(), expire.clone()));
    }
    for (key, value) in &token.meta {
        attributes.push((format!("meta.{key}"), value.clone()));
    }
    if let Some(entity) = &entity {
        entity_facts(entity, &mut attributes);
    } else if !token.entity_id.is_empty() {
        attributes.push(("entity_id".into(), token.entity_id.clone()));
    }
    let from_entity = |key: &str| entity.as_ref().and_then(|e| e.metadata.get(key).cloned());
    Ok(IdentityFacts {
        owner: token
            .meta
            .get("owner")
            .cloned()
            .or_else(|| from_entity("owner")),
        workload: token
            .meta
            .get("workload")
            .cloned()
            .or_else(|| from_entity("workload"))
            .or_else(|| token.meta.get("role_name").cloned()),
        issuer: Some(format!("vault:{}", token.path)),
        used_by: used_by(entity.as_ref(), &token.path),
        attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_machines_from_people() {
        assert_eq!(auth_method("auth/approle/login"), "approle");
        assert_eq!(auth_method("auth/oidc/oidc/callback"), "oidc");
        assert_eq!(auth_method("auth/token/create"), "token");
        assert_eq!(used_by(None, "auth/approle/login"), Some(UsedBy::Agent));
        assert_eq!(
            used_by(None, "auth/oidc/oidc/callback"),
            Some(UsedBy::Human)
        );
        assert_eq!(used_by(None, "auth/token/create"), None);
        let mut agent = EntityInfo::default();
        agent.metadata.insert("kind".into(), "ai-agent".into());
        assert_eq!(used_by(Some(&agent), "auth/oidc/x"), Some(UsedBy::Agent));
        agent.metadata.insert("used-by".into(), "both".into());
        assert_eq!(used_by(Some(&agent), ""), Some(UsedBy::Both));
    }
}
