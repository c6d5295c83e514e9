//! The AWS actions. Each reads what it needs first, so a repeat reports
//! `already-applied` and a dry run can say exactly what it would do.

use crate::iam::{self, CallError, Iam};
use cordon_plugin_sdk::prelude::*;
use cordon_plugin_sdk::time::UtcTime;

/// The inline policy that fences a user or role.
pub const QUARANTINE_POLICY: &str = "CordonQuarantine";
/// The inline policy AWS documents for revoking a role's older sessions.
pub const REVOKE_SESSIONS_POLICY: &str = "AWSRevokeOlderSessions";

const DENY_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"CordonQuarantine","Effect":"Deny","Action":"*","Resource":"*"}]}"#;

fn revoke_older_sessions(now: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Action":["*"],"Resource":["*"],"Condition":{{"DateLessThan":{{"aws:TokenIssueTime":"{now}"}}}}}}]}}"#
    )
}

/// The user an access key belongs to: the signal's `user` attribute, or IAM's answer.
pub fn owner_of_key(iam: &Iam, key: &Identity) -> Result<String, ProviderError> {
    if let Some(user) = key.attribute("user") {
        return Ok(user.to_string());
    }
    let xml = iam
        .call("GetAccessKeyLastUsed", &[("AccessKeyId", &key.id)])
        .map_err(|e| match e {
            e if e.is_no_such_entity() => {
                not_found(format!("access key {} does not exist", key.id))
            }
            e => e.into(),
        })?;
    iam::first_text(&xml, "UserName").ok_or_else(|| {
        not_found(format!(
            "IAM did not say which user owns access key {}",
            key.id
        ))
    })
}

/// The status (`Active`/`Inactive`) of `key_id` of `user`.
fn key_status(iam: &Iam, user: &str, key_id: &str) -> Result<String, ProviderError> {
    let xml = iam.call("ListAccessKeys", &[("UserName", user), ("MaxItems", "100")])?;
    iam::access_keys(&xml)
        .into_iter()
        .find(|(id, _)| id == key_id)
        .map(|(_, status)| status)
        .ok_or_else(|| {
            not_found(format!(
                "access key {key_id} does not belong to user {user}"
            ))
        })
}

/// The user a `user` or `access-key` target names.
fn user_of(iam: &Iam, target: &Identity) -> Result<String, ProviderError> {
    match target.kind {
        IdentityKind::User => Ok(target.id.clone()),
        IdentityKind::AccessKey => owner_of_key(iam, target),
        other => Err(invalid(format!(
            "a {other:?} target does not name an IAM user"
        ))),
    }
}

/// `deactivate-access-key` and `reactivate-access-key`.
pub fn set_key_status(
    iam: &Iam,
    request: &ActionRequest,
    wanted: &str,
) -> Result<ActionOutcome, ProviderError> {
    let key = &request.target;
    let user = match request.param("user") {
        Some(user) => user.to_string(),
        None => owner_of_key(iam, key)?,
    };
    let current = key_status(iam, &user, &key.id)?;
    let verb = if wanted == "Inactive" {
        "deactivate"
    } else {
        "reactivate"
    };
    let plan = if current == wanted {
        Plan::done(format!(
            "access key {} of user {user} is already {wanted}",
            key.id
        ))
    } else {
        Plan::change(format!(
            "{verb} access key {} of user {user} (now {current})",
            key.id
        ))
    };
    let outcome = converge(request, plan, || {
        iam.call(
            "UpdateAccessKey",
            &[
                ("AccessKeyId", &key.id),
                ("Status", wanted),
                ("UserName", &user),
            ],
        )?;
        Ok(Outcome::applied(format!(
            "{verb}d access key {} of user {user}",
            key.id
        )))
    })?;
    outcome
        .evidence("user", &user)
        .evidence("previous_status", &current)
        .restore("user", &user)
        .done()
}

/// `delete-access-key`: not reversible; a key already gone is already applied.
///
/// A real run reads only the key's owner: the delete itself says whether the
/// key was still there. A dry run also lists the user's keys, so that it
/// fails on a key that does not exist rather than planning to delete it.
pub fn delete_key(iam: &Iam, request: &ActionRequest) -> Result<ActionOutcome, ProviderError> {
    let key = &request.target;
    let user = match owner_of_key(iam, key) {
        Ok(user) => user,
        // Deleted keys are unknown to GetAccessKeyLastUsed: a repeat lands here.
        Err(ProviderError::NotFound(_)) if !request.dry_run => {
            return Outcome::already_applied(format!("access key {} no longer exists", key.id))
                .done();
        }
        Err(e) => return Err(e),
    };
    if request.dry_run {
        key_status(iam, &user, &key.id)?;
    }
    let plan = Plan::change(format!("delete access key {} of user {user}", key.id));
    let outcome = converge(request, plan, || {
        match iam.call(
            "DeleteAccessKey",
            &[("AccessKeyId", &key.id), ("UserName", &user)],
        ) {
            Ok(_) => Ok(Outcome::applied(format!(
                "deleted access key {} of user {user}",
                key.id
            ))),
            Err(e) if e.is_no_such_entity() => Ok(Outcome::already_applied(format!(
                "access key {} of user {user} was already deleted",
                key.id
            ))),
            Err(e) => Err(e.into()),
        }
    })?;
    outcome.evidence("user", &user).done()
}

