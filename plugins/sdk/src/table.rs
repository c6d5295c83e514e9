//! One table that drives both `describe` and `execute`.
//!
//! A plugin lists each action once, with the function that runs it:
//!
//! ```ignore
//! use cordon_plugin_sdk::prelude::*;
//!
//! fn table() -> ActionTable<Okta> {
//!     ActionTable::new(PluginSpec::new("okta", env!("CARGO_PKG_VERSION")).secret(/* … */))
//!         .action(
//!             Action::new("suspend-user", Effect::Quarantine, &[IdentityKind::User], "…")
//!                 .restored_by("unsuspend-user"),
//!             actions::suspend_user,
//!         )
//!         .action(Action::new("unsuspend-user", Effect::Restore, &[IdentityKind::User], "…"),
//!             |okta, request| actions::set_suspended(okta, request, false))
//! }
//!
//! impl Provider for OktaPlugin {
//!     fn describe() -> PluginInfo { table().describe() }
//!     fn execute(request: ActionRequest) -> Result<ActionOutcome, ProviderError> {
//!         table().execute(&request, Okta::from_config)
//!     }
//!     // …
//! }
//! ```
//!
//! An action cannot be described and routed elsewhere, or routed and not
//! described: the description and the dispatch are the same list. A name the
//! table does not hold is `unsupported` before the plugin connects to its
//! provider.

use crate::spec::{Action, PluginSpec};
use crate::{ActionOutcome, ActionRequest, PluginInfo, ProviderError};

/// Runs one action against a connected client `C`.
pub type Handler<C> = fn(&C, &ActionRequest) -> Result<ActionOutcome, ProviderError>;

/// A plugin's actions, each described once beside the function that runs it.
pub struct ActionTable<C> {
    spec: PluginSpec,
    handlers: Vec<(String, Handler<C>)>,
}

impl<C> ActionTable<C> {
    /// A table for the plugin `spec` (provider, version, secrets, config)
    /// without actions yet.
    pub fn new(spec: PluginSpec) -> ActionTable<C> {
        ActionTable {
            spec,
            handlers: Vec::new(),
        }
    }

    /// Adds `action`, run by `handler`.
    ///
    /// # Panics
    ///
    /// When an action of that name is already in the table: a plugin bug the
    /// first `describe` (every plugin's unit tests call it) shows.
    pub fn action(mut self, action: Action, handler: Handler<C>) -> ActionTable<C> {
        let name = action.name().to_string();
        assert!(
            self.handler(&name).is_none(),
            "action `{name}` is in the table twice"
        );
        self.spec = self.spec.action(action);
        self.handlers.push((name, handler));
        self
    }

    /// The `describe` answer: the plugin's settings and every action in the table.
    pub fn describe(&self) -> PluginInfo {
        self.spec.clone().build()
    }

