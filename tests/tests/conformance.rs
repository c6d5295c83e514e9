//! Every shipped provider passes the shared conformance suite
//! (`cordon_plugin_harness::conformance`) on the in-process harness: its plugin in the
//! real sandbox, against moto, OpenBao or its simulator, judged by the
//! provider's own state.

use cordon_e2e::bao::{BAO_ROOT_TOKEN, Bao};
use cordon_e2e::cordon::plugin;
use cordon_e2e::moto::Moto;
use cordon_e2e::sims::{self, CYBERARK_USER, OKTA_API_TOKEN};
use cordon_plugin_harness::conformance::{Case, check};
use cordon_plugin_harness::{Harness, Target};
use cordon_types::IdentityKind;

#[test]
fn okta_suspend_user_conforms() {
    let (sim, demo) = sims::okta();
    let load = |token: &str| {
        Harness::new("okta", plugin("okta"))
            .allow(&sim.url)
            .config("org_url", &sim.url)
            .secret("api_token", token)
            .load()
            .unwrap()
    };
    let (good, bad) = (load(OKTA_API_TOKEN), load("00wrong-okta-token-5a1f"));
    check(&Case {
        plugin: &good,
        wrong_credentials: &bad,
        action: "suspend-user",
        target: Target::new("okta", IdentityKind::User, &demo.alice_id),
        params: Vec::new(),
        state: &|| sim.state.dump(),
        secrets: &[OKTA_API_TOKEN, "00wrong-okta-token-5a1f"],
    });
}

#[test]
fn cyberark_disable_user_conforms() {
    let (sim, demo) = sims::cyberark();
    let base = format!("{}/PasswordVault", sim.url);
    let load = |password: &str| {
        Harness::new("cyberark", plugin("cyberark"))
            .allow(&sim.url)
            .config("base_url", &base)
            .secret("username", CYBERARK_USER.0)
            .secret("password", password)
            .load()
            .unwrap()
    };
    let (good, bad) = (load(CYBERARK_USER.1), load("not-the-password-93"));
    check(&Case {
        plugin: &good,
        wrong_credentials: &bad,
        action: "disable-user",
        target: Target::new(
            "cyberark",
            IdentityKind::User,
            &demo.bob_user_id.to_string(),
        ),
        params: Vec::new(),
        // Cordon's own logons stamp its service user: bookkeeping, not an
        // effect on the identities.
        state: &|| {
            let mut state = sim.state.dump();
            for user in state["users"].as_array_mut().unwrap() {
                user.as_object_mut().unwrap().remove("last_logon_ms");
            }
            state
        },
        secrets: &[CYBERARK_USER.1, "not-the-password-93"],
    });
}

#[test]
fn vault_disable_entity_conforms_on_openbao() {
    let bao = Bao::start();
    let demo = bao.seed_demo();
    let load = |token: &str| {
        Harness::new("vault", plugin("vault"))
            .allow(&bao.url)
            .config("address", &bao.url)
            .secret("token", token)
            .load()
            .unwrap()
    };
    let (good, bad) = (load(BAO_ROOT_TOKEN), load("s.wrong-token-7f3e"));
    check(&Case {
        plugin: &good,
        wrong_credentials: &bad,
        action: "disable-entity",
        target: Target::new("vault", IdentityKind::Agent, &demo.agent_entity_id),
        params: Vec::new(),
        state: &|| bao.dump(&demo),
        secrets: &[BAO_ROOT_TOKEN, "s.wrong-token-7f3e"],
    });
}

#[test]
fn aws_deactivate_access_key_conforms_on_moto() {
    let moto = Moto::start();
    let seeded = moto.seed("conf", 1, 1, 0);
    let (user, key) = (&seeded.keys[0].0, &seeded.keys[0].1[0]);
    let load = |secret: &str| {
        Harness::new("aws", plugin("aws"))
            .allow(&moto.endpoint())
            .config("endpoint", &moto.endpoint())
            .secret("access_key_id", &seeded.operator.access_key_id)
            .secret("secret_access_key", secret)
            .load()
            .unwrap()
    };
    let wrong = "wrongSecretAccessKey0000000000000000000000";
    let (good, bad) = (load(&seeded.operator.secret_access_key), load(wrong));
    let mut target = Target::new("aws", IdentityKind::AccessKey, key);
    target.attributes.insert("user".into(), user.clone());
    check(&Case {
        plugin: &good,
        wrong_credentials: &bad,
        action: "deactivate-access-key",
        target,
        params: Vec::new(),
        state: &|| moto.state(&seeded.operator),
        secrets: &[&seeded.operator.secret_access_key, wrong],
    });
}

