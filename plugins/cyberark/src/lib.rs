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

/// Every action this plugin offers.
const ACTIONS: &[&str] = &[
    "terminate-sessions",
    "suspend-session",
    "resume-session",
    "rotate-credential",
    "disable-user",
    "enable-user",
    "disable-auto-management",
    "enable-auto-management",
];

impl Provider for CyberArk {
    fn describe() -> PluginInfo {
        use IdentityKind::{Account, Session, User};
        PluginSpec::new("cyberark", env!("CARGO_PKG_VERSION"))
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
            )
            .action(Action::new(
                "terminate-sessions",
                Effect::Isolate,
                &[User, Account, Session],
                "terminate every live PSM session of a vault user (name or numeric id), of an account, or one session",
            ))
            .action(
                Action::new(
                    "suspend-session",
                    Effect::Isolate,
                    &[Session],
                    "suspend a live PSM session: the user's connection freezes",
                )
                .restored_by("resume-session"),
            )
            .action(
                Action::new(
                    "resume-session",
                    Effect::Restore,
                    &[Session],
                    "resume a suspended PSM session",
                )
                .param("session_id", false, "the session (default: the target)"),
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
            )
            .action(
                Action::new(
                    "disable-user",
                    Effect::Quarantine,
                    &[User],
                    "disable a vault user (numeric id): it can no longer log on",
                )
                .param("user_id", false, "the numeric user id (default: attribute `user_id`, else the target id)")
                .restored_by("enable-user"),
            )
            .action(
                Action::new(
                    "enable-user",
                    Effect::Restore,
                    &[User],
                    "enable a disabled vault user again",
                )
                .param("user_id", false, "the numeric user id (default: attribute `user_id`, else the target id)"),
            )
            .action(
                Action::new(
                    "disable-auto-management",
                    Effect::Quarantine,
                    &[Account],
                    "stop the CPM from managing (rotating, reconciling) an account's credential",
                )
                .param("reason", false, "recorded as the manual-management reason (default: Cordon containment)")
                .restored_by("enable-auto-management"),
            )
            .action(
                Action::new(
                    "enable-auto-management",
                    Effect::Restore,
                    &[Account],
                    "let the CPM manage an account's credential again",
                )
                .param("account_id", false, "the account (default: the target)"),
            )
            .build()
    }

    fn execute(request: ActionRequest) -> Result<ActionOutcome, ProviderError> {
        let action = request.action.as_str();
        if !ACTIONS.contains(&action) {
            return Err(ProviderError::Unsupported(format!(
                "the cyberark plugin has no action `{action}`"
            )));
        }
        // Logged off when `pvwa` is dropped, whatever the action returns.
        let pvwa = Pvwa::logon()?;
        match action {
            "terminate-sessions" => sessions::terminate_sessions(&pvwa, &request),
            "suspend-session" => sessions::suspend_session(&pvwa, &request),
            "resume-session" => sessions::resume_session(&pvwa, &request),
            "rotate-credential" => accounts::rotate_credential(&pvwa, &request),
            "disable-user" => accounts::set_user_enabled(&pvwa, &request, false),
            "enable-user" => accounts::set_user_enabled(&pvwa, &request, true),
            "disable-auto-management" => accounts::set_auto_management(&pvwa, &request, false),
            _ => accounts::set_auto_management(&pvwa, &request, true),
        }
    }

    fn inspect(target: Identity) -> Result<IdentityFacts, ProviderError> {
        let pvwa = Pvwa::logon()?;
        inspect::inspect(&pvwa, &target)
    }
}

cordon_plugin_sdk::export_provider!(CyberArk);