/// `delete-login-profile`: removes the console password; not reversible.
pub fn delete_login_profile(
    iam: &Iam,
    request: &ActionRequest,
) -> Result<ActionOutcome, ProviderError> {
    let user = &request.target.id;
    let has_profile = match iam.call("GetLoginProfile", &[("UserName", user)]) {
        Ok(_) => true,
        Err(e) if e.is_no_such_entity() => {
            // Either the user has no console password, or there is no such user.
            iam.call("GetUser", &[("UserName", user)])
                .map_err(|e| match e {
                    e if e.is_no_such_entity() => {
                        not_found(format!("IAM user {user} does not exist"))
                    }
                    e => e.into(),
                })?;
            false
        }
        Err(e) => return Err(e.into()),
    };
    let plan = if has_profile {
        Plan::change(format!("delete the console password of user {user}"))
    } else {
        Plan::done(format!("user {user} has no console password"))
    };
    converge(request, plan, || {
        match iam.call("DeleteLoginProfile", &[("UserName", user)]) {
            Ok(_) => Ok(Outcome::applied(format!(
                "deleted the console password of user {user}"
            ))),
            Err(e) if e.is_no_such_entity() => Ok(Outcome::already_applied(format!(
                "user {user} has no console password"
            ))),
            Err(e) => Err(e.into()),
        }
    })?
    .done()
}

/// Whether `principal` (a user or role) has the inline policy `policy`.
fn has_inline_policy(
    iam: &Iam,
    kind: Principal,
    name: &str,
    policy: &str,
) -> Result<bool, ProviderError> {
    match iam.call(
        kind.get_policy(),
        &[(kind.name_param(), name), ("PolicyName", policy)],
    ) {
        Ok(_) => Ok(true),
        Err(e) if e.is_no_such_entity() => {
            // No such policy, or no such principal: tell them apart.
            iam.call(kind.get(), &[(kind.name_param(), name)])
                .map_err(|e| match e {
                    e if e.is_no_such_entity() => {
                        not_found(format!("IAM {} {name} does not exist", kind.noun()))
                    }
                    e => e.into(),
                })?;
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// IAM users and roles take the same policy calls under different names.
#[derive(Clone, Copy)]
pub enum Principal {
    User,
    Role,
}

impl Principal {
    fn noun(self) -> &'static str {
        match self {
            Principal::User => "user",
            Principal::Role => "role",
        }
    }
    fn name_param(self) -> &'static str {
        match self {
            Principal::User => "UserName",
            Principal::Role => "RoleName",
        }
    }
    fn get(self) -> &'static str {
        match self {
            Principal::User => "GetUser",
            Principal::Role => "GetRole",
        }
    }
    fn get_policy(self) -> &'static str {
        match self {
            Principal::User => "GetUserPolicy",
            Principal::Role => "GetRolePolicy",
        }
    }
    fn put_policy(self) -> &'static str {
        match self {
            Principal::User => "PutUserPolicy",
            Principal::Role => "PutRolePolicy",
        }
    }
    fn delete_policy(self) -> &'static str {
        match self {
            Principal::User => "DeleteUserPolicy",
            Principal::Role => "DeleteRolePolicy",
        }
    }
}

/// `quarantine-user` / `quarantine-role`: the deny-all inline policy.
pub fn quarantine(
    iam: &Iam,
    request: &ActionRequest,
    kind: Principal,
) -> Result<ActionOutcome, ProviderError> {
    let name = match kind {
        Principal::User => user_of(iam, &request.target)?,
        Principal::Role => request.target.id.clone(),
    };
    let noun = kind.noun();
    let plan = if has_inline_policy(iam, kind, &name, QUARANTINE_POLICY)? {
        Plan::done(format!(
            "{noun} {name} is already fenced by {QUARANTINE_POLICY}"
        ))
    } else {
        Plan::change(format!(
            "fence {noun} {name} with the deny-all policy {QUARANTINE_POLICY}"
        ))
    };
    let outcome = converge(request, plan, || {
        iam.call(
            kind.put_policy(),
            &[
                (kind.name_param(), &name),
                ("PolicyName", QUARANTINE_POLICY),
                ("PolicyDocument", DENY_ALL),
            ],
        )?;
        Ok(Outcome::applied(format!(
            "fenced {noun} {name} with the deny-all policy {QUARANTINE_POLICY}"
        )))
    })?;
    outcome
        .evidence(noun, &name)
        .evidence("policy", QUARANTINE_POLICY)
        .restore(noun, &name)
        .done()
}

