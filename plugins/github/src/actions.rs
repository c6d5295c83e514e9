//! The actions: read, plan, then apply. A leaked token is the target of
//! `revoke-token` and `revoke-oauth-grant`; it is handed to the host's
//! `redact` first and only ever named by its fingerprint.

use crate::client::{DeployKey, GitHub, Repo};
use cordon_plugin_sdk::encoding::fingerprint;
use cordon_plugin_sdk::prelude::*;

/// What kind of GitHub credential a value is, from its prefix.
pub fn token_kind(token: &str) -> Result<&'static str, ProviderError> {
    if token.starts_with("ghp_") {
        Ok("classic personal access")
    } else if token.starts_with("github_pat_") {
        Ok("fine-grained personal access")
    } else if token.starts_with("gho_") {
        Ok("OAuth")
    } else {
        Err(invalid(format!(
            "target {} is not a GitHub token (ghp_…, github_pat_… or gho_…)",
            fingerprint(token)
        )))
    }
}

/// `revoke-token`: a leaked personal access token, through the credential
/// revocation API. GitHub cannot reactivate it: not reversible.
pub fn revoke_token(gh: &GitHub, request: &ActionRequest) -> Result<ActionOutcome, ProviderError> {
    let token = request.target.id.as_str();
    redact(token);
    let kind = token_kind(token)?;
    if kind == "OAuth" && gh.enterprise {
        return Err(ProviderError::Unsupported(
            "Enterprise Server's revocation API takes personal access tokens only: use revoke-oauth-grant".into(),
        ));
    }
    let print = fingerprint(token);
    let owner = gh.token_owner(token)?;
    let plan = match &owner {
        None => Plan::done(format!("the {kind} token {print} no longer works")),
        Some(login) => Plan::change(format!("revoke {login}'s {kind} token {print}")),
    };
    let whose = owner.clone().unwrap_or_else(|| "its owner".into());
    let mut outcome = converge(request, plan, || {
        gh.revoke_credential(token)?;
        Ok(Outcome::applied(format!(
            "revoked {whose}'s {kind} token {print}"
        )))
    })?
    .evidence("token_type", kind)
    .evidence("fingerprint", &print);
    if let Some(login) = owner {
        outcome = outcome.evidence("owner", login);
    }
    outcome.done()
}

fn key_id(request: &ActionRequest) -> Result<&str, ProviderError> {
    let id = request.target.id.as_str();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(format!(
            "target `{id}` is not a deploy key id (digits)"
        )));
    }
    Ok(id)
}

fn repository(request: &ActionRequest) -> Result<Repo, ProviderError> {
    Repo::parse(
        request
            .param("repository")
            .or(request.target.attribute("repository")),
    )
}

/// `delete-deploy-key`: restored by `restore-deploy-key` with the public key.
pub fn delete_deploy_key(
    gh: &GitHub,
    request: &ActionRequest,
) -> Result<ActionOutcome, ProviderError> {
    let (repo, id) = (repository(request)?, key_id(request)?);
    let name = repo.full_name();
    let key = gh.deploy_key(&repo, id)?;
    let plan = match &key {
        None => Plan::done(format!("deploy key {id} is not on {name}")),
        Some(k) => Plan::change(format!("delete deploy key {id} ({}) of {name}", k.title)),
    };
    // What restore-deploy-key needs: gone from GitHub once the key is.
    let keep = |outcome: Outcome| match &key {
        Some(key) => outcome
            .evidence("repository", &name)
            .evidence("title", &key.title)
            .evidence("read_only", key.read_only.to_string())
            .restore("repository", &name)
            .restore("title", &key.title)
            .restore("key", &key.key)
            .restore("read_only", key.read_only.to_string()),
        None => outcome.evidence("repository", &name),
    };
    let outcome = converge(request, plan, || {
        keep(Outcome::applied("")).checkpoint()?;
        Ok(if gh.delete_deploy_key(&repo, id)? {
            Outcome::applied(format!("deleted deploy key {id} of {name}"))
        } else {
            Outcome::already_applied(format!("deploy key {id} was deleted meanwhile"))
        })
    })?;
    keep(outcome).done()
}

/// The `read_only` parameter: `true` (also when absent) or `false`.
fn read_only(value: Option<&str>) -> Result<bool, ProviderError> {
    match value.map(str::trim) {
        None | Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(invalid(format!(
            "parameter `read_only` is `{other}`: use true or false"
        ))),
    }
}

/// `restore-deploy-key`: adds the key back (GitHub gives it a new id).
pub fn restore_deploy_key(
    gh: &GitHub,
    request: &ActionRequest,
) -> Result<ActionOutcome, ProviderError> {
    let repo = repository(request)?;
    let name = repo.full_name();
    let wanted = DeployKey {
        id: 0,
        title: request
            .param("title")
            .unwrap_or("restored by Cordon")
            .to_string(),
        key: request.require_param("key")?.to_string(),
        read_only: read_only(request.param("read_only"))?,
    };
    let present = gh
        .deploy_keys(&repo)?
        .into_iter()
        .find(|k| k.key == wanted.key);
    let plan = match &present {
        Some(k) => Plan::done(format!(
            "the key is on {name} already (deploy key {})",
            k.id
        )),
        None => Plan::change(format!("add deploy key {} back to {name}", wanted.title)),
    };
    converge(request, plan, || {
        Ok(match gh.add_deploy_key(&repo, &wanted)? {
            Some(id) => {
                Outcome::applied(format!("added deploy key {} back to {name}", wanted.title))
                    .evidence("deploy_key_id", id.to_string())
            }
            None => Outcome::already_applied(format!("the key was added to {name} meanwhile")),
        })
    })?
    .evidence("repository", &name)
    .done()
}

