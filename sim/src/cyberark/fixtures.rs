//! A small, realistic CyberArk vault for the demo and tests.
//!
//! The shared privileged account `root@db01.corp.example.com` (safe `Linux-Prod-Root`) has two
//! live PSM sessions: one by Alice from her workstation, one by the AI agent `agent-7` through
//! its vault user `svc-agent-7`. `agent-7` also has its own domain service account in safe
//! `AI-Agents`, with a PSM RDP session. Bob has a session on another safe. Ids are fixed so
//! signals and playbooks can name them.

use serde::Serialize;

use super::state::{AccountSpec, CyberArkState, LiveSession};

/// The ids [`demo`] created.
#[derive(Clone, Debug, Serialize)]
pub struct CyberArkDemo {
    /// Vault user id of Alice (`alice.nguyen`).
    pub alice_user_id: u64,
    /// Vault user id of the agent (`svc-agent-7`).
    pub agent_user_id: u64,
    /// Vault user id of Bob (`bob.martinez`).
    pub bob_user_id: u64,
    /// The shared privileged account (root on db01).
    pub shared_root_account_id: String,
    /// The agent's own service account.
    pub agent_account_id: String,
    /// Bob's account on another safe.
    pub web_account_id: String,
    /// Alice's live session on the shared account.
    pub alice_session_id: String,
    /// The agent's live session on the shared account.
    pub agent_session_id: String,
    /// The agent's RDP session on its own account.
    pub agent_rdp_session_id: String,
    /// Bob's live session on the other safe.
    pub bob_session_id: String,
}

/// Seeds the demo vault into `state` and returns its ids.
pub fn demo(state: &CyberArkState) -> CyberArkDemo {
    let alice_user_id = state.add_user("alice.nguyen", None);
    let agent_user_id = state.add_user("svc-agent-7", Some("agent7-Sim!pass"));
    let bob_user_id = state.add_user("bob.martinez", None);
    let shared_root_account_id = state.add_account(AccountSpec {
        id: Some("12_34".into()),
        name: "Operating System-UnixSSH-db01.corp.example.com-root".into(),
        address: "db01.corp.example.com".into(),
        user_name: "root".into(),
        platform_id: "UnixSSH".into(),
        safe_name: "Linux-Prod-Root".into(),
        manual_management: false,
    });
    let agent_account_id = state.add_account(AccountSpec {
        id: Some("27_7".into()),
        name: "Operating System-WinDomain-corp.example.com-svc-agent7".into(),
        address: "corp.example.com".into(),
        user_name: "svc-agent7".into(),
        platform_id: "WinDomain".into(),
        safe_name: "AI-Agents".into(),
        manual_management: false,
    });
    let web_account_id = state.add_account(AccountSpec {
        id: Some("15_3".into()),
        name: "Operating System-UnixSSH-web03.corp.example.com-deploy".into(),
        address: "web03.corp.example.com".into(),
        user_name: "deploy".into(),
        platform_id: "UnixSSH".into(),
        safe_name: "Linux-Prod-Web".into(),
        manual_management: false,
    });
    let session = |id: &str, user: &str, acc: &str, addr: &str, acc_id: &str, safe: &str, ip| {
        state.add_live_session(LiveSession {
            id: id.into(),
            user: user.into(),
            account_username: acc.into(),
            account_address: addr.into(),
            account_id: Some(acc_id.into()),
            safe_name: safe.into(),
            from_ip: ip,
            ..LiveSession::default()
        })
    };
    let alice_session_id = session(
        "c3f1a2b4-5d6e-4f70-8a9b-0c1d2e3f4a51",
        "alice.nguyen",
        "root",
        "db01.corp.example.com",
        &shared_root_account_id,
        "Linux-Prod-Root",
        "10.20.0.15".into(),
    );
    let agent_session_id = session(
        "7a9e4c21-8b3d-4e5f-9a6b-1c2d3e4f5a07",
        "svc-agent-7",
        "root",
        "db01.corp.example.com",
        &shared_root_account_id,
        "Linux-Prod-Root",
        "10.30.1.7".into(),
    );
    let agent_rdp_session_id = state.add_live_session(LiveSession {
        id: "5b8d2f60-1a2b-4c3d-8e9f-7a6b5c4d3e27".into(),
        user: "svc-agent-7".into(),
        account_username: "svc-agent7".into(),
        account_address: "corp.example.com".into(),
        account_id: Some(agent_account_id.clone()),
        platform_id: "WinDomain".into(),
        safe_name: "AI-Agents".into(),
        from_ip: "10.30.1.7".into(),
        protocol: "RDP".into(),
        connection_component_id: "PSM-RDP".into(),
        ..LiveSession::default()
    });
    let bob_session_id = session(
        "e2d4f6a8-0b1c-4d3e-a5f7-9b8c7d6e5f43",
        "bob.martinez",
        "deploy",
        "web03.corp.example.com",
        &web_account_id,
        "Linux-Prod-Web",
        "10.20.0.40".into(),
    );
    CyberArkDemo {
        alice_user_id,
        agent_user_id,
        bob_user_id,
        shared_root_account_id,
        agent_account_id,
        web_account_id,
        alice_session_id,
        agent_session_id,
        agent_rdp_session_id,
        bob_session_id,
    }
}
