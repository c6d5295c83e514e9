//! The Okta actions. Okta's user lifecycle is not idempotent (suspend only
//! works on ACTIVE users, unsuspend only on SUSPENDED ones), so each action
//! reads the current state first: a repeat reports `already-applied` and a
//! dry run can say exactly what it would do.

use crate::client::{Okta, User};
use cordon_plugin_sdk::prelude::*;

/// What a lifecycle action wants.
#[derive(Clone, Copy)]
pub enum Lifecycle {
    Suspend,
    Unsuspend,
}

impl Lifecycle {
    fn from(self) -> &'static str {
        match self {
            Lifecycle::Suspend => "ACTIVE",
            Lifecycle::Unsuspend => "SUSPENDED",
        }
    }
    fn to(self) -> &'static str {
        match self {
            Lifecycle::Suspend => "SUSPENDED",
            Lifecycle::Unsuspend => "ACTIVE",
        }
    }
    fn verb(self) -> &'static str {
        match self {
            Lifecycle::Suspend => "suspend",
            Lifecycle::Unsuspend => "unsuspend",
        }
    }
}

fn user_evidence(outcome: Outcome, user: &User) -> Outcome {
    outcome
        .evidence("user_id", &user.id)
        .evidence("login", &user.login)
}

/// `suspend-user` and `unsuspend-user`.
pub fn set_suspended(
    okta: &Okta,
    request: &ActionRequest,
    change: Lifecycle,
) -> Result<ActionOutcome, ProviderError> {
    let key = match change {
        Lifecycle::Suspend => request.target.id.as_str(),
        Lifecycle::Unsuspend => request.param_or_target("user_id"),
    };
    let user = okta.user(key)?;
    let (login, verb) = (&user.login, change.verb());
    if user.status != change.to() && user.status != change.from() {
        return Err(invalid(format!(
            "Okta can only {verb} {} users, and user {login} is {}{}",
            change.from(),
            user.status,
            match (change, user.status.as_str()) {
                (Lifecycle::Suspend, "DEPROVISIONED") => ": it is deactivated already",
                (Lifecycle::Suspend, "LOCKED_OUT" | "PASSWORD_EXPIRED" | "RECOVERY") => {
                    ": clear its sessions, or deactivate it in Okta"
                }
                _ => "",
            }
        )));
    }
    let plan = if user.status == change.to() {
        Plan::done(format!("user {login} is already {}", change.to()))
    } else {
        Plan::change(format!("{verb} user {login} (now {})", user.status))
    };
    let outcome = converge(request, plan, || {
        let path = Okta::user_path(&user.id).then("lifecycle").then(verb);
        match okta.api().post_empty(&path) {
            Ok(_) => Ok(Outcome::applied(format!("{verb}ed user {login}"))),
            // Okta refuses a transition from the wrong state with 400
            // E0000001: someone may have been faster. Read again.
            Err(CallError::Api(e)) if e.status == 400 => {
                let now = okta.user(&user.id)?;
                if now.status != change.to() {
                    return Err(e.into());
                }
                Ok(Outcome::already_applied(format!(
                    "user {login} is already {} (changed meanwhile)",
                    change.to()
                )))
            }
            Err(e) => Err(e.into()),
        }
    })?;
    let mut outcome = user_evidence(outcome, &user).evidence("previous_status", &user.status);
    if matches!(change, Lifecycle::Suspend) {
        outcome = outcome.restore("user_id", &user.id);
    }
    outcome.done()
}

/// The user a session or user target names.
fn user_of(okta: &Okta, request: &ActionRequest) -> Result<User, ProviderError> {
    let target = &request.target;
    let key = match target.kind {
        IdentityKind::Session => request
            .param("user")
            .or_else(|| target.attribute("user"))
            .or_else(|| target.attribute("user_id"))
            .ok_or_else(|| {
                invalid(format!(
                    "session {} names no user: set its attribute `user` (id or login) or the step's param `user`",
                    target.id
                ))
            })?,
        _ => target.id.as_str(),
    };
    okta.user(key)
}

/// `clear-sessions`: ends every SSO session of a user and revokes the OAuth
/// tokens issued to it (`oauthTokens=true`, unless param `oauth_tokens` is
/// `false`). A session target clears its user's sessions: Okta offers no way
/// to list them, and a hijacked session makes the others suspect too.
///
/// Okta cannot list a user's sessions, so there is nothing to read first
/// (and no `Plan` to make): the call is idempotent and always reports
/// `applied`.
pub fn clear_sessions(
    okta: &Okta,
    request: &ActionRequest,
) -> Result<ActionOutcome, ProviderError> {
    let user = user_of(okta, request)?;
    let oauth = request.param("oauth_tokens") != Some("false");
    let what = if oauth {
        "SSO sessions and OAuth tokens"
    } else {
        "SSO sessions"
    };
    let login = &user.login;
    let outcome = if request.dry_run {
        Outcome::planned(format!("would end every {what} of user {login}"))
    } else {
        let path = Okta::user_path(&user.id)
            .then("sessions")
            .query("oauthTokens", if oauth { "true" } else { "false" });
        okta.api().delete(&path)?;
        Outcome::applied(format!("ended every {what} of user {login}"))
    };
    let mut outcome =
        user_evidence(outcome, &user).evidence("oauth_tokens_revoked", oauth.to_string());
    if request.target.kind == IdentityKind::Session {
        outcome = outcome.evidence("session_id", &request.target.id);
    }
    outcome.done()
}

