//! CyberArk PVWA's data (Vault users and their logon tokens, privileged accounts, live PSM
//! sessions) and the [`CyberArkState`] handle tests use to seed and inspect it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::CyberArkConfig;
use crate::core::SimCore;
use crate::util::{Rng, now_ms};

/// A Vault user (can log on to PVWA when enabled and given a password).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VaultUser {
    /// Numeric user id.
    pub id: u64,
    /// User name.
    pub username: String,
    /// Password; `None` for users that cannot log on through the API.
    #[serde(skip)]
    pub password: Option<String>,
    /// Disabled users cannot log on and their logon tokens stop working.
    pub disabled: bool,
    /// Last successful logon, epoch milliseconds.
    pub last_logon_ms: Option<u64>,
}

/// A privileged account in a safe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Account {
    /// Account id, e.g. `12_34`.
    pub id: String,
    /// Object name.
    pub name: String,
    /// Target address.
    pub address: String,
    /// Account user name on the target.
    pub user_name: String,
    /// Platform, e.g. `UnixSSH`, `WinDomain`.
    pub platform_id: String,
    /// Safe.
    pub safe_name: String,
    /// Whether the CPM manages (rotates) the secret automatically.
    pub automatic_management_enabled: bool,
    /// Why management is manual, when it is.
    pub manual_management_reason: Option<String>,
    /// CPM status of the last change (`success` after a change).
    pub cpm_status: Option<String>,
    /// Last secret change, epoch milliseconds.
    pub last_modified_ms: u64,
    /// Creation time, epoch milliseconds.
    pub created_ms: u64,
    /// Incremented by every credential change (not visible through the API).
    pub secret_version: u64,
    /// Platform properties.
    pub platform_account_properties: BTreeMap<String, String>,
}

/// What to create with [`CyberArkState::add_account`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountSpec {
    /// Account id; generated (`<safe number>_<n>`) when `None`.
    pub id: Option<String>,
    /// Object name; derived from platform, address and user when empty.
    pub name: String,
    /// Target address.
    pub address: String,
    /// Account user name.
    pub user_name: String,
    /// Platform id.
    pub platform_id: String,
    /// Safe.
    pub safe_name: String,
    /// Start with automatic management disabled.
    pub manual_management: bool,
}

/// A PSM session as the live-sessions API shows it, plus the simulator's flags.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LiveSession {
    /// Session id.
    pub id: String,
    /// Vault user who opened it.
    pub user: String,
    /// Target account user name.
    pub account_username: String,
    /// Target address.
    pub account_address: String,
    /// Account id, when the account is in the vault.
    pub account_id: Option<String>,
    /// Platform of the account.
    pub platform_id: String,
    /// Safe of the account.
    pub safe_name: String,
    /// Client IP of the user.
    pub from_ip: String,
    /// e.g. `SSH`, `RDP`.
    pub protocol: String,
    /// e.g. `PSM-SSH`.
    pub connection_component_id: String,
    /// Start, epoch milliseconds (0 = now when seeded).
    pub start_ms: u64,
    /// Whether the caller may terminate it (403 otherwise).
    pub can_terminate: bool,
    /// Whether the caller may suspend/resume it (403 otherwise).
    pub can_suspend: bool,
    /// Suspended (still live).
    pub suspended: bool,
    /// Terminated (no longer listed).
    pub terminated: bool,
    /// When it was terminated, epoch milliseconds.
    pub terminated_at_ms: Option<u64>,
}

impl Default for LiveSession {
    fn default() -> Self {
        Self {
            id: String::new(),
            user: String::new(),
            account_username: String::new(),
            account_address: String::new(),
            account_id: None,
            platform_id: "UnixSSH".into(),
            safe_name: String::new(),
            from_ip: String::new(),
            protocol: "SSH".into(),
            connection_component_id: "PSM-SSH".into(),
            start_ms: 0,
            can_terminate: true,
            can_suspend: true,
            suspended: false,
            terminated: false,
            terminated_at_ms: None,
        }
    }
}

pub(crate) struct Logon {
    pub user_id: u64,
    pub last_used_ms: u64,
}

pub(crate) struct CyberArkData {
    pub users: BTreeMap<u64, VaultUser>,
    pub logons: HashMap<String, Logon>,
    pub accounts: BTreeMap<String, Account>,
    pub live_sessions: BTreeMap<String, LiveSession>,
    pub next_user_id: u64,
    pub next_account: u64,
    pub session_timeout_ms: u64,
    pub rng: Rng,
}

impl CyberArkData {
    /// The user behind a logon token, if the token is valid now (refreshes its idle timer).
    pub fn touch(&mut self, token: &str, now: u64) -> Option<u64> {
        let timeout = self.session_timeout_ms;
        let logon = self.logons.get_mut(token)?;
        if timeout > 0 && now.saturating_sub(logon.last_used_ms) > timeout {
            self.logons.remove(token);
            return None;
        }
        let uid = logon.user_id;
        if self.users.get(&uid).is_none_or(|u| u.disabled) {
            return None;
        }
        logon.last_used_ms = now;
        Some(uid)
    }

