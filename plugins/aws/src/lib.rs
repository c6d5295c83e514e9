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

impl Provider for Aws {
    fn describe() -> PluginInfo {
        use IdentityKind::{AccessKey, Role, User};
        PluginSpec::new("aws", env!("CARGO_PKG_VERSION"))
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
            .config("region", false, "signing region (default us-east-1)")
            .action(
                Action::new(
                    "deactivate-access-key",
                    Effect::Revoke,
                    &[AccessKey],
                    "set an access key Inactive",
                )
                .restored_by("reactivate-access-key"),
            )
            .action(
                Action::new(
                    "reactivate-access-key",
                    Effect::Restore,
                    &[AccessKey],
                    "set an access key Active again",
                )
                .param("user", false, "the key's user (looked up when absent)"),
            )
            .action(Action::new(
                "delete-access-key",
                Effect::Revoke,
                &[AccessKey],
                "delete an access key (not reversible)",
            ))
            .action(Action::new(
                "delete-login-profile",
                Effect::Revoke,
                &[User],
                "delete a user's console password (not reversible)",
            ))
            .action(
                Action::new(
                    "quarantine-user",
                    Effect::Quarantine,
                    &[User, AccessKey],
                    "fence a user (or an access key's user) with a deny-all inline policy",
                )
                .restored_by("release-user"),
            )
            .action(
                Action::new(
                    "release-user",
                    Effect::Restore,
                    &[User, AccessKey],
                    "remove a user's deny-all fence",
                )
                .param("user", false, "the fenced user (default: the target)"),
            )
            .action(
                Action::new(
                    "quarantine-role",
                    Effect::Quarantine,
                    &[Role],
                    "fence a role with a deny-all inline policy",
                )
                .restored_by("release-role"),
            )
            .action(
                Action::new(
                    "release-role",
                    Effect::Restore,
                    &[Role],
                    "remove a role's deny-all fence",
                )
                .param("role", false, "the fenced role (default: the target)"),
            )
            .action(Action::new(
                "revoke-role-sessions",
                Effect::Isolate,
                &[Role],
                "deny every session of a role issued before now (AWSRevokeOlderSessions)",
            ))
            .build()
    }

    fn execute(request: ActionRequest) -> Result<ActionOutcome, ProviderError> {
        let iam = Iam::from_settings()?;
        match request.action.as_str() {
            "deactivate-access-key" => actions::set_key_status(&iam, &request, "Inactive"),
            "reactivate-access-key" => actions::set_key_status(&iam, &request, "Active"),
            "delete-access-key" => actions::delete_key(&iam, &request),
            "delete-login-profile" => actions::delete_login_profile(&iam, &request),
            "quarantine-user" => actions::quarantine(&iam, &request, Principal::User),
            "release-user" => actions::release(&iam, &request, Principal::User),
            "quarantine-role" => actions::quarantine(&iam, &request, Principal::Role),
            "release-role" => actions::release(&iam, &request, Principal::Role),
            "revoke-role-sessions" => actions::revoke_role_sessions(&iam, &request),
            other => Err(ProviderError::Unsupported(format!(
                "the aws plugin has no action `{other}`"
            ))),
        }
    }

    fn inspect(target: Identity) -> Result<IdentityFacts, ProviderError> {
        actions::inspect(&Iam::from_settings()?, &target)
    }
}

cordon_plugin_sdk::export_provider!(Aws);
