//! The Vault actions. Each reads what it needs first, so a repeat reports
//! `already-applied` and a dry run can say exactly what it would do.
//!
//! Vault answers "revoked", "expired" and "never existed" the same way for
//! token accessors (`400 invalid accessor`), leases (`400 invalid lease`)
//! and secret-id accessors (`404`): it forgets what it revoked. So does this
//! plugin: an unknown accessor, lease or secret-id is reported
//! `already-applied`, with a detail saying that Vault cannot tell whether it
//! ever existed. A typo in a signal therefore does not fail the run; the
//! evidence `vault_state = unknown` marks such outcomes.

use crate::client::{TokenInfo, Vault};
use cordon_plugin_sdk::OutcomeStatus;
use cordon_plugin_sdk::prelude::*;
use cordon_plugin_sdk::serde_json::json;

/// Evidence describing a live token. `issuer`, `owner` and `workload` are
/// kept by the host as facts about the token: once revoked, Vault can no
/// longer say them.
fn token_evidence(outcome: Outcome, accessor: &str, token: &TokenInfo) -> Outcome {
    let mut outcome = outcome
        .evidence("accessor", accessor)
        .evidence("display_name", &token.display_name)
        .evidence("policies", token.policies.join(","))
        .evidence("path", &token.path)
        .evidence("issuer", format!("vault:{}", token.path));
    for key in ["owner", "workload"] {
        if let Some(value) = token.meta.get(key) {
            outcome = outcome.evidence(key, value);
        }
    }
    if let (None, Some(role)) = (token.meta.get("workload"), token.meta.get("role_name")) {
        outcome = outcome.evidence("workload", role);
    }
    if let Some(used_by) = crate::inspect::used_by(None, &token.path) {
        outcome = outcome.evidence("used-by", used_by.as_str());
    }
    if !token.entity_id.is_empty() {
        outcome = outcome.evidence("entity_id", &token.entity_id);
    }
    if let Some(expire) = &token.expire_time {
        outcome = outcome.evidence("expire_time", expire);
    }
    outcome
}

/// `revoke-token`: revokes a token by accessor, with its child tokens and
/// their leases.
pub fn revoke_token(
    vault: &Vault,
    request: &ActionRequest,
) -> Result<ActionOutcome, ProviderError> {
    let accessor = &request.target.id;
    let Some(token) = vault.lookup_accessor(accessor)? else {
        return Outcome::already_applied(format!(
            "Vault does not know token accessor {accessor}: it was revoked or has expired \
             (Vault answers the same for an accessor that never existed)"
        ))
        .evidence("accessor", accessor)
        .evidence("vault_state", "unknown")
        // Inspecting an accessor Vault does not know only fails.
        .facts_complete()
        .done();
    };
    let name = &token.display_name;
    let plan = Plan::change(format!(
        "revoke token {name} (accessor {accessor}, policies {}) with its child tokens and their leases",
        token.policies.join(",")
    ));
    let outcome = converge(request, plan, || {
        let already = || {
            Outcome::already_applied(format!(
                "token {name} (accessor {accessor}) was already revoked"
            ))
        };
        // Once revoked, Vault forgets the accessor, and with it the entity
        // later steps fence: keep the evidence before the write.
        token_evidence(Outcome::applied(""), accessor, &token).checkpoint()?;
        match vault.post(
            &ApiPath::new("auth/token/revoke-accessor"),
            json!({ "accessor": accessor }),
        ) {
            // Revoked (or expired) between the lookup and now: Vault answers
            // 200 with the warning `No token found with this accessor`.
            Ok(response) if Vault::warns(&response, "no token found") => Ok(already()),
            Ok(_) => Ok(Outcome::applied(format!(
                "revoked token {name} (accessor {accessor}) with its child tokens and their leases"
            ))),
            // What older servers and proxies answer for the same.
            Err(CallError::Api(e)) if e.status == 400 && e.mentions("invalid accessor") => {
                Ok(already())
            }
            Err(e) => Err(e.into()),
        }
    })?;
    // Vault forgets a revoked token: inspecting it afterwards only fails,
    // and the lookup above read all it would say (the entity's own facts
    // come from the step that fences it).
    let outcome = token_evidence(outcome, accessor, &token);
    match outcome.status() {
        OutcomeStatus::Planned => outcome.done(),
        _ => outcome.facts_complete().done(),
    }
}

