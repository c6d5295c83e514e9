//! The contract's rules the host keeps, on the in-process harness: a value a
//! plugin derives and hands to `redact` is scrubbed like a granted secret, a
//! component built against another contract minor is refused by name, and
//! one built against an earlier patch of this minor loads and runs.

use cordon_e2e::cordon::plugin;
use cordon_e2e::{sims, workspace_root};
use cordon_plugin_harness::{Harness, HarnessError, Target};
use cordon_plugin_host::CallError;
use cordon_types::IdentityKind;

const DERIVED: &str = "logon-token-5e1d7c2a9b";

#[test]
fn a_derived_secret_is_scrubbed_from_outcomes_errors_and_requests() {
    let (sim, _) = sims::okta();
    let test = Harness::new("test", plugin("misbehave"))
        .allow(&sim.url)
        .load()
        .unwrap();
    let target = Target::new("test", IdentityKind::Token, "tok-1");

    let called = test
        .call("leak-derived", &target)
        .param("derived", DERIVED)
        .param("url", &sim.url)
        .send();
    let outcome = called.expect_ok();
    assert_eq!(outcome.detail, "derived=[REDACTED]");
    assert_eq!(outcome.evidence["derived"], "[REDACTED]");
    assert_eq!(outcome.restore["derived"], "[REDACTED]");
    let paths: Vec<&str> = called.requests().iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/derived/[REDACTED]"],
        "the request was made and recorded"
    );

    let failed = test
        .call("leak-derived", &target)
        .param("derived", DERIVED)
        .param("fail", "yes")
        .send();
    match failed.expect_err() {
        CallError::Provider(err) => {
            let shown = format!("{err:?}");
            assert!(shown.contains("cannot use [REDACTED]"), "{shown}");
        }
        other => panic!("expected the plugin's error, got {other:?}"),
    }
    let everything = format!("{:?} {:?}", called.0, failed.0);
    assert!(!everything.contains(DERIVED));

    // Derived values last for their call only: the next call may return it.
    let next = test.call("noop", &target).param("note", DERIVED).send();
    assert_eq!(next.expect_ok().evidence["note"], DERIVED);
}

#[test]
fn a_component_built_against_another_contract_minor_is_refused_by_name() {
    // misbehave, built with SDK 0.1 (cordon:provider@0.1.0) before 0.2.
    let old = workspace_root().join("tests/support/contract-0.1/misbehave.wasm");
    match Harness::new("test", &old).load() {
        Err(HarnessError::Load { message, .. }) => {
            assert!(
                message.contains("built against cordon:provider@0.1.0")
                    && message.contains("this host speaks cordon:provider@0.2.x")
                    && message.contains("rebuild it with cordon-plugin-sdk 0.2"),
                "{message}"
            );
        }
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("a 0.1 component must not load on a 0.2 host"),
    }
    // The same plugin built now loads.
    Harness::new("test", plugin("misbehave")).load().unwrap();
}

#[test]
fn a_component_built_against_an_earlier_patch_of_the_contract_loads_and_runs() {
    // misbehave, built with SDK 0.2.0 (cordon:provider@0.2.0) before 0.2.1.
    let old = workspace_root().join("tests/support/contract-0.2.0/misbehave.wasm");
    let test = Harness::new("test", &old).load().unwrap();
    let target = Target::new("test", IdentityKind::Token, "tok-1");
    let called = test
        .call("noop", &target)
        .param("note", "still here")
        .send();
    assert_eq!(called.expect_ok().evidence["note"], "still here");
}
