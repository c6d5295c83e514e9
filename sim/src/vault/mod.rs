//! HashiCorp Vault simulator: token accessors, leases, AppRole secret-ids, identity entities,
//! ACL policies with `sudo`, sealed mode and rate-limit quotas.
//!
//! Behaviour (see `sim/README.md` for the full list of quirks):
//! - auth is `X-Vault-Token` only; a missing, unknown, revoked or expired token, or one whose
//!   entity is disabled → 403 `{"errors":["permission denied"]}`;
//! - `lookup-accessor` of an unknown or revoked accessor → 400 `invalid accessor` (a
//!   multierror); `revoke-accessor` of one → 200 with a `No token found` warning;
//! - a write to a path ending in `/` → 400, as OpenBao answers;
//! - `sys/leases/revoke` of an unknown lease → 204 (Vault treats it as already revoked);
//! - `sys/leases/revoke-prefix/…` needs `sudo` (root, or the `cordon-responder-sudo` policy);
//! - sealed → 503 `{"errors":["Vault is sealed"]}`;
//! - over the rate-limit quota → 429 with `Retry-After` and
//!   `{"errors":["request path \"…\": rate limit quota exceeded"]}`.

mod acl;
mod answers;
pub mod fixtures;
mod routes;
mod state;

use std::io;
use std::net::SocketAddr;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

pub use acl::{Cap, PathRule};
pub use state::{
    EntityInfo, EntitySpec, LeaseInfo, LeaseSpec, SecretIdInfo, SecretIdSpec, TokenInfo, TokenSpec,
    VaultState,
};

use crate::core::SimCore;
use crate::faults::Faults;
use crate::ratelimit::{Decision, RateLimitConfig};
use crate::server::{Running, Simulator, loopback_any_port, serve};

/// Configuration of a Vault simulator.
#[derive(Clone, Debug)]
pub struct VaultConfig {
    /// The root token (policy `root`, can do everything including `sudo` paths).
    pub root_token: String,
    /// Rate-limit quota over every request; `None` for no quota.
    pub rate_limit: Option<RateLimitConfig>,
    /// Fault knobs.
    pub faults: Faults,
    /// Start sealed.
    pub sealed: bool,
    /// Seed [`fixtures::demo`] at start.
    pub demo_fixtures: bool,
    /// Address to listen on; `127.0.0.1:0` picks a free port.
    pub bind: SocketAddr,
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            root_token: "hvs.sim-root-token".into(),
            rate_limit: None,
            faults: Faults::default(),
            sealed: false,
            demo_fixtures: false,
            bind: loopback_any_port(),
        }
    }
}

impl VaultConfig {
    /// Default config with the given root token.
    pub fn with_root_token(token: &str) -> Self {
        Self {
            root_token: token.to_owned(),
            ..Self::default()
        }
    }
}

/// The Vault simulator.
pub struct VaultSim;

impl VaultSim {
    /// Creates the state from `config` and serves it on `config.bind`.
    pub async fn start(config: VaultConfig) -> io::Result<(Running, VaultState)> {
        let state = VaultState::new(&config);
        if config.demo_fixtures {
            fixtures::demo(&state);
        }
        let running = Self::serve(state.clone(), config.bind).await?;
        Ok((running, state))
    }

    /// Serves an existing state (e.g. seeded before start) on `bind`.
    pub async fn serve(state: VaultState, bind: SocketAddr) -> io::Result<Running> {
        serve(bind, routes::router(), state).await
    }
}

/// Body of `POST /__sim/seed` on the Vault simulator. Order of creation: policies, entities,
/// tokens, leases, secret-ids; `demo: true` seeds [`fixtures::demo`] first.
#[derive(Deserialize, Default)]
#[serde(default)]
struct SeedBody {
    demo: bool,
    policies: std::collections::BTreeMap<String, Vec<PathRule>>,
    entities: Vec<EntitySpec>,
    tokens: Vec<TokenSpec>,
    leases: Vec<LeaseSpec>,
    secret_ids: Vec<SecretIdSpec>,
}

impl Simulator for VaultState {
    fn core(&self) -> &SimCore {
        &self.core
    }

    fn fault_response(&self, status: StatusCode) -> Response {
        if status == StatusCode::SERVICE_UNAVAILABLE {
            answers::errors(status, &["Vault is sealed"])
        } else {
            answers::errors(status, &["1 error occurred:\n\t* internal error\n\n"])
        }
    }

    fn rate_limited_response(&self, path: &str, d: &Decision) -> Response {
        let rel = path.trim_start_matches("/v1/");
        let mut resp = answers::errors(
            StatusCode::TOO_MANY_REQUESTS,
            &[&format!("request path {rel:?}: rate limit quota exceeded")],
        );
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from(d.retry_after_secs));
        resp
    }

    fn decorate(&self, _d: Option<&Decision>, _h: &mut HeaderMap) {}

    fn dump(&self) -> Value {
        VaultState::dump(self)
    }

    fn seed(&self, body: Value) -> Result<Value, String> {
        let b: SeedBody = serde_json::from_value(body).map_err(|e| e.to_string())?;
        let demo = b.demo.then(|| fixtures::demo(self));
        for (name, rules) in b.policies {
            self.add_policy(&name, rules);
        }
        let entities: Vec<String> = b
            .entities
            .into_iter()
            .map(|e| self.seed_entity(e))
            .collect();
        let tokens: Vec<Value> = b
            .tokens
            .into_iter()
            .map(|t| {
                let acc = self.seed_token(t);
                let id = self.token(&acc).map(|t| t.id).unwrap_or_default();
                json!({ "accessor": acc, "token": id })
            })
            .collect();
        let leases: Vec<String> = b.leases.into_iter().map(|l| self.seed_lease(l)).collect();
        let secret_ids: Vec<String> = b
            .secret_ids
            .into_iter()
            .map(|s| self.seed_secret_id(s))
            .collect();
        Ok(json!({
            "demo": demo,
            "entities": entities,
            "tokens": tokens,
            "leases": leases,
            "secret_ids": secret_ids,
        }))
    }
}
