//! Vault's data (tokens, leases, identity entities, AppRole secret-ids, policies) and the
//! [`VaultState`] handle tests use to seed and inspect it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::VaultConfig;
use super::acl::{self, Cap, PathRule};
use crate::core::SimCore;
use crate::util::{Rng, now_ms};

/// A token as Vault stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// The token itself (the secret sent in `X-Vault-Token`).
    pub id: String,
    /// The token's accessor.
    pub accessor: String,
    /// Display name, e.g. `approle-agent-7`.
    pub display_name: String,
    /// Token policies.
    pub policies: Vec<String>,
    /// Identity entity id, empty when none.
    pub entity_id: String,
    /// Token metadata.
    pub meta: BTreeMap<String, String>,
    /// Auth path that created the token, e.g. `auth/approle/login`.
    pub path: String,
    /// Creation time, epoch milliseconds.
    pub creation_time_ms: u64,
    /// Time to live in seconds from creation; 0 never expires.
    pub ttl_secs: u64,
    /// Whether the token has no parent.
    pub orphan: bool,
    /// Accessor of the parent token, if any.
    pub parent: Option<String>,
    /// Whether the token has been revoked (directly, through its parent, or by prefix).
    pub revoked: bool,
    /// When it was revoked, epoch milliseconds.
    pub revoked_at_ms: Option<u64>,
}

impl TokenInfo {
    /// Expiry time in epoch milliseconds, `None` for tokens without TTL.
    pub fn expire_time_ms(&self) -> Option<u64> {
        (self.ttl_secs > 0).then(|| self.creation_time_ms + self.ttl_secs * 1000)
    }

    /// Not revoked and not expired at `now_ms`.
    pub fn is_live(&self, now_ms: u64) -> bool {
        !self.revoked && self.expire_time_ms().is_none_or(|e| now_ms < e)
    }
}

/// What to create with [`VaultState::seed_token`]. Unset ids are generated.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenSpec {
    /// Token secret; generated (`hvs.…`) when `None`.
    pub id: Option<String>,
    /// Accessor; generated when `None`.
    pub accessor: Option<String>,
    /// Display name.
    pub display_name: String,
    /// Policies (`root` allows everything).
    pub policies: Vec<String>,
    /// Identity entity id.
    pub entity_id: Option<String>,
    /// Metadata.
    pub meta: BTreeMap<String, String>,
    /// Creating auth path; `auth/token/create` when empty.
    pub path: String,
    /// TTL in seconds; 0 never expires.
    pub ttl_secs: u64,
    /// Accessor of the parent token (makes this a child token).
    pub parent: Option<String>,
}

impl TokenSpec {
    /// A one-hour token named `display_name` with the `default` policy.
    pub fn new(display_name: &str) -> Self {
        Self {
            display_name: display_name.to_owned(),
            policies: vec!["default".into()],
            ttl_secs: 3600,
            ..Self::default()
        }
    }
    /// Sets the policies.
    pub fn policies(mut self, p: &[&str]) -> Self {
        self.policies = p.iter().map(|s| (*s).to_owned()).collect();
        self
    }
    /// Sets the identity entity.
    pub fn entity(mut self, id: &str) -> Self {
        self.entity_id = Some(id.to_owned());
        self
    }
    /// Adds a metadata pair.
    pub fn meta(mut self, k: &str, v: &str) -> Self {
        self.meta.insert(k.to_owned(), v.to_owned());
        self
    }
    /// Sets the creating auth path.
    pub fn path(mut self, p: &str) -> Self {
        self.path = p.to_owned();
        self
    }
    /// Sets the TTL in seconds.
    pub fn ttl(mut self, secs: u64) -> Self {
        self.ttl_secs = secs;
        self
    }
    /// Makes it a child of the token with accessor `acc`.
    pub fn parent(mut self, acc: &str) -> Self {
        self.parent = Some(acc.to_owned());
        self
    }
    /// Fixes the token secret and accessor (for readable fixtures).
    pub fn ids(mut self, token: &str, accessor: &str) -> Self {
        self.id = Some(token.to_owned());
        self.accessor = Some(accessor.to_owned());
        self
    }
}

/// A lease on a dynamic secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LeaseInfo {
    /// Lease id, e.g. `database/creds/readonly/Zr4…`.
    pub id: String,
    /// Accessor of the token that obtained it; revoking that token revokes the lease.
    pub token_accessor: Option<String>,
    /// Issue time, epoch milliseconds.
    pub issue_time_ms: u64,
    /// TTL in seconds.
    pub ttl_secs: u64,
    /// Whether the lease has been revoked.
    pub revoked: bool,
    /// When, epoch milliseconds.
    pub revoked_at_ms: Option<u64>,
}

