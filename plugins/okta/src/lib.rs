//! Cordon provider plugin for Okta (Management API).
//!
//! Config: `org_url` (required, e.g. `https://example.okta.com`),
//! `auth_scheme` (`SSWS`, the default, or `Bearer` for an OAuth access token
//! of a service app). Secret: `api_token`. An API token acts with its
//! admin's rights: give it to an admin holding only what the actions need
//! (user lifecycle, sessions, grants, app lifecycle, API tokens).
//!
//! Quirks handled: the user lifecycle is not idempotent (states are read
//! first); Okta forgets revoked API tokens (an unknown one is
//! `already-applied`); every response announces the rate-limit budget
//! (`X-Rate-Limit-Remaining`, `X-Rate-Limit-Reset`): a 429 carries no
//! `Retry-After`, so the host waits until the reset, and a call that has spent
//! the budget does not send requests Okta would refuse.

mod actions;
pub mod client;
pub mod inspect;

use actions::Lifecycle;
use client::Okta;
use cordon_plugin_sdk::prelude::*;

struct OktaPlugin;

/// Every action, described beside the function that runs it.
fn table() -> ActionTable<Okta> {
    use IdentityKind::{Agent, ServiceAccount, Session, Token, User};
    let spec = PluginSpec::new("okta", env!("CARGO_PKG_VERSION"))
        .secret(
            "api_token",
            true,
            "Okta API token (SSWS), or an OAuth access token with auth_scheme = Bearer",
        )
        .config(
            "org_url",
            true,
            "the org's URL, e.g. https://example.okta.com",
        )
        .config(
            "auth_scheme",
            false,
            "SSWS (API token, default) or Bearer (OAuth access token)",
        );
    ActionTable::new(spec)
        .action(
            Action::new(
                    "suspend-user",
                    Effect::Quarantine,
                    &[User],
                    "suspend an ACTIVE user: no sign-in until unsuspended",
                )
                .restored_by("unsuspend-user"),
            |okta, request| actions::set_suspended(okta, request, Lifecycle::Suspend),
        )
        .action(
            Action::new(
                    "unsuspend-user",
                    Effect::Restore,
                    &[User],
                    "unsuspend a SUSPENDED user",
                )
                .param("user_id", false, "the user (default: the target)"),
            |okta, request| actions::set_suspended(okta, request, Lifecycle::Unsuspend),
        )
        .action(
            Action::new(
                    "clear-sessions",
                    Effect::Isolate,
                    &[User, Session],
                    "end every SSO session of a user (or of a session's user) and revoke its OAuth tokens",
                )
                .param("user", false, "for a session target: its user (default: attribute `user`)")
                .param("oauth_tokens", false, "`false` keeps the user's OAuth tokens (default true)"),
            actions::clear_sessions,
        )
        .action(
            Action::new(
                "revoke-grants",
                Effect::Revoke,
                &[User],
                "revoke every OAuth consent grant of a user",
            ),
            actions::revoke_grants,
        )
        .action(
            Action::new(
                    "deactivate-app",
                    Effect::Quarantine,
                    &[Agent, ServiceAccount],
                    "deactivate an app (an agent's or service's OAuth client): no new tokens",
                )
                .restored_by("activate-app"),
            |okta, request| actions::set_app_status(okta, request, false),
        )
        .action(
            Action::new(
                    "activate-app",
                    Effect::Restore,
                    &[Agent, ServiceAccount],
                    "activate a deactivated app again",
                )
                .param("app_id", false, "the app (default: the target)"),
            |okta, request| actions::set_app_status(okta, request, true),
        )
        .action(
            Action::new(
                "revoke-api-token",
                Effect::Revoke,
                &[Token],
                "revoke an API token by its id",
            ),
            actions::revoke_api_token,
        )
}

impl Provider for OktaPlugin {
    fn describe() -> PluginInfo {
        table().describe()
    }

    fn execute(request: ActionRequest) -> Result<ActionOutcome, ProviderError> {
        table().execute(&request, Okta::from_settings)
    }

    fn inspect(target: Identity) -> Result<IdentityFacts, ProviderError> {
        inspect::inspect(&Okta::from_settings()?, &target)
    }
}

cordon_plugin_sdk::export_provider!(OktaPlugin);

#[cfg(test)]
mod table_tests {
    #[test]
    fn the_action_table_is_consistent() {
        assert_eq!(super::table().check(), Ok(()));
    }
}