    pub fn user_by_name(&self, name: &str) -> Option<&VaultUser> {
        self.users
            .values()
            .find(|u| u.username.eq_ignore_ascii_case(name))
    }
}

/// Handle on a CyberArk PVWA simulator's data and knobs. Cheap to clone.
#[derive(Clone)]
pub struct CyberArkState {
    pub(crate) data: Arc<Mutex<CyberArkData>>,
    pub(crate) core: SimCore,
}

crate::sim_handle!(CyberArkState);

impl CyberArkState {
    /// A fresh vault with the users of `config` (who can log on).
    pub fn new(config: &CyberArkConfig) -> Self {
        let data = CyberArkData {
            users: BTreeMap::new(),
            logons: HashMap::new(),
            accounts: BTreeMap::new(),
            live_sessions: BTreeMap::new(),
            next_user_id: 2,
            next_account: 1,
            session_timeout_ms: config.session_timeout_secs * 1000,
            rng: Rng::from_option(config.faults.seed.map(|s| s ^ 0x6379_6272)),
        };
        let state = Self {
            data: Arc::new(Mutex::new(data)),
            core: SimCore::new(config.faults.clone(), config.rate_limit),
        };
        for (u, p) in &config.users {
            state.add_user(u, Some(p));
        }
        state
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, CyberArkData> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a Vault user (with a password to allow API logon) and returns its id. An existing
    /// user of that name is updated instead.
    pub fn add_user(&self, username: &str, password: Option<&str>) -> u64 {
        let mut d = self.lock();
        if let Some(id) = d.user_by_name(username).map(|u| u.id) {
            if let Some(u) = d.users.get_mut(&id) {
                u.password = password.map(str::to_owned);
            }
            return id;
        }
        let id = d.next_user_id;
        d.next_user_id += 1;
        d.users.insert(
            id,
            VaultUser {
                id,
                username: username.to_owned(),
                password: password.map(str::to_owned),
                disabled: false,
                last_logon_ms: None,
            },
        );
        id
    }

    /// A user by id.
    pub fn user(&self, id: u64) -> Option<VaultUser> {
        self.lock().users.get(&id).cloned()
    }

    /// A user by name (case-insensitive).
    pub fn user_by_name(&self, name: &str) -> Option<VaultUser> {
        self.lock().user_by_name(name).cloned()
    }

    /// Number of valid logon tokens (before idle expiry is applied).
    pub fn logon_count(&self) -> usize {
        self.lock().logons.len()
    }

    /// Adds an account and returns its id.
    pub fn add_account(&self, spec: AccountSpec) -> String {
        let mut d = self.lock();
        let id = spec.id.unwrap_or_else(|| {
            let n = d.next_account;
            d.next_account += 1;
            format!("12_{n}")
        });
        let now = now_ms();
        let name = if spec.name.is_empty() {
            format!(
                "Operating System-{}-{}-{}",
                spec.platform_id, spec.address, spec.user_name
            )
        } else {
            spec.name
        };
        d.accounts.insert(
            id.clone(),
            Account {
                id: id.clone(),
                name,
                address: spec.address,
                user_name: spec.user_name,
                platform_id: spec.platform_id,
                safe_name: spec.safe_name,
                automatic_management_enabled: !spec.manual_management,
                manual_management_reason: None,
                cpm_status: None,
                last_modified_ms: now,
                created_ms: now,
                secret_version: 1,
                platform_account_properties: BTreeMap::new(),
            },
        );
        id
    }

    /// An account by id.
    pub fn account(&self, id: &str) -> Option<Account> {
        self.lock().accounts.get(id).cloned()
    }

    /// Adds a live PSM session (generated id when `id` is empty, start = now when 0) and
    /// returns its id.
    pub fn add_live_session(&self, mut session: LiveSession) -> String {
        let mut d = self.lock();
        if session.id.is_empty() {
            session.id = d.rng.uuid();
        }
        if session.start_ms == 0 {
            session.start_ms = now_ms();
        }
        let id = session.id.clone();
        d.live_sessions.insert(id.clone(), session);
        id
    }

    /// A session by id, terminated ones included.
    pub fn live_session(&self, id: &str) -> Option<LiveSession> {
        self.lock().live_sessions.get(id).cloned()
    }

    /// Every session, terminated ones included.
    pub fn live_sessions(&self) -> Vec<LiveSession> {
        self.lock().live_sessions.values().cloned().collect()
    }

    /// Sets the idle timeout of logon tokens (0 disables expiry).
    pub fn set_session_timeout_secs(&self, secs: u64) {
        self.lock().session_timeout_ms = secs * 1000;
    }

    /// JSON dump of everything (the `provider` part of `GET /__sim/state`).
    pub fn dump(&self) -> Value {
        let d = self.lock();
        json!({
            "users": d.users.values().collect::<Vec<_>>(),
            "logons": d.logons.len(),
            "accounts": d.accounts.values().collect::<Vec<_>>(),
            "live_sessions": d.live_sessions.values().collect::<Vec<_>>(),
        })
    }
}