/// What to create with [`VaultState::seed_lease`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LeaseSpec {
    /// Full lease id; when `None`, `path` + `/` + a random suffix.
    pub id: Option<String>,
    /// Secret path, e.g. `database/creds/readonly`.
    pub path: String,
    /// Accessor of the owning token.
    pub token_accessor: Option<String>,
    /// TTL in seconds (default 3600 when 0).
    pub ttl_secs: u64,
}

/// An identity entity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EntityInfo {
    /// Entity id (UUID).
    pub id: String,
    /// Entity name.
    pub name: String,
    /// Disabled entities' tokens are refused (403) but not revoked.
    pub disabled: bool,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Entity policies.
    pub policies: Vec<String>,
    /// Creation time, epoch milliseconds.
    pub creation_time_ms: u64,
    /// Last update, epoch milliseconds.
    pub last_update_time_ms: u64,
}

/// What to create with [`VaultState::seed_entity`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EntitySpec {
    /// Entity id; generated UUID when `None`.
    pub id: Option<String>,
    /// Entity name.
    pub name: String,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Policies.
    pub policies: Vec<String>,
    /// Start disabled.
    pub disabled: bool,
}

/// An AppRole secret-id (only its accessor and metadata are visible).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SecretIdInfo {
    /// The secret-id accessor.
    pub accessor: String,
    /// AppRole mount, e.g. `approle`.
    pub mount: String,
    /// Role name.
    pub role: String,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Creation time, epoch milliseconds.
    pub creation_time_ms: u64,
    /// Whether it was destroyed (kept as a tombstone for tests; Vault forgets it).
    pub destroyed: bool,
    /// When, epoch milliseconds.
    pub destroyed_at_ms: Option<u64>,
}

/// What to create with [`VaultState::seed_secret_id`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SecretIdSpec {
    /// Mount; `approle` when empty.
    pub mount: String,
    /// Role name.
    pub role: String,
    /// Accessor; generated UUID when `None`.
    pub accessor: Option<String>,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
}

/// The caller of a request, resolved from `X-Vault-Token`.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub accessor: String,
    pub policies: Vec<String>,
}

pub(crate) struct VaultData {
    pub sealed: bool,
    pub root_accessor: String,
    pub tokens: BTreeMap<String, TokenInfo>,
    pub by_id: HashMap<String, String>,
    pub leases: BTreeMap<String, LeaseInfo>,
    /// Parent accessor → its child tokens' accessors (revoking a tree walks
    /// these instead of every token).
    pub children: HashMap<String, Vec<String>>,
    /// Token accessor → the ids of the leases it holds.
    pub leases_of: HashMap<String, Vec<String>>,
    pub entities: BTreeMap<String, EntityInfo>,
    /// (mount, role) → accessor → secret-id.
    pub roles: BTreeMap<(String, String), BTreeMap<String, SecretIdInfo>>,
    pub policies: BTreeMap<String, Vec<PathRule>>,
    pub rng: Rng,
}

impl VaultData {
    /// Resolves a token secret to a caller, or `None` (→ 403 permission denied).
    pub fn authenticate(&self, token: &str, now: u64) -> Option<Caller> {
        let t = self.tokens.get(self.by_id.get(token)?)?;
        if !t.is_live(now) {
            return None;
        }
        if !t.entity_id.is_empty() && self.entities.get(&t.entity_id).is_some_and(|e| e.disabled) {
            return None;
        }
        Some(Caller {
            accessor: t.accessor.clone(),
            policies: t.policies.clone(),
        })
    }

    /// Whether `caller` may use `cap` on `path` (relative to `/v1/`).
    pub fn allowed(&self, caller: &Caller, path: &str, cap: Cap) -> bool {
        if caller.policies.iter().any(|p| p == "root") {
            return true;
        }
        let rules = caller
            .policies
            .iter()
            .filter_map(|p| self.policies.get(p))
            .flatten();
        acl::allows(rules, path, cap)
    }

    /// A live token by accessor.
    pub fn live_token(&self, accessor: &str, now: u64) -> Option<&TokenInfo> {
        self.tokens.get(accessor).filter(|t| t.is_live(now))
    }

