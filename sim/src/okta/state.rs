//! Okta's data (users, sessions, OAuth grants and tokens, apps, API tokens) and the
//! [`OktaState`] handle tests use to seed and inspect it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::OktaConfig;
use crate::core::SimCore;
use crate::util::{Rng, now_ms};

/// A user's profile (the attributes plugins read for owner facts).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserProfile {
    /// Login (an email address).
    pub login: String,
    /// Primary email.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Manager's display name or login.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    /// Manager's user id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager_id: Option<String>,
    /// Department.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Job title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// User type, e.g. `Employee`, `Contractor`, `Service`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
}

/// A user. `status` is one of `ACTIVE`, `SUSPENDED`, `DEPROVISIONED`, `STAGED`,
/// `PROVISIONED`, `LOCKED_OUT`, `PASSWORD_EXPIRED`, `RECOVERY`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OktaUser {
    /// User id (`00u…`).
    pub id: String,
    /// Lifecycle status.
    pub status: String,
    /// Creation time, epoch milliseconds.
    pub created_ms: u64,
    /// Last status change, epoch milliseconds.
    pub status_changed_ms: Option<u64>,
    /// Last update, epoch milliseconds.
    pub last_updated_ms: u64,
    /// Last login, epoch milliseconds.
    pub last_login_ms: Option<u64>,
    /// Profile.
    pub profile: UserProfile,
}

/// What to create with [`OktaState::add_user`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UserSpec {
    /// User id; generated (`00u…`) when `None`.
    pub id: Option<String>,
    /// Status; `ACTIVE` when empty.
    pub status: String,
    /// Profile (email defaults to the login).
    pub profile: UserProfile,
}

impl UserSpec {
    /// An ACTIVE user with this login and name.
    pub fn new(login: &str, first: &str, last: &str) -> Self {
        Self {
            id: None,
            status: "ACTIVE".into(),
            profile: UserProfile {
                login: login.into(),
                email: login.into(),
                first_name: first.into(),
                last_name: last.into(),
                ..UserProfile::default()
            },
        }
    }
    /// Sets a fixed id.
    pub fn id(mut self, id: &str) -> Self {
        self.id = Some(id.into());
        self
    }
    /// Sets the status.
    pub fn status(mut self, status: &str) -> Self {
        self.status = status.into();
        self
    }
    /// Sets manager (login) and manager id.
    pub fn manager(mut self, login: &str, id: &str) -> Self {
        self.profile.manager = Some(login.into());
        self.profile.manager_id = Some(id.into());
        self
    }
    /// Sets department and title.
    pub fn department(mut self, department: &str, title: &str) -> Self {
        self.profile.department = Some(department.into());
        self.profile.title = Some(title.into());
        self
    }
    /// Sets the user type.
    pub fn user_type(mut self, t: &str) -> Self {
        self.profile.user_type = Some(t.into());
        self
    }
}

/// A browser SSO session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OktaSession {
    /// Session id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Client IP.
    pub ip: String,
    /// Creation time, epoch milliseconds.
    pub created_ms: u64,
}

/// A user's consent grant to an OAuth client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OAuthGrant {
    /// Grant id (`oag…`).
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// OAuth client id.
    pub client_id: String,
    /// Scope, e.g. `okta.users.read`.
    pub scope: String,
    /// Creation time, epoch milliseconds.
    pub created_ms: u64,
}

/// An OAuth access or refresh token issued to a user for a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OAuthToken {
    /// Token id (`oar…` refresh, `oat…` access).
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// OAuth client id.
    pub client_id: String,
    /// `refresh` or `access`.
    pub kind: String,
    /// Creation time, epoch milliseconds.
    pub created_ms: u64,
}

/// An application (OIDC service apps represent agents / NHIs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OktaApp {
    /// App id (`0oa…`).
    pub id: String,
    /// App name, e.g. `oidc_client`.
    pub name: String,
    /// Display label.
    pub label: String,
    /// `ACTIVE` or `INACTIVE`.
    pub status: String,
    /// e.g. `OPENID_CONNECT`.
    pub sign_on_mode: String,
    /// OAuth client id (defaults to the app id).
    pub client_id: String,
    /// Creation time, epoch milliseconds.
    pub created_ms: u64,
    /// Last update, epoch milliseconds.
    pub last_updated_ms: u64,
}

/// What to create with [`OktaState::add_app`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AppSpec {
    /// App id; generated (`0oa…`) when `None`.
    pub id: Option<String>,
    /// Label.
    pub label: String,
    /// Client id; the app id when `None`.
    pub client_id: Option<String>,
    /// Status; `ACTIVE` when empty.
    pub status: String,
}

