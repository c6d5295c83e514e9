//! A small, realistic Vault org for the demo and tests.
//!
//! The AI agent `agent-7` logs in through AppRole (`auth/approle/login`, role `agent-7`) and
//! holds a token bound to the identity entity `agent-7`; it created a child token for a batch
//! job, and both obtained dynamic database/AWS credentials (leases). A human, Alice, has an
//! OIDC token. A responder token without `sudo` is there to exercise the ACL. Ids are fixed so
//! signals and playbooks can name them.

use serde::Serialize;

use super::state::{EntitySpec, LeaseSpec, SecretIdSpec, TokenSpec, VaultState};
use super::{PathRule, acl};

/// The ids [`demo`] created.
#[derive(Clone, Debug, Serialize)]
pub struct VaultDemo {
    /// Identity entity of the agent.
    pub agent_entity_id: String,
    /// Identity entity of Alice.
    pub alice_entity_id: String,
    /// Accessor of agent-7's AppRole login token.
    pub agent_token_accessor: String,
    /// agent-7's token secret.
    pub agent_token: String,
    /// Accessor of the child token agent-7 created.
    pub agent_child_accessor: String,
    /// Accessor of Alice's OIDC token.
    pub alice_token_accessor: String,
    /// A database lease held by agent-7's token.
    pub agent_db_lease: String,
    /// An AWS lease held by the child token.
    pub agent_aws_lease: String,
    /// A lease held by Alice's token.
    pub alice_lease: String,
    /// AppRole mount.
    pub approle_mount: String,
    /// AppRole role of the agent.
    pub approle_role: String,
    /// Accessor of the agent's current secret-id.
    pub agent_secret_id_accessor: String,
    /// A responder token (policy `cordon-responder`, no sudo).
    pub responder_token: String,
    /// Its accessor.
    pub responder_accessor: String,
}

/// Seeds the demo org into `state` and returns its ids. Calling it twice re-creates the same
/// fixed ids (overwriting them).
pub fn demo(state: &VaultState) -> VaultDemo {
    state.add_policy(
        "agent-7-db",
        vec![
            PathRule::new("database/creds/agent-7-readonly", &["read"]),
            PathRule::new("aws/creds/agent-7", &["read"]),
            PathRule::new("auth/token/create", &["update"]),
        ],
    );
    state.add_policy(
        "platform-dev",
        vec![PathRule::new("secret/data/platform/*", &["read", "list"])],
    );
    for (name, rules) in acl::builtin_policies() {
        state.add_policy(&name, rules);
    }
    let agent_entity_id = state.seed_entity(EntitySpec {
        id: Some("7f3c2a91-5d4e-4b8a-9c1f-0a7e5d3b2c17".into()),
        name: "agent-7".into(),
        metadata: [
            ("owner", "ml-platform"),
            ("kind", "ai-agent"),
            ("workload", "agent-7"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect(),
        policies: vec!["agent-7-db".into()],
        disabled: false,
    });
    let alice_entity_id = state.seed_entity(EntitySpec {
        id: Some("a11ce000-3b7d-4c2e-8f61-5e9d2b4a7c01".into()),
        name: "alice".into(),
        metadata: [("email", "alice@example.com"), ("department", "Platform")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
        policies: vec!["platform-dev".into()],
        disabled: false,
    });
    let agent_token_accessor = state.seed_token(
        TokenSpec::new("approle-agent-7")
            .ids(
                "hvs.CAESIagent7simTokenPrimary000001",
                "xK4pQ7agent7accessor0001",
            )
            .policies(&["default", "agent-7-db"])
            .entity(&agent_entity_id)
            .path("auth/approle/login")
            .meta("role_name", "agent-7")
            .meta("owner", "ml-platform")
            .ttl(3600),
    );
    let agent_token = state
        .token(&agent_token_accessor)
        .map(|t| t.id)
        .unwrap_or_default();
    let agent_child_accessor = state.seed_token(
        TokenSpec::new("token-agent-7-batch")
            .ids(
                "hvs.CAESIagent7simTokenChild00000002",
                "mB2vL9agent7childacc0002",
            )
            .policies(&["default", "agent-7-db"])
            .entity(&agent_entity_id)
            .parent(&agent_token_accessor)
            .meta("job", "nightly-embeddings")
            .ttl(1800),
    );
    let alice_token_accessor = state.seed_token(
        TokenSpec::new("oidc-alice@example.com")
            .ids(
                "hvs.CAESIalicesimTokenOidc0000000003",
                "Zr8wT3aliceoidcaccess0003",
            )
            .policies(&["default", "platform-dev"])
            .entity(&alice_entity_id)
            .path("auth/oidc/oidc/callback")
            .meta("role", "platform")
            .ttl(28_800),
    );
    let lease = |id: &str, acc: &str, ttl| {
        state.seed_lease(LeaseSpec {
            id: Some(id.into()),
            token_accessor: Some(acc.into()),
            ttl_secs: ttl,
            ..LeaseSpec::default()
        })
    };
    let agent_db_lease = lease(
        "database/creds/agent-7-readonly/Hq3mV8xYp2LkR7sT0aB4cD9e",
        &agent_token_accessor,
        3600,
    );
    let agent_aws_lease = lease(
        "aws/creds/agent-7/W5nJ2kP8qR4tY6uI1oL3zX7c",
        &agent_child_accessor,
        900,
    );
    let alice_lease = lease(
        "database/creds/platform-dev/Bv6nM1qW3eR5tY7uI9oP2aS4",
        &alice_token_accessor,
        3600,
    );
    let approle_mount = "approle".to_owned();
    let approle_role = "agent-7".to_owned();
    let agent_secret_id_accessor = state.seed_secret_id(SecretIdSpec {
        mount: approle_mount.clone(),
        role: approle_role.clone(),
        accessor: Some("84896a0c-1347-aa90-a4f6-aca8b7558780".into()),
        metadata: [("issued_by", "ci-deployer")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
    });
    state.add_approle_role(&approle_mount, "ci-deployer");
    let responder_accessor = state.seed_token(
        TokenSpec::new("token-cordon-responder")
            .ids(
                "hvs.CAESIresponderSimToken0000000004",
                "Qw1eR2responderacc000004",
            )
            .policies(&["default", "cordon-responder"])
            .ttl(0),
    );
    let responder_token = state
        .token(&responder_accessor)
        .map(|t| t.id)
        .unwrap_or_default();
    VaultDemo {
        agent_entity_id,
        alice_entity_id,
        agent_token_accessor,
        agent_token,
        agent_child_accessor,
        alice_token_accessor,
        agent_db_lease,
        agent_aws_lease,
        alice_lease,
        approle_mount,
        approle_role,
        agent_secret_id_accessor,
        responder_token,
        responder_accessor,
    }
}