    /// Revokes the token, its leases, and recursively its children and their leases.
    pub fn revoke_token_tree(&mut self, accessor: &str, now: u64) {
        let mut stack = vec![accessor.to_owned()];
        while let Some(acc) = stack.pop() {
            if let Some(t) = self.tokens.get_mut(&acc)
                && !t.revoked
            {
                t.revoked = true;
                t.revoked_at_ms = Some(now);
            }
            for id in self.leases_of.get(&acc).into_iter().flatten() {
                if let Some(l) = self.leases.get_mut(id)
                    && !l.revoked
                {
                    l.revoked = true;
                    l.revoked_at_ms = Some(now);
                }
            }
            let tokens = &self.tokens;
            stack.extend(
                self.children
                    .get(&acc)
                    .into_iter()
                    .flatten()
                    .filter(|c| tokens.get(*c).is_some_and(|c| !c.revoked))
                    .cloned(),
            );
        }
    }

    /// Revokes one lease; unknown or already revoked leases are ignored.
    pub fn revoke_lease(&mut self, id: &str, now: u64) {
        if let Some(l) = self.leases.get_mut(id)
            && !l.revoked
        {
            l.revoked = true;
            l.revoked_at_ms = Some(now);
        }
    }

    fn insert_token(&mut self, spec: TokenSpec) -> String {
        let now = now_ms();
        let id = spec
            .id
            .unwrap_or_else(|| format!("hvs.{}", self.rng.alnum(24)));
        let accessor = spec.accessor.unwrap_or_else(|| self.rng.alnum(24));
        let info = TokenInfo {
            id: id.clone(),
            accessor: accessor.clone(),
            display_name: spec.display_name,
            policies: spec.policies,
            entity_id: spec.entity_id.unwrap_or_default(),
            meta: spec.meta,
            path: if spec.path.is_empty() {
                "auth/token/create".into()
            } else {
                spec.path
            },
            creation_time_ms: now,
            ttl_secs: spec.ttl_secs,
            orphan: spec.parent.is_none(),
            parent: spec.parent,
            revoked: false,
            revoked_at_ms: None,
        };
        self.by_id.insert(id, accessor.clone());
        if let Some(parent) = &info.parent {
            self.children
                .entry(parent.clone())
                .or_default()
                .push(accessor.clone());
        }
        self.tokens.insert(accessor.clone(), info);
        accessor
    }
}

/// Handle on a Vault simulator's data and knobs. Cheap to clone; usable before and after the
/// server starts, from any thread.
#[derive(Clone)]
pub struct VaultState {
    pub(crate) data: Arc<Mutex<VaultData>>,
    pub(crate) core: SimCore,
}

crate::sim_handle!(VaultState);

