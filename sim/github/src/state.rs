//! The simulated GitHub's data, behind a cheap-to-clone handle tests seed and
//! read independently of any client.

use cordon_sim::SimCore;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// github.com, or a GitHub Enterprise Server instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// `https://api.github.com`: routes at the root; the credential
    /// revocation API refuses authenticated requests; no user suspension.
    DotCom,
    /// `https://HOST/api/v3`: routes under `/api/v3`; site administrators
    /// suspend users; credential revocation is authenticated.
    EnterpriseServer,
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    /// Numeric id.
    pub id: u64,
    /// Login name.
    pub login: String,
    /// Site administrator (Enterprise Server).
    pub site_admin: bool,
    /// When it was suspended (Enterprise Server), if it is.
    pub suspended_at: Option<String>,
}

/// What kind of credential a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenKind {
    /// Personal access token (classic), `ghp_…`.
    Classic,
    /// Fine-grained personal access token, `github_pat_…`.
    FineGrained,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub owner: String,
    pub kind: TokenKind,
    pub alive: bool,
}

/// A deploy key of a repository.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeployKey {
    /// Numeric id, new for every key added.
    pub id: u64,
    /// Its title.
    pub title: String,
    /// The public key (`ssh-ed25519 AAAA…`).
    pub key: String,
    /// Whether it may only read.
    pub read_only: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Repo {
    pub admins: Vec<String>,
    pub keys: BTreeMap<u64, DeployKey>,
}

#[derive(Debug, Clone)]
pub(crate) struct OAuthToken {
    pub client_id: String,
    pub user: String,
    pub alive: bool,
}

pub(crate) struct Data {
    pub mode: Mode,
    pub next_id: u64,
    pub users: BTreeMap<String, User>,
    pub tokens: BTreeMap<String, Token>,
    pub repos: BTreeMap<String, Repo>,
    /// OAuth apps: client id → client secret.
    pub apps: BTreeMap<String, String>,
    pub oauth_tokens: BTreeMap<String, OAuthToken>,
    /// The next request gets a secondary rate limit with this `retry-after`.
    pub secondary_limit: Option<u64>,
    /// Revocation requests this hour (the API allows 60).
    pub revocations: u32,
}

/// The simulator's state handle. Clones share the same data.
#[derive(Clone)]
pub struct GitHubState {
    pub(crate) core: SimCore,
    pub(crate) data: Arc<Mutex<Data>>,
}

cordon_sim::sim_handle!(GitHubState);

impl GitHubState {
    /// An empty GitHub in `mode`.
    pub fn new(core: SimCore, mode: Mode) -> GitHubState {
        GitHubState {
            core,
            data: Arc::new(Mutex::new(Data {
                mode,
                next_id: 1000,
                users: BTreeMap::new(),
                tokens: BTreeMap::new(),
                repos: BTreeMap::new(),
                apps: BTreeMap::new(),
                oauth_tokens: BTreeMap::new(),
                secondary_limit: None,
                revocations: 0,
            })),
        }
    }

    pub(crate) fn data(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Which GitHub this is.
    pub fn mode(&self) -> Mode {
        self.data().mode
    }

    /// Adds a user; returns its id.
    pub fn add_user(&self, login: &str, site_admin: bool) -> u64 {
        let mut data = self.data();
        data.next_id += 1;
        let id = data.next_id;
        let user = User {
            id,
            login: login.into(),
            site_admin,
            suspended_at: None,
        };
        data.users.insert(login.into(), user);
        id
    }

    /// A user, by login.
    pub fn user(&self, login: &str) -> Option<User> {
        self.data().users.get(login).cloned()
    }

    /// Issues a personal access token to `owner`; returns its value.
    pub fn add_token(&self, owner: &str, kind: TokenKind) -> String {
        let value = match kind {
            TokenKind::Classic => format!("ghp_{}", self.core.random_alnum(36)),
            TokenKind::FineGrained => format!("github_pat_{}", self.core.random_alnum(70)),
        };
        let token = Token {
            owner: owner.into(),
            kind,
            alive: true,
        };
        self.data().tokens.insert(value.clone(), token);
        value
    }

    /// Whether a personal access token still works.
    pub fn token_alive(&self, value: &str) -> bool {
        self.data().tokens.get(value).is_some_and(|t| t.alive)
    }

    /// Adds a repository (`owner/name`) whose `admins` may manage its keys.
    pub fn add_repo(&self, full_name: &str, admins: &[&str]) {
        let repo = Repo {
            admins: admins.iter().map(|a| a.to_string()).collect(),
            keys: BTreeMap::new(),
        };
        self.data().repos.insert(full_name.into(), repo);
    }

    /// Adds a deploy key to a repository; returns its id.
    pub fn add_deploy_key(&self, repo: &str, title: &str, key: &str, read_only: bool) -> u64 {
        let mut data = self.data();
        data.next_id += 1;
        let id = data.next_id;
        let entry = DeployKey {
            id,
            title: title.into(),
            key: key.into(),
            read_only,
        };
        data.repos
            .entry(repo.into())
            .or_default()
            .keys
            .insert(id, entry);
        id
    }

    /// A repository's deploy keys.
    pub fn deploy_keys(&self, repo: &str) -> Vec<DeployKey> {
        self.data()
            .repos
            .get(repo)
            .map(|r| r.keys.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Registers an OAuth app; returns its client secret.
    pub fn add_oauth_app(&self, client_id: &str) -> String {
        let secret = self.core.random_alnum(40);
        self.data().apps.insert(client_id.into(), secret.clone());
        secret
    }

    /// Issues an OAuth token of app `client_id` to `user`; returns its value.
    pub fn add_oauth_token(&self, client_id: &str, user: &str) -> String {
        let value = format!("gho_{}", self.core.random_alnum(36));
        let token = OAuthToken {
            client_id: client_id.into(),
            user: user.into(),
            alive: true,
        };
        self.data().oauth_tokens.insert(value.clone(), token);
        value
    }

    /// Whether an OAuth token still works.
    pub fn oauth_token_alive(&self, value: &str) -> bool {
        self.data().oauth_tokens.get(value).is_some_and(|t| t.alive)
    }

    /// The next request is refused by a secondary rate limit that asks to
    /// wait `retry_after_secs`.
    pub fn trip_secondary_limit(&self, retry_after_secs: u64) {
        self.data().secondary_limit = Some(retry_after_secs);
    }

    /// The provider's state without any token or secret value: users, live
    /// token counts per owner and kind, deploy keys, OAuth grants.
    pub fn dump(&self) -> Value {
        let data = self.data();
        let mut tokens: BTreeMap<String, usize> = BTreeMap::new();
        for token in data.tokens.values().filter(|t| t.alive) {
            *tokens
                .entry(format!("{}/{:?}", token.owner, token.kind))
                .or_default() += 1;
        }
        let mut grants: BTreeMap<String, usize> = BTreeMap::new();
        for token in data.oauth_tokens.values().filter(|t| t.alive) {
            *grants
                .entry(format!("{}/{}", token.client_id, token.user))
                .or_default() += 1;
        }
        let repos: BTreeMap<&String, Vec<&DeployKey>> = data
            .repos
            .iter()
            .map(|(name, repo)| (name, repo.keys.values().collect()))
            .collect();
        json!({
            "mode": data.mode,
            "users": data.users.values().collect::<Vec<_>>(),
            "live_tokens": tokens,
            "deploy_keys": repos,
            "live_oauth_tokens": grants,
        })
    }
}