/// An API token (SSWS).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    /// Token id (`00T…`).
    pub id: String,
    /// Name.
    pub name: String,
    /// Owner user id; the token only works while its owner is ACTIVE.
    pub user_id: String,
    /// The secret sent as `SSWS <token>`.
    pub token: String,
    /// Creation time, epoch milliseconds.
    pub created_ms: u64,
}

pub(crate) struct OktaData {
    pub users: BTreeMap<String, OktaUser>,
    pub sessions: Vec<OktaSession>,
    pub grants: Vec<OAuthGrant>,
    pub tokens: Vec<OAuthToken>,
    pub apps: BTreeMap<String, OktaApp>,
    pub api_tokens: BTreeMap<String, ApiToken>,
    pub rng: Rng,
}

impl OktaData {
    /// Resolves a user by id, login, or login short name (the part before `@`).
    pub fn find_user(&self, key: &str) -> Option<String> {
        if self.users.contains_key(key) {
            return Some(key.to_owned());
        }
        let k = key.to_ascii_lowercase();
        let by = |f: &dyn Fn(&OktaUser) -> bool| {
            let v: Vec<_> = self.users.values().filter(|u| f(u)).collect();
            (v.len() == 1).then(|| v[0].id.clone())
        };
        by(&|u| u.profile.login.to_ascii_lowercase() == k).or_else(|| {
            by(&|u| u.profile.login.to_ascii_lowercase().split('@').next() == Some(k.as_str()))
        })
    }

    /// The API token whose secret is `secret`, if its owner is ACTIVE.
    pub fn valid_api_token(&self, secret: &str) -> Option<&ApiToken> {
        self.api_tokens.values().find(|t| {
            t.token == secret
                && self
                    .users
                    .get(&t.user_id)
                    .is_some_and(|u| u.status == "ACTIVE")
        })
    }

    fn okta_id(&mut self, prefix: &str) -> String {
        format!("{prefix}{}", self.rng.alnum(17))
    }
}

/// Handle on an Okta simulator's data and knobs. Cheap to clone.
#[derive(Clone)]
pub struct OktaState {
    pub(crate) data: Arc<Mutex<OktaData>>,
    pub(crate) core: SimCore,
}

crate::sim_handle!(OktaState);

/// Id of the super-admin user owning the configured API token.
pub const ADMIN_USER_ID: &str = "00usimadmin000000001";
/// Id of the configured API token.
pub const ADMIN_API_TOKEN_ID: &str = "00Tsimcordon00000001";