/// `revoke-grants`: revokes every OAuth consent grant of a user.
pub fn revoke_grants(okta: &Okta, request: &ActionRequest) -> Result<ActionOutcome, ProviderError> {
    let user = okta.user(&request.target.id)?;
    let path = Okta::user_path(&user.id).then("grants");
    let grants = okta.api().get(&path)?.json()?;
    let mut clients: Vec<String> = grants
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|g| g["clientId"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let count = grants.as_array().map_or(0, Vec::len);
    clients.sort();
    clients.dedup();
    let login = &user.login;
    let plan = if count == 0 {
        Plan::done(format!("user {login} has no OAuth grants"))
    } else {
        Plan::change(format!("revoke {count} OAuth grant(s) of user {login}"))
    };
    let outcome = converge(request, plan, || {
        okta.api().delete(&path)?;
        Ok(Outcome::applied(format!(
            "revoked {count} OAuth grant(s) of user {login}"
        )))
    })?;
    let mut outcome = user_evidence(outcome, &user).evidence("grants", count.to_string());
    if !clients.is_empty() {
        outcome = outcome.evidence("clients", clients.join(","));
    }
    outcome.done()
}

/// `deactivate-app` (`INACTIVE`) and `activate-app` (`ACTIVE`).
pub fn set_app_status(
    okta: &Okta,
    request: &ActionRequest,
    active: bool,
) -> Result<ActionOutcome, ProviderError> {
    let id = request.param_or_target("app_id");
    let app = okta.app(id)?;
    let (wanted, verb) = if active {
        ("ACTIVE", "activate")
    } else {
        ("INACTIVE", "deactivate")
    };
    let label = &app.label;
    let plan = if app.status == wanted {
        Plan::done(format!("app {label} ({id}) is already {wanted}"))
    } else {
        Plan::change(format!("{verb} app {label} ({id}), now {}", app.status))
    };
    let outcome = converge(request, plan, || {
        let path = ApiPath::new("api/v1/apps")
            .segment(&app.id)
            .then("lifecycle")
            .then(verb);
        okta.api().post_empty(&path)?;
        Ok(Outcome::applied(if active {
            format!("activated app {label} ({id})")
        } else {
            format!("deactivated app {label} ({id}): its clients can no longer get tokens")
        }))
    })?;
    let mut outcome = outcome
        .evidence("app_id", &app.id)
        .evidence("label", label)
        .evidence("previous_status", &app.status);
    if let Some(client_id) = &app.client_id {
        outcome = outcome.evidence("client_id", client_id);
    }
    if !active {
        outcome = outcome.restore("app_id", &app.id);
    }
    outcome.done()
}

/// `revoke-api-token`: revokes an API token (SSWS) by its id. Okta forgets
/// revoked tokens, so an unknown id is `already-applied` (it cannot tell
/// "revoked" from "never existed"). Revoking the token this plugin uses
/// locks Cordon out of Okta.
pub fn revoke_api_token(
    okta: &Okta,
    request: &ActionRequest,
) -> Result<ActionOutcome, ProviderError> {
    let id = &request.target.id;
    let Some(token) = okta.api_token(id)? else {
        return Outcome::already_applied(format!(
            "Okta does not know API token {id}: it was revoked (or never existed: Okta does not tell)"
        ))
        .evidence("token_id", id)
        .evidence("okta_state", "unknown")
        .done();
    };
    let name = token["name"].as_str().unwrap_or("(unnamed)").to_string();
    let owner = token["userId"].as_str().unwrap_or_default().to_string();
    let plan = Plan::change(format!("revoke API token {name} ({id}) of user {owner}"));
    let outcome = converge(request, plan, || {
        match okta
            .api()
            .delete(&ApiPath::new("api/v1/api-tokens").segment(id))
        {
            Ok(_) => Ok(Outcome::applied(format!(
                "revoked API token {name} ({id}) of user {owner}"
            ))),
            Err(CallError::Api(e)) if e.status == 404 => Ok(Outcome::already_applied(format!(
                "API token {name} ({id}) was already revoked"
            ))),
            Err(e) => Err(e.into()),
        }
    })?;
    // Okta forgets a revoked token: keep who issued it for the report.
    outcome
        .evidence("token_id", id)
        .evidence("name", name)
        .evidence("user_id", owner)
        .evidence("issuer", okta.issuer())
        .done()
}
