//! One coherent demo organisation: a site administrator whose token Cordon
//! acts with, a developer whose classic token leaked, a repository with a
//! deploy key, and an OAuth app holding tokens for the developer.

use crate::state::{GitHubState, TokenKind};
use serde::Serialize;

/// The public key of the demo deploy key.
pub const DEPLOY_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBpG3rZk1c9yQ2dM8xFvS4oT0nWcJ7hL5eUaR6tY2qPz deploy@ci";

/// What [`demo`] created. Token values are secrets: tests hold them, the
/// admin surface's answer ([`GitHubDemo::public`]) does not.
#[derive(Debug, Clone)]
pub struct GitHubDemo {
    /// `cordon-bot`: site administrator, admin of `acme/deploy-target`.
    pub admin_login: String,
    /// Its classic token: the plugin's credential.
    pub admin_token: String,
    /// `octocat`: a developer.
    pub dev_login: String,
    /// `octocat`'s classic token, the one that leaked.
    pub leaked_token: String,
    /// `octocat`'s fine-grained token, still in use.
    pub fine_grained_token: String,
    /// `acme/deploy-target`.
    pub repo: String,
    /// Its deploy key's id.
    pub deploy_key_id: u64,
    /// The OAuth app's client id.
    pub oauth_client_id: String,
    /// Its client secret.
    pub oauth_client_secret: String,
    /// Two OAuth tokens of the app for `octocat` (one grant).
    pub oauth_tokens: [String; 2],
}

/// The ids of [`GitHubDemo`] without secret values.
#[derive(Debug, Clone, Serialize)]
pub struct PublicDemo {
    /// See [`GitHubDemo::admin_login`].
    pub admin_login: String,
    /// See [`GitHubDemo::dev_login`].
    pub dev_login: String,
    /// See [`GitHubDemo::repo`].
    pub repo: String,
    /// See [`GitHubDemo::deploy_key_id`].
    pub deploy_key_id: u64,
    /// See [`GitHubDemo::oauth_client_id`].
    pub oauth_client_id: String,
}

impl GitHubDemo {
    /// The ids, without any secret value.
    pub fn public(&self) -> PublicDemo {
        PublicDemo {
            admin_login: self.admin_login.clone(),
            dev_login: self.dev_login.clone(),
            repo: self.repo.clone(),
            deploy_key_id: self.deploy_key_id,
            oauth_client_id: self.oauth_client_id.clone(),
        }
    }
}

/// Seeds the demo organisation.
pub fn demo(state: &GitHubState) -> GitHubDemo {
    state.add_user("cordon-bot", true);
    state.add_user("octocat", false);
    let admin_token = state.add_token("cordon-bot", TokenKind::Classic);
    let leaked_token = state.add_token("octocat", TokenKind::Classic);
    let fine_grained_token = state.add_token("octocat", TokenKind::FineGrained);
    let repo = "acme/deploy-target".to_string();
    state.add_repo(&repo, &["cordon-bot"]);
    let deploy_key_id = state.add_deploy_key(&repo, "ci deploy", DEPLOY_KEY, true);
    let oauth_client_id = "Iv1.8a61f9b3a7aba766".to_string();
    let oauth_client_secret = state.add_oauth_app(&oauth_client_id);
    let oauth_tokens = [
        state.add_oauth_token(&oauth_client_id, "octocat"),
        state.add_oauth_token(&oauth_client_id, "octocat"),
    ];
    GitHubDemo {
        admin_login: "cordon-bot".into(),
        admin_token,
        dev_login: "octocat".into(),
        leaked_token,
        fine_grained_token,
        repo,
        deploy_key_id,
        oauth_client_id,
        oauth_client_secret,
        oauth_tokens,
    }
}