    /// The names of the actions, in table order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.handlers.iter().map(|(name, _)| name.as_str())
    }

    /// The function that runs `name`, if the table holds it.
    pub fn handler(&self, name: &str) -> Option<Handler<C>> {
        self.handlers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, handler)| *handler)
    }

    /// What is wrong with the table, if anything: every action names at
    /// least one target kind, is named in kebab-case, and a `restored_by`
    /// names an action of the table. Each plugin's unit tests call this.
    pub fn check(&self) -> Result<(), String> {
        let info = self.describe();
        let mut problems = Vec::new();
        for action in &info.actions {
            let name = &action.name;
            if action.targets.is_empty() {
                problems.push(format!("`{name}` accepts no identity kind"));
            }
            let kebab = !name.is_empty()
                && name.split('-').all(|w| {
                    !w.is_empty()
                        && w.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                });
            if !kebab {
                problems.push(format!("`{name}` is not a kebab-case name"));
            }
            if let Some(restore) = &action.restore_with
                && self.handler(restore).is_none()
            {
                problems.push(format!(
                    "`{name}` is restored by `{restore}`, which the table does not hold"
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// Runs `request`: an action the table does not hold is `unsupported`
    /// (and `connect` is not called); otherwise `connect` makes the client
    /// (reading config and secrets, logging on) and the action's handler runs.
    pub fn execute(
        &self,
        request: &ActionRequest,
        connect: impl FnOnce() -> Result<C, ProviderError>,
    ) -> Result<ActionOutcome, ProviderError> {
        let Some(handler) = self.handler(&request.action) else {
            return Err(ProviderError::Unsupported(format!(
                "the {} plugin has no action `{}` (it offers: {})",
                self.spec.provider(),
                request.action,
                self.names().collect::<Vec<_>>().join(", ")
            )));
        };
        let client = connect()?;
        handler(&client, request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;
    use crate::{Effect, Identity, IdentityKind};

    struct Client(&'static str);

    fn table() -> ActionTable<Client> {
        ActionTable::<Client>::new(PluginSpec::new("example", "1.0.0"))
            .action(
                Action::new("lock", Effect::Quarantine, &[IdentityKind::User], "lock")
                    .restored_by("unlock"),
                |client, request| {
                    Outcome::applied(format!("{} locked {}", client.0, request.target.id)).done()
                },
            )
            .action(
                Action::new("unlock", Effect::Restore, &[IdentityKind::User], "unlock"),
                |client, _| Outcome::applied(format!("{} unlocked", client.0)).done(),
            )
    }

    fn request(action: &str) -> ActionRequest {
        ActionRequest {
            action: action.into(),
            target: Identity {
                provider: "example".into(),
                kind: IdentityKind::User,
                id: "alice".into(),
                attributes: Vec::new(),
            },
            params: Vec::new(),
            idempotency_key: "k".into(),
            dry_run: false,
        }
    }

    #[test]
    fn describe_and_dispatch_come_from_the_same_list() {
        let table = table();
        let described: Vec<String> = table
            .describe()
            .actions
            .iter()
            .map(|a| a.name.clone())
            .collect();
        assert_eq!(described, table.names().collect::<Vec<_>>());
        let unlocked = table
            .execute(&request("unlock"), || Ok(Client("pvwa")))
            .unwrap();
        assert_eq!(unlocked.detail, "pvwa unlocked");
        let locked = table
            .execute(&request("lock"), || Ok(Client("pvwa")))
            .unwrap();
        assert_eq!(locked.detail, "pvwa locked alice");
    }

    #[test]
    fn check_finds_restore_actions_the_table_lacks() {
        assert_eq!(table().check(), Ok(()));
        let broken = ActionTable::<Client>::new(PluginSpec::new("example", "1")).action(
            Action::new("Lock", Effect::Quarantine, &[], "lock").restored_by("unlock"),
            |_, _| Outcome::applied("").done(),
        );
        let problems = broken.check().unwrap_err();
        assert!(
            problems.contains("`Lock` accepts no identity kind"),
            "{problems}"
        );
        assert!(problems.contains("not a kebab-case name"), "{problems}");
        assert!(
            problems.contains("restored by `unlock`, which the table does not hold"),
            "{problems}"
        );
    }

    #[test]
    fn an_unknown_action_is_unsupported_and_nothing_connects() {
        let result = table().execute(&request("delete-everything"), || {
            panic!("connected for an action the plugin does not have")
        });
        match result {
            Err(ProviderError::Unsupported(message)) => {
                assert!(message.contains("`delete-everything`"), "{message}");
                assert!(message.contains("lock, unlock"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failed_connection_fails_the_action() {
        let result = table().execute(&request("lock"), || {
            Err(ProviderError::Unauthorized("logon refused".into()))
        });
        assert!(matches!(result, Err(ProviderError::Unauthorized(m)) if m == "logon refused"));
    }

    #[test]
    #[should_panic(expected = "action `lock` is in the table twice")]
    fn an_action_listed_twice_is_a_bug_found_at_once() {
        let _ = table().action(
            Action::new("lock", Effect::Quarantine, &[IdentityKind::User], "again"),
            |_, _| Outcome::applied("").done(),
        );
    }
}