/// `release-user` / `release-role`: removes the fence.
pub fn release(
    iam: &Iam,
    request: &ActionRequest,
    kind: Principal,
) -> Result<ActionOutcome, ProviderError> {
    let noun = kind.noun();
    let name = match (request.param(noun), kind) {
        (Some(name), _) => name.to_string(),
        (None, Principal::User) => user_of(iam, &request.target)?,
        (None, Principal::Role) => request.target.id.clone(),
    };
    let plan = if has_inline_policy(iam, kind, &name, QUARANTINE_POLICY)? {
        Plan::change(format!("remove {QUARANTINE_POLICY} from {noun} {name}"))
    } else {
        Plan::done(format!("{noun} {name} is not fenced"))
    };
    converge(request, plan, || {
        match iam.call(
            kind.delete_policy(),
            &[
                (kind.name_param(), &name),
                ("PolicyName", QUARANTINE_POLICY),
            ],
        ) {
            Ok(_) => Ok(Outcome::applied(format!(
                "removed {QUARANTINE_POLICY} from {noun} {name}"
            ))),
            Err(e) if e.is_no_such_entity() => Ok(Outcome::already_applied(format!(
                "{noun} {name} is not fenced"
            ))),
            Err(e) => Err(e.into()),
        }
    })?
    .done()
}

/// `revoke-role-sessions`: denies every session issued before now.
///
/// Each run moves the cut-off to its own "now", so there is never an
/// `already-applied`: a repeat revokes the sessions issued since.
pub fn revoke_role_sessions(
    iam: &Iam,
    request: &ActionRequest,
) -> Result<ActionOutcome, ProviderError> {
    let role = &request.target.id;
    iam.call("GetRole", &[("RoleName", role)])
        .map_err(|e| match e {
            e if e.is_no_such_entity() => not_found(format!("IAM role {role} does not exist")),
            e => CallError::into(e),
        })?;
    let plan = Plan::change(format!("deny sessions of role {role} issued before now"));
    converge(request, plan, || {
        let now = UtcTime::now().rfc3339();
        iam.call(
            "PutRolePolicy",
            &[
                ("RoleName", role),
                ("PolicyName", REVOKE_SESSIONS_POLICY),
                ("PolicyDocument", &revoke_older_sessions(&now)),
            ],
        )?;
        // Only a real run has a cut-off to report.
        Ok(Outcome::applied(format!(
            "denied every session of role {role} issued before {now}"
        ))
        .evidence("role", role)
        .evidence("revoked_before", &now))
    })?
    .done()
}

/// `inspect`: who owns the identity, which workload uses it, which account issued it.
pub fn inspect(iam: &Iam, target: &Identity) -> Result<IdentityFacts, ProviderError> {
    let mut attributes = Vec::new();
    let (principal, name) = match target.kind {
        IdentityKind::Role => (Principal::Role, target.id.clone()),
        IdentityKind::User => (Principal::User, target.id.clone()),
        IdentityKind::AccessKey => {
            let user = owner_of_key(iam, target)?;
            attributes.push(("user".to_string(), user.clone()));
            if let Ok(xml) = iam.call("GetAccessKeyLastUsed", &[("AccessKeyId", &target.id)]) {
                for field in ["ServiceName", "Region", "LastUsedDate"] {
                    if let Some(value) = iam::first_text(&xml, field) {
                        attributes
                            .push((format!("last_used_{}", field.to_ascii_lowercase()), value));
                    }
                }
            }
            (Principal::User, user)
        }
        other => {
            return Err(ProviderError::Unsupported(format!(
                "cannot inspect a {other:?} in IAM"
            )));
        }
    };
    let xml = iam
        .call(principal.get(), &[(principal.name_param(), &name)])
        .map_err(|e| match e {
            e if e.is_no_such_entity() => {
                not_found(format!("IAM {} {name} does not exist", principal.noun()))
            }
            e => e.into(),
        })?;
    let tags = iam::tags(&xml);
    let tag = |key: &str| tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let arn = iam::first_text(&xml, "Arn").unwrap_or_default();
    let account = arn.split(':').nth(4).unwrap_or("unknown").to_string();
    attributes.push(("arn".to_string(), arn));
    attributes.extend(tags.iter().map(|(k, v)| (format!("tag:{k}"), v.clone())));
    Ok(IdentityFacts {
        owner: tag("owner"),
        workload: tag("workload"),
        issuer: Some(format!("aws-iam:{account}")),
        used_by: tag("used-by").as_deref().and_then(UsedBy::parse),
        attributes,
    })
}