/// What suspending (or unsuspending) a user whose `suspended_at` is as read
/// would do.
fn suspension_plan(login: &str, suspended_at: Option<&str>, suspend: bool) -> Plan {
    match (suspended_at, suspend) {
        (Some(at), true) => Plan::done(format!("user {login} is already suspended (since {at})")),
        (None, false) => Plan::done(format!("user {login} is not suspended")),
        (None, true) => Plan::change(format!("suspend user {login}")),
        (Some(_), false) => Plan::change(format!("unsuspend user {login}")),
    }
}

/// `suspend-user` / `unsuspend-user` (Enterprise Server).
pub fn set_suspended(
    gh: &GitHub,
    request: &ActionRequest,
    suspend: bool,
) -> Result<ActionOutcome, ProviderError> {
    if !gh.enterprise {
        return Err(ProviderError::Unsupported(
            "github.com has no user suspension: it is a GitHub Enterprise Server action (api_url https://HOST/api/v3)".into(),
        ));
    }
    let login = if suspend {
        request.target.id.as_str()
    } else {
        request.param_or_target("login")
    };
    let (login, suspended_at, _) = gh.user(login)?;
    let plan = suspension_plan(&login, suspended_at.as_deref(), suspend);
    let verb = if suspend { "suspended" } else { "unsuspended" };
    let outcome = converge(request, plan, || {
        gh.set_suspended(&login, suspend)?;
        Ok(Outcome::applied(format!("{verb} user {login}")))
    })?
    .evidence("login", &login);
    if suspend {
        outcome.restore("login", &login)
    } else {
        outcome
    }
    .done()
}

/// `revoke-oauth-grant`: the user's grant of the configured OAuth app, which
/// revokes every token of theirs for it.
pub fn revoke_oauth_grant(
    gh: &GitHub,
    request: &ActionRequest,
) -> Result<ActionOutcome, ProviderError> {
    let token = request.target.id.as_str();
    redact(token);
    let print = fingerprint(token);
    let user = gh.oauth_token_user(token)?;
    let plan = match &user {
        None => Plan::done(format!("OAuth token {print} is no longer the app's")),
        Some(login) => Plan::change(format!(
            "revoke {login}'s grant of the OAuth app (token {print})"
        )),
    };
    let whose = user.clone().unwrap_or_else(|| "the user".into());
    let mut outcome = converge(request, plan, || {
        Ok(if gh.delete_oauth_grant(token)? {
            Outcome::applied(format!(
                "revoked {whose}'s grant of the OAuth app (token {print})"
            ))
        } else {
            Outcome::already_applied(format!("token {print} was revoked meanwhile"))
        })
    })?
    .evidence("fingerprint", &print);
    if let Some(login) = user {
        outcome = outcome.evidence("owner", login);
    }
    outcome.done()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_told_apart_by_prefix_and_never_shown() {
        assert_eq!(token_kind("ghp_abc").unwrap(), "classic personal access");
        assert_eq!(
            token_kind("github_pat_abc").unwrap(),
            "fine-grained personal access"
        );
        assert_eq!(token_kind("gho_abc").unwrap(), "OAuth");
        let err = format!("{:?}", token_kind("AKIAIOSFODNN7EXAMPLE").unwrap_err());
        assert!(!err.contains("AKIAIOSFODNN7EXAMPLE"), "{err}");
        assert!(err.contains("sha256:"), "{err}");
    }

    fn request(id: &str, params: &[(&str, &str)]) -> ActionRequest {
        ActionRequest {
            action: "delete-deploy-key".into(),
            target: Identity {
                provider: "github".into(),
                kind: IdentityKind::AccessKey,
                id: id.into(),
                attributes: vec![("repository".into(), "acme/from-signal".into())],
            },
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            idempotency_key: "k".into(),
            dry_run: false,
        }
    }

    #[test]
    fn deploy_key_ids_are_digits_and_the_repository_param_wins() {
        assert_eq!(key_id(&request("42", &[])).unwrap(), "42");
        for bad in ["", "12ab", "../1", "-1"] {
            let err = format!("{:?}", key_id(&request(bad, &[])).unwrap_err());
            assert!(err.contains("not a deploy key id"), "{bad}: {err}");
        }
        let from_attribute = repository(&request("1", &[])).unwrap();
        assert_eq!(from_attribute.full_name(), "acme/from-signal");
        let from_param = repository(&request("1", &[("repository", "acme/x")])).unwrap();
        assert_eq!(from_param.full_name(), "acme/x");
    }

    #[test]
    fn read_only_is_true_unless_false_and_nothing_else() {
        assert!(read_only(None).unwrap());
        assert!(read_only(Some("true")).unwrap());
        assert!(!read_only(Some("false")).unwrap());
        let err = format!("{:?}", read_only(Some("no")).unwrap_err());
        assert!(err.contains("parameter `read_only`"), "{err}");
    }

    #[test]
    fn suspension_plans_follow_suspended_at() {
        let at = Some("2026-01-01T00:00:00Z");
        assert!(
            matches!(suspension_plan("dev", at, true), Plan::Done(d) if d.contains("already suspended"))
        );
        assert!(
            matches!(suspension_plan("dev", None, false), Plan::Done(d) if d.contains("not suspended"))
        );
        assert_eq!(
            suspension_plan("dev", None, true),
            Plan::change("suspend user dev")
        );
        assert_eq!(
            suspension_plan("dev", at, false),
            Plan::change("unsuspend user dev")
        );
    }
}
