//! A small, realistic Okta org for the demo and tests.
//!
//! Bob Martinez manages the Platform Engineering department; Alice Nguyen reports to him and
//! has two live SSO sessions, consent grants and tokens for the `agent-7` service app. The AI
//! agent `agent-7` is an OIDC service app (client credentials) owned by ML Platform, with a
//! service user `svc-agent-7` holding its own API token. Carol is already SUSPENDED (to
//! exercise the non-idempotent lifecycle). Ids are fixed so signals and playbooks can name them.

use serde::Serialize;

use super::state::{AppSpec, OktaState, UserSpec};

/// The ids [`demo`] created.
#[derive(Clone, Debug, Serialize)]
pub struct OktaDemo {
    /// Alice (ACTIVE, manager Bob, Platform Engineering).
    pub alice_id: String,
    /// Alice's login.
    pub alice_login: String,
    /// Bob (ACTIVE, Alice's manager).
    pub bob_id: String,
    /// Carol (already SUSPENDED).
    pub carol_id: String,
    /// The agent's service user.
    pub agent_user_id: String,
    /// The `agent-7` OIDC service app.
    pub agent_app_id: String,
    /// Its OAuth client id.
    pub agent_client_id: String,
    /// A second app (Alice's IDE plugin) with tokens for Alice.
    pub ide_app_id: String,
    /// Its OAuth client id.
    pub ide_client_id: String,
    /// Alice's SSO sessions.
    pub alice_sessions: Vec<String>,
    /// The agent service user's API token id.
    pub agent_api_token_id: String,
    /// Its secret.
    pub agent_api_token: String,
}

/// Seeds the demo org into `state` and returns its ids.
pub fn demo(state: &OktaState) -> OktaDemo {
    let bob_id = state.add_user(
        UserSpec::new("bob.martinez@example.com", "Bob", "Martinez")
            .id("00ub0bmart1nez7x0h8b")
            .department("Platform Engineering", "Engineering Manager")
            .user_type("Employee"),
    );
    let alice_login = "alice.nguyen@example.com".to_owned();
    let alice_id = state.add_user(
        UserSpec::new(&alice_login, "Alice", "Nguyen")
            .id("00ua1icenguyen7x0h8a")
            .manager("bob.martinez@example.com", &bob_id)
            .department("Platform Engineering", "Senior SRE")
            .user_type("Employee"),
    );
    let carol_id = state.add_user(
        UserSpec::new("carol.diaz@example.com", "Carol", "Diaz")
            .id("00uca1r0ldiaz7x0h8cc")
            .status("SUSPENDED")
            .manager("bob.martinez@example.com", &bob_id)
            .department("Platform Engineering", "Contractor")
            .user_type("Contractor"),
    );
    let agent_user_id = state.add_user(
        UserSpec::new("svc-agent-7@example.com", "agent-7", "Service")
            .id("00uagent7svc0x7x0h8d")
            .manager("ml-platform-owners@example.com", &bob_id)
            .department("ML Platform", "AI agent")
            .user_type("Service"),
    );
    let agent_client_id = "0oaagent7client0h8".to_owned();
    let agent_app_id = state.add_app(AppSpec {
        id: Some("0oaagent7app00x7x0h8".into()),
        label: "agent-7".into(),
        client_id: Some(agent_client_id.clone()),
        status: "ACTIVE".into(),
    });
    let ide_client_id = "0oaide1plugin0client".to_owned();
    let ide_app_id = state.add_app(AppSpec {
        id: Some("0oaide1pluginapp0h8e".into()),
        label: "IDE Assistant".into(),
        client_id: Some(ide_client_id.clone()),
        status: "ACTIVE".into(),
    });
    let alice_sessions = vec![
        state.add_session(&alice_id, "198.51.100.23"),
        state.add_session(&alice_id, "203.0.113.77"),
    ];
    state.add_session(&bob_id, "198.51.100.40");
    state.add_grant(&alice_id, &agent_client_id, "okta.users.read");
    state.add_grant(&alice_id, &ide_client_id, "offline_access");
    state.add_oauth_token(&alice_id, &agent_client_id, "refresh");
    state.add_oauth_token(&alice_id, &agent_client_id, "access");
    state.add_oauth_token(&alice_id, &ide_client_id, "refresh");
    let agent_api_token_id = "00Tagent7svc0tok0h8f".to_owned();
    let agent_api_token = "00agent7-svc-api-token-sim-0000000000000".to_owned();
    state.add_api_token_with_id(
        &agent_api_token_id,
        "agent-7 automation",
        &agent_user_id,
        &agent_api_token,
    );
    OktaDemo {
        alice_id,
        alice_login,
        bob_id,
        carol_id,
        agent_user_id,
        agent_app_id,
        agent_client_id,
        ide_app_id,
        ide_client_id,
        alice_sessions,
        agent_api_token_id,
        agent_api_token,
    }
}
