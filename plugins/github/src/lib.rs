//! Cordon provider plugin for GitHub (github.com and Enterprise Server).
//!
//! Config: `api_url` (default `https://api.github.com`; Enterprise Server
//! `https://HOST/api/v3`), `enterprise_server` (default: whether `api_url`
//! ends in `/api/v3`), `oauth_client_id`. Secrets: `token` (a token of an
//! account that administers the repositories whose deploy keys it deletes
//! and, on Enterprise Server, a site administrator), `oauth_client_secret`.
//!
//! Quirks handled: github.com's credential revocation API refuses
//! authenticated calls (it is called without the token there) and allows 60
//! calls an hour (its 422 past that is a rate limit); a leaked token's
//! liveness is read by calling `GET /user` with it; a deploy key added back
//! gets a new id, and a missing one is told from a repository the token
//! cannot administer (GitHub answers 404 to both) by reading the key list;
//! GitHub refuses requests without a `User-Agent`; a 403 with
//! `retry-after` or a spent `x-ratelimit-remaining` is a rate limit (the
//! SDK waits as told).

mod actions;
mod client;

use client::GitHub;
use cordon_plugin_sdk::prelude::*;

struct GitHubPlugin;

/// Every action, described beside the function that runs it.
fn table() -> ActionTable<GitHub> {
    use IdentityKind::{AccessKey, Token, User};
    let spec = PluginSpec::new("github", env!("CARGO_PKG_VERSION"))
        .secret(
            "token",
            true,
            "token of a repository administrator (and, on Enterprise Server, a site administrator)",
        )
        .secret(
            "oauth_client_secret",
            false,
            "client secret of the OAuth app whose grants revoke-oauth-grant revokes",
        )
        .config(
            "api_url",
            false,
            "https://api.github.com (default) or https://HOST/api/v3",
        )
        .config(
            "enterprise_server",
            false,
            "true or false (default: whether api_url ends in /api/v3)",
        )
        .config("oauth_client_id", false, "client id of the OAuth app");
    ActionTable::new(spec)
        .action(
            Action::new("revoke-token", Effect::Revoke, &[Token], "revoke a leaked personal access token (the target) through GitHub's credential revocation API; GitHub notifies its owner"),
            actions::revoke_token,
        )
        .action(
            Action::new("delete-deploy-key", Effect::Revoke, &[AccessKey], "delete a repository's deploy key (the target, by id)")
                .param("repository", false, "owner/name (default: the target's attribute `repository`)")
                .restored_by("restore-deploy-key"),
            actions::delete_deploy_key,
        )
        .action(
            Action::new("restore-deploy-key", Effect::Restore, &[AccessKey], "add a deleted deploy key back (it gets a new id)")
                .param("repository", false, "owner/name")
                .param("key", true, "the public key")
                .param("title", false, "its title")
                .param("read_only", false, "true (default) or false"),
            actions::restore_deploy_key,
        )
        .action(
            Action::new("suspend-user", Effect::Quarantine, &[User], "suspend a user on GitHub Enterprise Server (the target, by login)")
                .restored_by("unsuspend-user"),
            |gh, request| actions::set_suspended(gh, request, true),
        )
        .action(
            Action::new("unsuspend-user", Effect::Restore, &[User], "unsuspend a user on GitHub Enterprise Server")
                .param("login", false, "the user (default: the target)"),
            |gh, request| actions::set_suspended(gh, request, false),
        )
        .action(
            Action::new("revoke-oauth-grant", Effect::Revoke, &[Token], "revoke a user's grant of the configured OAuth app, found by one of its tokens (the target): every token of theirs for the app"),
            actions::revoke_oauth_grant,
        )
}

impl Provider for GitHubPlugin {
    fn describe() -> PluginInfo {
        table().describe()
    }

    fn execute(request: ActionRequest) -> Result<ActionOutcome, ProviderError> {
        table().execute(&request, GitHub::from_settings)
    }

    fn inspect(target: Identity) -> Result<IdentityFacts, ProviderError> {
        let gh = GitHub::from_settings()?;
        let mut attributes = Vec::new();
        let owner = match target.kind {
            IdentityKind::User => {
                let (login, suspended_at, site_admin) = gh.user(&target.id)?;
                attributes.push(("site_admin".to_string(), site_admin.to_string()));
                if let Some(at) = suspended_at {
                    attributes.push(("suspended_at".to_string(), at));
                }
                Some(login)
            }
            IdentityKind::Token => {
                redact(&target.id);
                attributes.push(("token_type".into(), actions::token_kind(&target.id)?.into()));
                gh.token_owner(&target.id)?
            }
            _ => {
                return Err(ProviderError::Unsupported(
                    "the GitHub plugin inspects users and tokens".into(),
                ));
            }
        };
        Ok(IdentityFacts {
            owner,
            workload: None,
            issuer: Some(
                if gh.enterprise {
                    "github-enterprise-server"
                } else {
                    "github.com"
                }
                .into(),
            ),
            used_by: None,
            attributes,
        })
    }
}

cordon_plugin_sdk::export_provider!(GitHubPlugin);

#[cfg(test)]
mod table_tests {
    #[test]
    fn the_action_table_is_consistent() {
        assert_eq!(super::table().check(), Ok(()));
    }
}
