//! The conformance suite every provider runs, on the in-process harness: the
//! plugin in the real sandbox against a real server or a simulator, judged by
//! the provider's own state. Shipped providers run it in
//! `tests/tests/conformance.rs`; a vendor's plugin runs it from its own tests.
//!
//! For one containment action on one target, [`check`] asserts:
//! 1. a dry run answers `planned` and changes nothing;
//! 2. wrong credentials fail as `unauthorized` (after one attempt: it is not
//!    retried) and change nothing;
//! 3. the action applies and changes the provider's state;
//! 4. a repeat is `already-applied` and changes nothing more;
//! 5. when the action is reversible, its restore action fed with the
//!    recorded restore data applies and undoes it, and a repeat of the
//!    restore is `already-applied`;
//! 6. no secret value appears in any outcome, error or request record.
//!
//! A provider's test builds a [`Case`] and calls [`check`]:
//!
//! ```ignore
//! use cordon_plugin_harness::conformance::{Case, check};
//!
//! check(&Case {
//!     plugin: &good,                 // loaded with working credentials
//!     wrong_credentials: &bad,       // loaded with credentials the provider refuses
//!     action: "suspend-user",
//!     target: Target::new("okta", IdentityKind::User, &demo.alice_id),
//!     params: Vec::new(),
//!     state: &|| sim.state.dump(),   // the provider's own view, not the plugin's
//!     secrets: &[OKTA_API_TOKEN, "00wrong-okta-token-5a1f"],
//! });
//! ```

use crate::{Called, Loaded};
use cordon_plugin_host::CallError;
use cordon_types::{ActionOutcome, Identity, OutcomeStatus, ProviderError};
use serde_json::Value;

/// One action of one provider, and how to see the provider's state.
pub struct Case<'a> {
    /// The plugin, loaded with working credentials.
    pub plugin: &'a Loaded,
    /// The same plugin, loaded with credentials the provider refuses.
    pub wrong_credentials: &'a Loaded,
    /// The containment action.
    pub action: &'a str,
    /// Its target.
    pub target: Identity,
    /// Its parameters.
    pub params: Vec<(&'a str, &'a str)>,
    /// The provider's state as its own API or the simulator's handle shows
    /// it (not as the plugin reports it), without bookkeeping the plugin's
    /// own logons change (a service user's last logon time).
    pub state: &'a dyn Fn() -> Value,
    /// Every secret value granted to either plugin.
    pub secrets: &'a [&'a str],
}

/// Runs the suite on `case`; panics naming the rule a plugin broke.
pub fn check(case: &Case) {
    let name = format!("{}.{}", case.plugin.info().provider, case.action);
    let spec = case
        .plugin
        .info()
        .action(case.action)
        .unwrap_or_else(|| panic!("{name}: the plugin does not describe it"))
        .clone();
    let call = |plugin: &Loaded, dry_run: bool| {
        let mut call = plugin.call(case.action, &case.target);
        for (k, v) in &case.params {
            call = call.param(k, v);
        }
        if dry_run {
            call = call.dry_run();
        }
        call.send()
    };
    let initial = (case.state)();

    let planned = call(case.plugin, true);
    no_secrets(&name, case.secrets, &planned);
    assert_eq!(
        status(&name, &planned),
        OutcomeStatus::Planned,
        "{name}: a dry run plans"
    );
    assert_eq!((case.state)(), initial, "{name}: a dry run changes nothing");

    let refused = call(case.wrong_credentials, false);
    no_secrets(&name, case.secrets, &refused);
    match refused.outcome() {
        Err(CallError::Provider(ProviderError::Unauthorized(_))) => {}
        other => panic!("{name}: wrong credentials must fail as unauthorized, got {other:?}"),
    }
    assert_eq!(
        (case.state)(),
        initial,
        "{name}: a refused call changes nothing"
    );

    let applied = call(case.plugin, false);
    no_secrets(&name, case.secrets, &applied);
    assert_eq!(
        status(&name, &applied),
        OutcomeStatus::Applied,
        "{name}: it applies"
    );
    let contained = (case.state)();
    assert_ne!(
        contained, initial,
        "{name}: applying changes the provider's state"
    );

    let repeat = call(case.plugin, false);
    no_secrets(&name, case.secrets, &repeat);
    assert_eq!(
        status(&name, &repeat),
        OutcomeStatus::AlreadyApplied,
        "{name}: a repeat is already applied"
    );
    assert_eq!(
        (case.state)(),
        contained,
        "{name}: a repeat changes nothing"
    );

    let Some(restore) = spec.restore_with.as_deref() else {
        return;
    };
    let restore_data = applied.expect_ok().restore.clone();
    let undo = || {
        let mut call = case.plugin.call(restore, &case.target);
        for (k, v) in &restore_data {
            call = call.param(k, v);
        }
        call.send()
    };
    let restored = undo();
    no_secrets(&name, case.secrets, &restored);
    assert_eq!(
        status(&name, &restored),
        OutcomeStatus::Applied,
        "{name}: {restore} with the restore data {restore_data:?} applies"
    );
    assert_ne!((case.state)(), contained, "{name}: {restore} undoes it");
    assert_eq!(
        status(&name, &undo()),
        OutcomeStatus::AlreadyApplied,
        "{name}: a repeated {restore} is already applied"
    );
}

fn status(name: &str, called: &Called<ActionOutcome>) -> OutcomeStatus {
    match called.outcome() {
        Ok(outcome) => outcome.status,
        Err(err) => panic!("{name}: the call failed: {err}"),
    }
}

/// No secret value in what the call returned or recorded.
fn no_secrets(name: &str, secrets: &[&str], called: &Called<ActionOutcome>) {
    let shown = format!("{:?} {:?}", called.outcome(), called.requests());
    for secret in secrets {
        assert!(
            !shown.contains(secret),
            "{name}: a secret value appears in the call's outcome or requests"
        );
    }
}
