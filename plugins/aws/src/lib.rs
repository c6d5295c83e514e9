//! Cordon provider plugin for AWS IAM.
//!
//! Config: `endpoint` (default `https://iam.amazonaws.com`), `region`
//! (default `us-east-1`). Secrets: `access_key_id`, `secret_access_key`,
//! optional `session_token`. Requests are signed with SigV4 (service `iam`).

mod actions;
pub mod iam;

use actions::Principal;
use cordon_plugin_sdk::prelude::*;
use iam::Iam;

struct Aws;

/// Every action, described beside the function that runs it.
fn table() -> ActionTable<Iam> {
    use IdentityKind::{AccessKey, Role, User};
    let spec = PluginSpec::new("aws", env!("CARGO_PKG_VERSION"))
        .secret(
            "access_key_id",
            true,
            "access key id of the IAM principal Cordon acts as",
        )
        .secret("secret_access_key", true, "its secret access key")
        .secret(
            "session_token",
            false,
            "session token, for temporary credentials",
        )
        .config(
            "endpoint",
            false,
            "IAM endpoint (default https://iam.amazonaws.com)",
        )
        .config("region", false, "signing region (default us-east-1)");
    ActionTable::new(spec)
        .action(
            Action::new(
                "deactivate-access-key",
                Effect::Revoke,
                &[AccessKey],
                "set an access key Inactive",
            )
            .restored_by("reactivate-access-key"),
            |iam, request| actions::set_key_status(iam, request, "Inactive"),
        )
        .action(
            Action::new(
                "reactivate-access-key",
                Effect::Restore,
                &[AccessKey],
                "set an access key Active again",
            )
            .param("user", false, "the key's user (looked up when absent)"),
            |iam, request| actions::set_key_status(iam, request, "Active"),
        )
        .action(
            Action::new(
                "delete-access-key",
                Effect::Revoke,
                &[AccessKey],
                "delete an access key (not reversible)",
            ),
            actions::delete_key,
        )
        .action(
            Action::new(
                "delete-login-profile",
                Effect::Revoke,
                &[User],
                "delete a user's console password (not reversible)",
            ),
            actions::delete_login_profile,
        )
        .action(
            Action::new(
                "quarantine-user",
                Effect::Quarantine,
                &[User, AccessKey],
                "fence a user (or an access key's user) with a deny-all inline policy",
            )
            .restored_by("release-user"),
            |iam, request| actions::quarantine(iam, request, Principal::User),
        )
        .action(
            Action::new(
                "release-user",
                Effect::Restore,
                &[User, AccessKey],
                "remove a user's deny-all fence",
            )
            .param("user", false, "the fenced user (default: the target)"),
            |iam, request| actions::release(iam, request, Principal::User),
        )
        .action(
            Action::new(
                "quarantine-role",
                Effect::Quarantine,
                &[Role],
                "fence a role with a deny-all inline policy",
            )
            .restored_by("release-role"),
            |iam, request| actions::quarantine(iam, request, Principal::Role),
        )
        .action(
            Action::new(
                "release-role",
                Effect::Restore,
                &[Role],
                "remove a role's deny-all fence",
            )
            .param("role", false, "the fenced role (default: the target)"),
            |iam, request| actions::release(iam, request, Principal::Role),
        )
        .action(
            Action::new(
                "revoke-role-sessions",
                Effect::Isolate,
                &[Role],
                "deny every session of a role issued before now (AWSRevokeOlderSessions)",
            ),
            actions::revoke_role_sessions,
        )
}

impl Provider for Aws {
    fn describe() -> PluginInfo {
        table().describe()
    }

    fn execute(request: ActionRequest) -> Result<ActionOutcome, ProviderError> {
        table().execute(&request, Iam::from_settings)
    }

    fn inspect(target: Identity) -> Result<IdentityFacts, ProviderError> {
        actions::inspect(&Iam::from_settings()?, &target)
    }
}

cordon_plugin_sdk::export_provider!(Aws);

#[cfg(test)]
mod table_tests {
    #[test]
    fn the_action_table_is_consistent() {
        assert_eq!(super::table().check(), Ok(()));
    }
}