/// `revoke-lease`: revokes one lease (a dynamic secret) now.
pub fn revoke_lease(
    vault: &Vault,
    request: &ActionRequest,
) -> Result<ActionOutcome, ProviderError> {
    let lease_id = &request.target.id;
    let Some(lease) = vault.lookup_lease(lease_id)? else {
        return Outcome::already_applied(format!(
            "Vault does not know lease {lease_id}: it was revoked or has expired \
             (Vault answers the same for a lease that never existed)"
        ))
        .evidence("lease_id", lease_id)
        .evidence("vault_state", "unknown")
        .done();
    };
    let expire = lease["expire_time"].as_str().unwrap_or("never").to_string();
    let plan = Plan::change(format!("revoke lease {lease_id} (expires {expire})"));
    let outcome = converge(request, plan, || {
        vault.post(
            &ApiPath::new("sys/leases/revoke"),
            json!({ "lease_id": lease_id, "sync": true }),
        )?;
        Ok(Outcome::applied(format!(
            "revoked lease {lease_id} (it would have expired {expire})"
        )))
    })?;
    outcome
        .evidence("lease_id", lease_id)
        .evidence("expire_time", expire)
        .done()
}

/// The lease prefix of a `revoke-lease-prefix` target, without the slashes
/// around it: Vault refuses a path ending in `/` (400 `cannot write to a
/// path ending in '/'`), though its docs write prefixes that way, and it
/// matches whole path segments (`pki/issue/agent-9` is `pki/issue/agent-9/`,
/// never `pki/issue/agent-90/`). An empty prefix would revoke every lease
/// Vault holds, so it is refused.
pub fn lease_prefix(target: &str) -> Result<&str, ProviderError> {
    let prefix = target.trim_matches('/');
    if prefix.is_empty() {
        return Err(invalid(format!(
            "revoke-lease-prefix needs a non-empty prefix such as database/creds/agent-7 \
             (got `{target}`, which would revoke every lease in Vault)"
        )));
    }
    Ok(prefix)
}

/// `revoke-lease-prefix`: revokes every lease under a prefix (and every
/// token created under an auth path with it). Needs `sudo`.
///
/// Vault says nothing about what a prefix revocation revoked and offers no
/// cheap way to list a prefix's leases, so there is no state to read first
/// (and no `Plan` to make): the action always reports `applied`; repeating
/// it is harmless (Vault answers 204 again). A dry run reads only Cordon's
/// own token, to name its policies; a real run does not.
pub fn revoke_lease_prefix(
    vault: &Vault,
    request: &ActionRequest,
) -> Result<ActionOutcome, ProviderError> {
    let prefix = lease_prefix(&request.target.id)?;
    let path = ApiPath::new("sys/leases/revoke-prefix").segments(prefix);
    if request.dry_run {
        // Checks the token is valid; whether it holds `sudo` on the prefix
        // is only known by trying.
        let me = Vault::data(&vault.api().get(&ApiPath::new("auth/token/lookup-self"))?)?;
        let policies = TokenInfo::from_data(&me).policies.join(",");
        return Outcome::planned(format!(
            "would revoke every lease under {prefix} (needs `sudo` on sys/leases/revoke-prefix/{prefix}; Cordon's token has policies {policies})"
        ))
        .evidence("prefix", prefix)
        .done();
    }
    match vault.post(&path, json!({ "sync": true })) {
        Ok(_) => Outcome::applied(format!("revoked every lease under {prefix}"))
            .evidence("prefix", prefix)
            .done(),
        Err(CallError::Api(e)) if e.status == 403 => Err(ProviderError::Unauthorized(format!(
            "Vault refused to revoke leases by prefix {prefix}: revoke-prefix needs `sudo` (and `update`) on \
             sys/leases/revoke-prefix/{prefix}, which Cordon's token lacks, or the token is invalid ({})",
            e.summary()
        ))),
        Err(e) => Err(e.into()),
    }
}

/// The AppRole role and mount a secret-id action works on.
fn approle_of(vault: &Vault, request: &ActionRequest) -> Result<(String, String), ProviderError> {
    let target = &request.target;
    let role = request
        .param("role")
        .or_else(|| target.attribute("role"))
        .ok_or_else(|| {
            invalid(
                "destroying a secret-id needs its AppRole role: set the step's param `role` or the identity's attribute `role`",
            )
        })?;
    let mount = request
        .param("mount")
        .or_else(|| target.attribute("mount"))
        .unwrap_or(&vault.approle_mount);
    Ok((role.to_string(), mount.trim_matches('/').to_string()))
}