/// A request without a body once failed at random ("connection reset"):
/// the SDK wrote an empty body the host had already closed. Fifty calls in a
/// row found it nearly every time.
#[test]
fn bodiless_requests_never_fail_in_transit() {
    let (sim, demo) = sims::okta();
    let okta = Harness::new("okta", plugin("okta"))
        .allow(&sim.url)
        .config("org_url", &sim.url)
        .secret("api_token", OKTA_API_TOKEN)
        .load()
        .unwrap();
    let alice = Target::new("okta", IdentityKind::User, &demo.alice_id);
    for _ in 0..50 {
        let planned = okta.call("suspend-user", &alice).dry_run().send();
        planned.expect_ok();
    }
}

const GITHUB_WRONG: &str = "ghp_wrongwrongwrongwrongwrongwrongwrong1";

#[test]
fn github_revoke_token_conforms_on_enterprise_server() {
    let (sim, demo) = sims::github(cordon_sim_github::Mode::EnterpriseServer);
    let api = sims::github_api(&sim);
    check(&Case {
        plugin: &sims::github_plugin(&api, &demo.admin_token, None),
        wrong_credentials: &sims::github_plugin(&api, GITHUB_WRONG, None),
        action: "revoke-token",
        target: Target::new("github", IdentityKind::Token, &demo.leaked_token),
        params: Vec::new(),
        state: &|| sim.state.dump(),
        secrets: &[&demo.admin_token, GITHUB_WRONG, &demo.leaked_token],
    });
    assert!(!sim.state.token_alive(&demo.leaked_token));
    assert!(sim.state.token_alive(&demo.fine_grained_token));
}

#[test]
fn github_delete_deploy_key_conforms_and_restores() {
    let (sim, demo) = sims::github(cordon_sim_github::Mode::DotCom);
    let api = sims::github_api(&sim);
    check(&Case {
        plugin: &sims::github_plugin(&api, &demo.admin_token, None),
        wrong_credentials: &sims::github_plugin(&api, GITHUB_WRONG, None),
        action: "delete-deploy-key",
        target: Target::new(
            "github",
            IdentityKind::AccessKey,
            &demo.deploy_key_id.to_string(),
        ),
        params: vec![("repository", demo.repo.as_str())],
        state: &|| sim.state.dump(),
        secrets: &[&demo.admin_token, GITHUB_WRONG],
    });
    let keys = sim.state.deploy_keys(&demo.repo);
    assert_eq!(keys.len(), 1, "restored once");
    assert_eq!(keys[0].key, cordon_sim_github::fixtures::DEPLOY_KEY);
}

#[test]
fn github_suspend_user_conforms_on_enterprise_server() {
    let (sim, demo) = sims::github(cordon_sim_github::Mode::EnterpriseServer);
    let api = sims::github_api(&sim);
    check(&Case {
        plugin: &sims::github_plugin(&api, &demo.admin_token, None),
        wrong_credentials: &sims::github_plugin(&api, GITHUB_WRONG, None),
        action: "suspend-user",
        target: Target::new("github", IdentityKind::User, &demo.dev_login),
        params: Vec::new(),
        // The suspension time is the provider's own stamp of the change.
        state: &|| sim.state.dump(),
        secrets: &[&demo.admin_token, GITHUB_WRONG],
    });
    assert_eq!(sim.state.user(&demo.dev_login).unwrap().suspended_at, None);
}

#[test]
fn github_revoke_oauth_grant_conforms() {
    let (sim, demo) = sims::github(cordon_sim_github::Mode::DotCom);
    let api = sims::github_api(&sim);
    let app = demo.oauth_client_id.as_str();
    let wrong_secret = "0123456789wrong-client-secret";
    check(&Case {
        plugin: &sims::github_plugin(
            &api,
            &demo.admin_token,
            Some((app, &demo.oauth_client_secret)),
        ),
        wrong_credentials: &sims::github_plugin(&api, &demo.admin_token, Some((app, wrong_secret))),
        action: "revoke-oauth-grant",
        target: Target::new("github", IdentityKind::Token, &demo.oauth_tokens[0]),
        params: Vec::new(),
        state: &|| sim.state.dump(),
        secrets: &[
            &demo.admin_token,
            &demo.oauth_client_secret,
            wrong_secret,
            &demo.oauth_tokens[0],
            &demo.oauth_tokens[1],
        ],
    });
    assert!(
        !sim.state.oauth_token_alive(&demo.oauth_tokens[1]),
        "the whole grant"
    );
}