impl OktaState {
    /// A fresh org with a super-admin user (`admin@example.com`) owning `config.api_token`.
    pub fn new(config: &OktaConfig) -> Self {
        let data = OktaData {
            users: BTreeMap::new(),
            sessions: Vec::new(),
            grants: Vec::new(),
            tokens: Vec::new(),
            apps: BTreeMap::new(),
            api_tokens: BTreeMap::new(),
            rng: Rng::from_option(config.faults.seed.map(|s| s ^ 0x6f6b_7461)),
        };
        let state = Self {
            data: Arc::new(Mutex::new(data)),
            core: SimCore::new(config.faults.clone(), Some(config.rate_limit)),
        };
        state.add_user(
            UserSpec::new("admin@example.com", "Org", "Admin")
                .id(ADMIN_USER_ID)
                .department("IT", "Okta Super Admin"),
        );
        state.add_api_token_with_id(
            ADMIN_API_TOKEN_ID,
            "cordon",
            ADMIN_USER_ID,
            &config.api_token,
        );
        state
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, OktaData> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates a user and returns its id.
    pub fn add_user(&self, spec: UserSpec) -> String {
        let mut d = self.lock();
        let id = spec.id.unwrap_or_else(|| d.okta_id("00u"));
        let now = now_ms();
        let mut profile = spec.profile;
        if profile.email.is_empty() {
            profile.email = profile.login.clone();
        }
        let status = if spec.status.is_empty() {
            "ACTIVE".to_owned()
        } else {
            spec.status
        };
        d.users.insert(
            id.clone(),
            OktaUser {
                id: id.clone(),
                status,
                created_ms: now,
                status_changed_ms: None,
                last_updated_ms: now,
                last_login_ms: None,
                profile,
            },
        );
        id
    }

    /// A user by id, login or login short name.
    pub fn user(&self, key: &str) -> Option<OktaUser> {
        let d = self.lock();
        d.find_user(key).and_then(|id| d.users.get(&id).cloned())
    }

    /// Forces a user's status (fixture helper; the API enforces lifecycle rules).
    pub fn set_user_status(&self, id: &str, status: &str) {
        if let Some(u) = self.lock().users.get_mut(id) {
            u.status = status.to_owned();
            u.status_changed_ms = Some(now_ms());
        }
    }

    /// Opens an SSO session for a user and returns its id.
    pub fn add_session(&self, user_id: &str, ip: &str) -> String {
        let mut d = self.lock();
        let id = format!("102{}", d.rng.alnum(22));
        let (u, ip) = (user_id.to_owned(), ip.to_owned());
        d.sessions.push(OktaSession {
            id: id.clone(),
            user_id: u,
            ip,
            created_ms: now_ms(),
        });
        id
    }

    /// A user's live sessions.
    pub fn sessions_of(&self, user_id: &str) -> Vec<OktaSession> {
        let d = self.lock();
        d.sessions
            .iter()
            .filter(|s| s.user_id == user_id)
            .cloned()
            .collect()
    }

    /// Records a consent grant and returns its id.
    pub fn add_grant(&self, user_id: &str, client_id: &str, scope: &str) -> String {
        let mut d = self.lock();
        let id = d.okta_id("oag");
        d.grants.push(OAuthGrant {
            id: id.clone(),
            user_id: user_id.into(),
            client_id: client_id.into(),
            scope: scope.into(),
            created_ms: now_ms(),
        });
        id
    }

    /// A user's grants.
    pub fn grants_of(&self, user_id: &str) -> Vec<OAuthGrant> {
        let d = self.lock();
        d.grants
            .iter()
            .filter(|g| g.user_id == user_id)
            .cloned()
            .collect()
    }

    /// Issues an OAuth token (`kind` = `refresh` or `access`) and returns its id.
    pub fn add_oauth_token(&self, user_id: &str, client_id: &str, kind: &str) -> String {
        let mut d = self.lock();
        let id = d.okta_id(if kind == "refresh" { "oar" } else { "oat" });
        d.tokens.push(OAuthToken {
            id: id.clone(),
            user_id: user_id.into(),
            client_id: client_id.into(),
            kind: kind.into(),
            created_ms: now_ms(),
        });
        id
    }

    /// A user's OAuth tokens.
    pub fn tokens_of(&self, user_id: &str) -> Vec<OAuthToken> {
        let d = self.lock();
        d.tokens
            .iter()
            .filter(|t| t.user_id == user_id)
            .cloned()
            .collect()
    }

    /// Creates an OIDC app and returns its id.
    pub fn add_app(&self, spec: AppSpec) -> String {
        let mut d = self.lock();
        let id = spec.id.unwrap_or_else(|| d.okta_id("0oa"));
        let now = now_ms();
        d.apps.insert(
            id.clone(),
            OktaApp {
                id: id.clone(),
                name: "oidc_client".into(),
                label: spec.label,
                status: if spec.status.is_empty() {
                    "ACTIVE".into()
                } else {
                    spec.status
                },
                sign_on_mode: "OPENID_CONNECT".into(),
                client_id: spec.client_id.unwrap_or_else(|| id.clone()),
                created_ms: now,
                last_updated_ms: now,
            },
        );
        id
    }

    /// An app by id.
    pub fn app(&self, id: &str) -> Option<OktaApp> {
        self.lock().apps.get(id).cloned()
    }

    /// Creates an API token owned by `user_id`; returns `(id, secret)`.
    pub fn add_api_token(&self, name: &str, user_id: &str) -> (String, String) {
        let (id, secret) = {
            let mut d = self.lock();
            (d.okta_id("00T"), format!("00{}", d.rng.alnum(40)))
        };
        self.add_api_token_with_id(&id, name, user_id, &secret);
        (id, secret)
    }

    /// Creates an API token with a fixed id and secret.
    pub fn add_api_token_with_id(&self, id: &str, name: &str, user_id: &str, secret: &str) {
        self.lock().api_tokens.insert(
            id.to_owned(),
            ApiToken {
                id: id.into(),
                name: name.into(),
                user_id: user_id.into(),
                token: secret.into(),
                created_ms: now_ms(),
            },
        );
    }

    /// An API token by id (`None` once revoked).
    pub fn api_token(&self, id: &str) -> Option<ApiToken> {
        self.lock().api_tokens.get(id).cloned()
    }

    /// Whether the API token still exists.
    pub fn api_token_exists(&self, id: &str) -> bool {
        self.lock().api_tokens.contains_key(id)
    }

    /// JSON dump of everything (the `provider` part of `GET /__sim/state`).
    pub fn dump(&self) -> Value {
        let d = self.lock();
        json!({
            "users": d.users.values().collect::<Vec<_>>(),
            "sessions": d.sessions,
            "grants": d.grants,
            "oauth_tokens": d.tokens,
            "apps": d.apps.values().collect::<Vec<_>>(),
            "api_tokens": d.api_tokens.values().collect::<Vec<_>>(),
        })
    }
}
