//! Cordon provider plugin for HashiCorp Vault.
//!
//! Config: `address` (required, e.g. `https://vault.example.com:8200`),
//! `namespace` (Vault Enterprise), `approle_mount` (default `approle`).
//! Secret: `token`, sent as `X-Vault-Token`. The token's policies need
//! `update` on `auth/token/lookup-accessor`, `auth/token/revoke-accessor`,
//! `sys/leases/lookup`, `sys/leases/revoke`,
//! `auth/<mount>/role/+/secret-id-accessor/*`, `read` and `update` on
//! `identity/entity/id/*`, and `update` + `sudo` on
//! `sys/leases/revoke-prefix/*` for prefix revocation.
//!
//! Quirks handled (see `actions`): Vault forgets what it revoked, so an
//! unknown accessor, lease or secret-id is `already-applied`; AppRole answers
//! unknown roles and (before 1.9) unknown accessors with a plain 500;
//! `revoke-prefix` needs `sudo`; rate-limit quotas answer 429 with
//! `Retry-After`, which the host waits out.

mod actions;
pub mod client;
pub mod inspect;

use client::Vault;
use cordon_plugin_sdk::prelude::*;

struct VaultPlugin;

/// Every action, described beside the function that runs it.
fn table() -> ActionTable<Vault> {
    use IdentityKind::{Agent, Secret, ServiceAccount, Token, User, Workload};
    let entity_kinds = &[Workload, Agent, ServiceAccount, User];
    let entity_id = "the entity id (default: attribute `entity_id`, else the target id)";
    let spec = PluginSpec::new("vault", env!("CARGO_PKG_VERSION"))
        .secret(
            "token",
            true,
            "Vault token Cordon acts with (X-Vault-Token)",
        )
        .config(
            "address",
            true,
            "Vault address, e.g. https://vault.example.com:8200",
        )
        .config("namespace", false, "Vault Enterprise namespace")
        .config(
            "approle_mount",
            false,
            "AppRole mount used when a request names none (default approle)",
        );
    ActionTable::new(spec)
        .action(
            Action::new(
                "revoke-token",
                Effect::Revoke,
                &[Token],
                "revoke a token by its accessor, with its child tokens and their leases",
            ),
            actions::revoke_token,
        )
        .action(
            Action::new(
                "revoke-lease",
                Effect::Revoke,
                &[Secret],
                "revoke one lease (a dynamic secret) by its id",
            ),
            actions::revoke_lease,
        )
        .action(
            Action::new(
                "revoke-lease-prefix",
                Effect::Revoke,
                &[Secret],
                "revoke every lease under a prefix, e.g. database/creds/agent-7 (needs sudo)",
            ),
            actions::revoke_lease_prefix,
        )
        .action(
            Action::new(
                "destroy-secret-id",
                Effect::Revoke,
                &[Secret],
                "destroy an AppRole secret-id by its accessor",
            )
            .param(
                "role",
                false,
                "its AppRole role (or the identity's attribute `role`)",
            )
            .param(
                "mount",
                false,
                "its AppRole mount (or attribute `mount`; default: config approle_mount)",
            ),
            actions::destroy_secret_id,
        )
        .action(
            Action::new(
                "disable-entity",
                Effect::Quarantine,
                entity_kinds,
                "disable an identity entity: its tokens are refused, not revoked",
            )
            .param("entity_id", false, entity_id)
            .restored_by("enable-entity"),
            |vault, request| actions::set_entity_disabled(vault, request, true),
        )
        .action(
            Action::new(
                "enable-entity",
                Effect::Restore,
                entity_kinds,
                "enable a disabled identity entity again",
            )
            .param("entity_id", false, entity_id),
            |vault, request| actions::set_entity_disabled(vault, request, false),
        )
}

impl Provider for VaultPlugin {
    fn describe() -> PluginInfo {
        table().describe()
    }

    fn execute(request: ActionRequest) -> Result<ActionOutcome, ProviderError> {
        table().execute(&request, Vault::from_settings)
    }

    fn inspect(target: Identity) -> Result<IdentityFacts, ProviderError> {
        inspect::inspect(&Vault::from_settings()?, &target)
    }
}

cordon_plugin_sdk::export_provider!(VaultPlugin);

#[cfg(test)]
mod table_tests {
    #[test]
    fn the_action_table_is_consistent() {
        assert_eq!(super::table().check(), Ok(()));
    }
}
