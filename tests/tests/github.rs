//! The GitHub plugin against the GitHub simulator, beyond the shared
//! conformance suite: github.com's unauthenticated revocation, actions
//! github.com does not have, rate limits, bad input, and one action through
//! the `cordon` binary as a responder runs it.

use cordon_e2e::cordon::PluginEntry;
use cordon_e2e::sims;
use cordon_plugin_harness::{Called, Loaded, Target};
use cordon_plugin_host::CallError;
use cordon_sim_github::Mode;
use cordon_sim_github::fixtures::GitHubDemo;
use cordon_types::{ActionOutcome, IdentityKind, OutcomeStatus, ProviderError};

fn load(api: &str, token: &str) -> Loaded {
    sims::github_plugin(api, token, None)
}

/// `delete-deploy-key` of the demo's key.
fn delete_demo_key(github: &Loaded, demo: &GitHubDemo) -> Called<ActionOutcome> {
    let id = demo.deploy_key_id.to_string();
    let target = Target::new("github", IdentityKind::AccessKey, &id);
    github
        .call("delete-deploy-key", &target)
        .param("repository", &demo.repo)
        .send()
}

#[test]
fn a_leaked_token_is_revoked_without_authentication_on_github_com_and_never_shown() {
    let (sim, demo) = sims::github(Mode::DotCom);
    let github = load(&sim.url, &demo.admin_token);
    let target = Target::new("github", IdentityKind::Token, &demo.leaked_token);
    let called = github.call("revoke-token", &target).send();
    let outcome = called.expect_ok();
    assert_eq!(outcome.status, OutcomeStatus::Applied, "{outcome:?}");
    assert_eq!(outcome.evidence["owner"], "octocat");
    assert_eq!(outcome.evidence["token_type"], "classic personal access");
    assert!(outcome.evidence["fingerprint"].starts_with("sha256:"));
    assert!(!sim.state.token_alive(&demo.leaked_token));
    // The simulator refuses authenticated revocations on github.com, as
    // GitHub does: the call went out without the plugin's token.
    let paths: Vec<String> = sim
        .state
        .requests()
        .iter()
        .map(|r| format!("{} {} {}", r.method, r.path, r.status))
        .collect();
    assert_eq!(paths, ["GET /user 200", "POST /credentials/revoke 202"]);
    let shown = format!("{:?}", called.0);
    assert!(!shown.contains(&demo.leaked_token) && !shown.contains(&demo.admin_token));
}

#[test]
fn suspension_is_refused_on_github_com_by_name() {
    let (sim, demo) = sims::github(Mode::DotCom);
    let github = load(&sim.url, &demo.admin_token);
    let target = Target::new("github", IdentityKind::User, "octocat");
    match github.call("suspend-user", &target).send().expect_err() {
        CallError::Provider(ProviderError::Unsupported(message)) => {
            assert!(message.contains("Enterprise Server"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(sim.state.requests().is_empty(), "nothing was sent");
}

#[test]
fn a_secondary_rate_limit_is_a_wait_of_the_time_github_names() {
    let (sim, demo) = sims::github(Mode::DotCom);
    let github = load(&sim.url, &demo.admin_token);
    sim.state.trip_secondary_limit(7);
    let called = delete_demo_key(&github, &demo);
    match called.expect_err() {
        CallError::Provider(ProviderError::RateLimited { retry_after_ms, .. }) => {
            assert_eq!(*retry_after_ms, Some(7_000))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        sim.state.deploy_keys(&demo.repo).len(),
        1,
        "nothing deleted"
    );
}

#[test]
fn bad_input_names_the_parameter_and_sends_nothing() {
    let (sim, demo) = sims::github(Mode::DotCom);
    let github = load(&sim.url, &demo.admin_token);
    let key = Target::new(
        "github",
        IdentityKind::AccessKey,
        &demo.deploy_key_id.to_string(),
    );
    for (target, repository, expected) in [
        (
            &key,
            Some("acme"),
            "parameter `repository`: `acme` is not owner/name",
        ),
        (
            &key,
            None,
            "parameter `repository` (owner/name) is required",
        ),
        (
            &Target::new("github", IdentityKind::AccessKey, "12ab"),
            Some("acme/x"),
            "not a deploy key id",
        ),
    ] {
        let mut call = github.call("delete-deploy-key", target);
        if let Some(repository) = repository {
            call = call.param("repository", repository);
        }
        match call.send().expect_err() {
            CallError::Provider(ProviderError::Invalid(message)) => {
                assert!(message.contains(expected), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
    let not_a_token = Target::new("github", IdentityKind::Token, "AKIAIOSFODNN7EXAMPLE");
    match github
        .call("revoke-token", &not_a_token)
        .send()
        .expect_err()
    {
        CallError::Provider(ProviderError::Invalid(message)) => {
            assert!(
                message.contains("not a GitHub token") && !message.contains("AKIAIOSFODNN7EXAMPLE"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(sim.state.requests().is_empty());
}

#[test]
fn a_deploy_key_is_deleted_and_restored_through_the_cli() {
    let (sim, demo) = sims::github(Mode::DotCom);
    let ws = sims::workspace(
        &[PluginEntry::new("github", "github")
            .allow(&sim.url)
            .config("api_url", &sim.url)
            .secret_env("token", "GITHUB_TOKEN")],
        &[("GITHUB_TOKEN", &demo.admin_token)],
    );
    let id = demo.deploy_key_id.to_string();
    let called = ws.cordon(&[
        "plugins",
        "call",
        "github",
        "delete-deploy-key",
        "--target",
        &id,
        "--param",
        &format!("repository={}", demo.repo),
        "--json",
    ]);
    called.expect_code(0);
    let report = called.json();
    assert_eq!(report["actions"][0]["status"], "applied", "{report}");
    assert!(sim.state.deploy_keys(&demo.repo).is_empty());
    assert!(
        !called.stdout().contains(&demo.admin_token)
            && !called.stderr().contains(&demo.admin_token)
    );

    let run_id = report["run_id"].as_str().unwrap();
    let restored = ws.cordon(&["restore", run_id, "--as", "oscar", "--json"]);
    restored.expect_code(0);
    assert_eq!(
        restored.json()["actions"][0]["action"],
        "restore-deploy-key"
    );
    let keys = sim.state.deploy_keys(&demo.repo);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].key, cordon_sim_github::fixtures::DEPLOY_KEY);
}

/// GitHub answers 404 alike for a deleted key and for a repository the token
/// may not administer: a token without the right must not read as
/// "already deleted".
#[test]
fn a_token_that_does_not_administer_the_repository_is_not_told_the_key_is_gone() {
    let (sim, demo) = sims::github(Mode::DotCom);
    // octocat's token works, but octocat does not administer acme/deploy-target.
    let github = load(&sim.url, &demo.fine_grained_token);
    let called = delete_demo_key(&github, &demo);
    match called.expect_err() {
        CallError::Provider(ProviderError::NotFound(message)) => {
            assert!(message.contains("does not administer it"), "{message}")
        }
        other => panic!("expected not-found, got {other:?}"),
    }
    assert_eq!(
        sim.state.deploy_keys(&demo.repo).len(),
        1,
        "nothing deleted"
    );
}
