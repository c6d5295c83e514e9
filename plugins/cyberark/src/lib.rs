//! Cordon provider plugin for CyberArk PVWA (REST API, v10+).
//!
//! Config: `base_url` (required, e.g.
//! `https://pvwa.example.com/PasswordVault`), `auth_method` (default
//! `CyberArk`; `LDAP`, `RADIUS`, `Windows`). Secrets: `username`,
//! `password` of the vault user Cordon acts as; it needs the safe
//! permissions for what the actions do (monitor and terminate PSM sessions,
//! initiate CPM changes, update account properties) and, for
//! `disable-user`/`enable-user`, the Audit Users / Manage Users authorities.
//!
//! Every call logs on (`concurrentSession: true`, so parallel calls keep
//! their own sessions), does its work and logs off, also when it fails.
//! Quirks handled: PVWA forgets terminated sessions (404) and answers 409
//! when a session is already suspended or not suspended; it shows no owner
//! (owners come from the inventory); paths are case-sensitive, and a wrong
//! path gets an HTML page, reported as such.

mod accounts;
pub mod client;
pub mod inspect;
mod sessions;

use client::Pvwa;
use cordon_plugin_sdk::prelude::*;

struct CyberArk;

/// Every action, described beside the function that runs it.
fn table() -> ActionTable<Pvwa> {
    use IdentityKind::{Account, Session, User};
    let user_id = "the numeric user id (default: attribute `user_id`, else the target id)";
    let spec = PluginSpec::new("cyberark", env!("CARGO_PKG_VERSION"))
        .secret("username", true, "the vault user Cordon logs on as")
        .secret("password", true, "its password")
        .config(
            "base_url",
            true,
            "PVWA base URL, e.g. https://pvwa.example.com/PasswordVault",
        )
        .config(
            "auth_method",
            false,
            "logon method: CyberArk (default), LDAP, RADIUS or Windows",
        );
    ActionTable::new(spec)
        .action(
            Action::new(
                "terminate-sessions",
                Effect::Isolate,
                &[User, Account, Session],
                "terminate every live PSM session of a vault user (name or numeric id), of an account, or one session",
            ),
            sessions::terminate_sessions,
        )
        .action(
            Action::new(
                "suspend-session",
                Effect::Isolate,
                &[Session],
                "suspend a live PSM session: the user's connection freezes",
            )
            .restored_by("resume-session"),
            sessions::suspend_session,
        )
        .action(
            Action::new(
                "resume-session",
                Effect::Restore,
                &[Session],
                "resume a suspended PSM session",
            )
            .param("session_id", false, "the session (default: the target)"),
            sessions::resume_session,
        )
        .action(
            Action::new(
                "rotate-credential",
                Effect::Rotate,
                &[Account],
                "have the CPM change an account's credential now",
            )
            .param(
                "changed_after",
                false,
                "epoch seconds or RFC 3339: a credential changed since then is already rotated",
            ),
            accounts::rotate_credential,
        )
        .action(
            Action::new(
                "disable-user",
                Effect::Quarantine,
                &[User],
                "disable a vault user (numeric id): it can no longer log on",
            )
            .param("user_id", false, user_id)
            .restored_by("enable-user"),
            |pvwa, request| accounts::set_user_enabled(pvwa, request, false),
        )
        .action(
            Action::new(
                "enable-user",
                Effect::Restore,
                &[User],
                "enable a disabled vault user again",
            )
            .param("user_id", false, user_id),
            |pvwa, request| accounts::set_user_enabled(pvwa, request, true),
        )
        .action(
            Action::new(
                "disable-auto-management",
                Effect::Quarantine,
                &[Account],
                "stop the CPM from managing (rotating, reconciling) an account's credential",
            )
            .param(
                "reason",
                false,
                "recorded as the manual-management reason (default: Cordon containment)",
            )
            .restored_by("enable-auto-management"),
            |pvwa, request| accounts::set_auto_management(pvwa, request, false),
        )
        .action(
            Action::new(
                "enable-auto-management",
                Effect::Restore,
                &[Account],
                "let the CPM manage an account's credential again",
            )
            .param("account_id", false, "the account (default: the target)"),
            |pvwa, request| accounts::set_auto_management(pvwa, request, true),
        )
}

impl Provider for CyberArk {
    fn describe() -> PluginInfo {
        table().describe()
    }

    fn execute(request: ActionRequest) -> Result<ActionOutcome, ProviderError> {
        // Logged off when the session is dropped, whatever the action returns.
        table().execute(&request, Pvwa::logon)
    }

    fn inspect(target: Identity) -> Result<IdentityFacts, ProviderError> {
        let pvwa = Pvwa::logon()?;
        inspect::inspect(&pvwa, &target)
    }
}

cordon_plugin_sdk::export_provider!(CyberArk);

#[cfg(test)]
mod table_tests {
    #[test]
    fn the_action_table_is_consistent() {
        assert_eq!(super::table().check(), Ok(()));
    }
}