impl VaultState {
    /// A fresh Vault holding the root token of `config` and the built-in policies.
    pub fn new(config: &VaultConfig) -> Self {
        let mut data = VaultData {
            sealed: config.sealed,
            root_accessor: String::new(),
            tokens: BTreeMap::new(),
            by_id: HashMap::new(),
            leases: BTreeMap::new(),
            children: HashMap::new(),
            leases_of: HashMap::new(),
            entities: BTreeMap::new(),
            roles: BTreeMap::new(),
            policies: acl::builtin_policies().into_iter().collect(),
            rng: Rng::from_option(config.faults.seed.map(|s| s ^ 0x0076_6175_6c74)),
        };
        data.root_accessor = data.insert_token(TokenSpec {
            id: Some(config.root_token.clone()),
            display_name: "root".into(),
            policies: vec!["root".into()],
            path: "auth/token/root".into(),
            ..TokenSpec::default()
        });
        Self {
            data: Arc::new(Mutex::new(data)),
            core: SimCore::new(config.faults.clone(), config.rate_limit),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, VaultData> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The root token's accessor.
    pub fn root_accessor(&self) -> String {
        self.lock().root_accessor.clone()
    }

    /// Creates a token and returns its accessor (the secret is in [`TokenInfo::id`]).
    pub fn seed_token(&self, spec: TokenSpec) -> String {
        self.lock().insert_token(spec)
    }

    /// A token by accessor, revoked ones included.
    pub fn token(&self, accessor: &str) -> Option<TokenInfo> {
        self.lock().tokens.get(accessor).cloned()
    }

    /// Every token, revoked ones included.
    pub fn tokens(&self) -> Vec<TokenInfo> {
        self.lock().tokens.values().cloned().collect()
    }

    /// Creates a lease and returns its id.
    pub fn seed_lease(&self, spec: LeaseSpec) -> String {
        let mut d = self.lock();
        let id = spec.id.unwrap_or_else(|| {
            let suffix = d.rng.alnum(24);
            format!("{}/{suffix}", spec.path.trim_end_matches('/'))
        });
        let lease = LeaseInfo {
            id: id.clone(),
            token_accessor: spec.token_accessor,
            issue_time_ms: now_ms(),
            ttl_secs: if spec.ttl_secs == 0 {
                3600
            } else {
                spec.ttl_secs
            },
            revoked: false,
            revoked_at_ms: None,
        };
        if let Some(token) = &lease.token_accessor {
            d.leases_of
                .entry(token.clone())
                .or_default()
                .push(id.clone());
        }
        d.leases.insert(id.clone(), lease);
        id
    }

    /// A lease by id, revoked ones included.
    pub fn lease(&self, id: &str) -> Option<LeaseInfo> {
        self.lock().leases.get(id).cloned()
    }

    /// Every lease.
    pub fn leases(&self) -> Vec<LeaseInfo> {
        self.lock().leases.values().cloned().collect()
    }

    /// Creates an identity entity and returns its id.
    pub fn seed_entity(&self, spec: EntitySpec) -> String {
        let mut d = self.lock();
        let id = spec.id.unwrap_or_else(|| d.rng.uuid());
        let now = now_ms();
        d.entities.insert(
            id.clone(),
            EntityInfo {
                id: id.clone(),
                name: spec.name,
                disabled: spec.disabled,
                metadata: spec.metadata,
                policies: spec.policies,
                creation_time_ms: now,
                last_update_time_ms: now,
            },
        );
        id
    }

    /// An identity entity by id.
    pub fn entity(&self, id: &str) -> Option<EntityInfo> {
        self.lock().entities.get(id).cloned()
    }

    /// Declares an AppRole role (with no secret-id yet) on `mount`.
    pub fn add_approle_role(&self, mount: &str, role: &str) {
        self.lock()
            .roles
            .entry((mount.to_owned(), role.to_owned()))
            .or_default();
    }

    /// Creates an AppRole secret-id (creating its role if needed) and returns its accessor.
    pub fn seed_secret_id(&self, spec: SecretIdSpec) -> String {
        let mut d = self.lock();
        let mount = if spec.mount.is_empty() {
            "approle".to_owned()
        } else {
            spec.mount
        };
        let accessor = spec.accessor.unwrap_or_else(|| d.rng.uuid());
        let info = SecretIdInfo {
            accessor: accessor.clone(),
            mount: mount.clone(),
            role: spec.role.clone(),
            metadata: spec.metadata,
            creation_time_ms: now_ms(),
            destroyed: false,
            destroyed_at_ms: None,
        };
        d.roles
            .entry((mount, spec.role))
            .or_default()
            .insert(accessor.clone(), info);
        accessor
    }

    /// A secret-id by mount, role and accessor (destroyed ones included).
    pub fn secret_id(&self, mount: &str, role: &str, accessor: &str) -> Option<SecretIdInfo> {
        let d = self.lock();
        d.roles
            .get(&(mount.to_owned(), role.to_owned()))?
            .get(accessor)
            .cloned()
    }

    /// Whether that secret-id exists and has been destroyed.
    pub fn secret_id_destroyed(&self, mount: &str, role: &str, accessor: &str) -> bool {
        self.secret_id(mount, role, accessor)
            .is_some_and(|s| s.destroyed)
    }

    /// Adds or replaces an ACL policy.
    pub fn add_policy(&self, name: &str, rules: Vec<PathRule>) {
        self.lock().policies.insert(name.to_owned(), rules);
    }

    /// Seals (every request → 503 `Vault is sealed`) or unseals the simulator.
    pub fn set_sealed(&self, sealed: bool) {
        self.lock().sealed = sealed;
    }

    /// Whether the simulator is sealed.
    pub fn sealed(&self) -> bool {
        self.lock().sealed
    }

    /// JSON dump of everything (the `provider` part of `GET /__sim/state`).
    pub fn dump(&self) -> Value {
        let d = self.lock();
        json!({
            "sealed": d.sealed,
            "tokens": d.tokens.values().collect::<Vec<_>>(),
            "leases": d.leases.values().collect::<Vec<_>>(),
            "entities": d.entities.values().collect::<Vec<_>>(),
            "secret_ids": d.roles.values().flat_map(|m| m.values()).collect::<Vec<_>>(),
            "policies": d.policies,
        })
    }
}