/// `destroy-secret-id`: destroys an AppRole secret-id by its accessor, so
/// it can no longer log in. Tokens it already obtained stay valid: revoke
/// them with `revoke-token` or `revoke-lease-prefix` on `auth/<mount>/login`.
pub fn destroy_secret_id(
    vault: &Vault,
    request: &ActionRequest,
) -> Result<ActionOutcome, ProviderError> {
    let accessor = &request.target.id;
    let (role, mount) = approle_of(vault, request)?;
    let role_path = ApiPath::new("auth")
        .segment(&mount)
        .then("role")
        .segment(&role)
        .then("secret-id-accessor");
    let body = json!({ "secret_id_accessor": accessor });
    let other_role = || {
        invalid(format!(
            "secret-id accessor {accessor} belongs to another AppRole role than `{role}` on \
             `{mount}`: it is still live; set the identity's attribute `role` (or the step's \
             param) to its role"
        ))
    };
    // `None`: the mount does not know the accessor (any more).
    let metadata = match vault.post(&role_path.clone().then("lookup"), body.clone()) {
        // The accessor exists on the mount, but under another role.
        Ok(response) if response.status == 204 || response.body.is_empty() => {
            return Err(other_role());
        }
        Ok(response) => Some(Vault::data(&response)?["metadata"].clone()),
        Err(CallError::Api(e)) if e.mentions("no handler for route") => {
            return Err(not_found(format!(
                "Vault has no auth mount `{mount}` (set the param `mount` or the config `approle_mount`)"
            )));
        }
        // AppRole answers an unknown role with a plain 500.
        Err(CallError::Api(e)) if e.mentions("does not exist") => {
            return Err(not_found(format!(
                "AppRole role `{role}` does not exist on mount `{mount}`"
            )));
        }
        // 404 since Vault 1.9, a plain 500 before. The accessor index is
        // per mount, so no role of the mount has it.
        Err(CallError::Api(e))
            if e.status == 404 || e.mentions("failed to find accessor entry") =>
        {
            None
        }
        Err(e) => return Err(e.into()),
    };
    let plan = if metadata.is_some() {
        Plan::change(format!(
            "destroy secret-id {accessor} of AppRole role {role} on {mount}"
        ))
    } else {
        Plan::done(format!(
            "mount {mount} has no secret-id with accessor {accessor}: it was destroyed \
             (or never existed: Vault does not tell)"
        ))
    };
    let outcome = converge(request, plan, || {
        match vault.post(&role_path.then("destroy"), body) {
            Ok(_) => Ok(Outcome::applied(format!(
                "destroyed secret-id {accessor} of AppRole role {role} on {mount}"
            ))),
            Err(CallError::Api(e)) if e.mentions("failed to find accessor entry") => {
                Ok(Outcome::already_applied(format!(
                    "secret-id {accessor} of role {role} was already destroyed"
                )))
            }
            Err(CallError::Api(e))
                if e.status == 403 && e.mentions("invalid secret id accessor") =>
            {
                Err(other_role())
            }
            Err(e) => Err(e.into()),
        }
    })?;
    let mut outcome = outcome
        .evidence("secret_id_accessor", accessor)
        .evidence("role", &role)
        .evidence("mount", &mount);
    match &metadata {
        None => outcome = outcome.evidence("vault_state", "unknown"),
        Some(meta) => {
            for (key, value) in meta.as_object().into_iter().flatten() {
                if let Some(value) = value.as_str() {
                    outcome = outcome.evidence(format!("metadata.{key}"), value);
                }
            }
        }
    }
    outcome.done()
}

/// `disable-entity` (`disabled = true`) and `enable-entity` (`false`).
///
/// A disabled entity's tokens are refused but not revoked: enabling it
/// again makes them work again, which is what makes this reversible.
pub fn set_entity_disabled(
    vault: &Vault,
    request: &ActionRequest,
    disabled: bool,
) -> Result<ActionOutcome, ProviderError> {
    let id = request
        .param("entity_id")
        .or_else(|| request.target.attribute("entity_id"))
        .unwrap_or(&request.target.id)
        .to_string();
    let entity = vault.entity(&id)?;
    let name = &entity.name;
    let (verb, state) = if disabled {
        ("disable", "disabled")
    } else {
        ("enable", "enabled")
    };
    let plan = if entity.disabled == disabled {
        Plan::done(format!("entity {name} ({id}) is already {state}"))
    } else {
        Plan::change(format!("{verb} entity {name} ({id})"))
    };
    let outcome = converge(request, plan, || {
        vault.set_entity_disabled(&id, disabled)?;
        Ok(Outcome::applied(if disabled {
            format!(
                "disabled entity {name} ({id}): its tokens are refused until it is enabled again"
            )
        } else {
            format!("enabled entity {name} ({id}): its tokens work again")
        }))
    })?;
    let mut outcome = outcome
        .evidence("entity_id", &id)
        .evidence("entity_name", name);
    if let Some(owner) = entity.metadata.get("owner") {
        outcome = outcome.evidence("owner", owner);
    }
    if disabled {
        outcome = outcome.restore("entity_id", &id);
    }
    outcome.done()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_prefix_loses_its_slashes_and_cannot_be_empty() {
        assert_eq!(
            lease_prefix("database/creds/agent-7/").unwrap(),
            "database/creds/agent-7"
        );
        assert_eq!(
            lease_prefix("/pki/issue/agent-9").unwrap(),
            "pki/issue/agent-9"
        );
        for everything in ["", "/", "//"] {
            assert!(matches!(
                lease_prefix(everything),
                Err(ProviderError::Invalid(_))
            ));
        }
    }
}
