//! CyberArk PVWA (REST, v10+) simulator: logon/logoff with raw session tokens, live PSM
//! sessions (terminate/suspend/resume), privileged accounts (immediate change, JSON-patch of
//! secret management) and Vault users (disable/enable).
//!
//! Behaviour (see `sim/README.md` for the full list of quirks):
//! - logon answers the token as a JSON string; wrong credentials → 403 ITATS004E;
//! - every other call needs `Authorization: <token>` (raw) → else 401 PASWS006E; tokens expire
//!   after `session_timeout_secs` idle and on logoff;
//! - paths are case-sensitive: a wrongly-cased path gets IIS's HTML 404;
//! - terminating an unknown or already terminated session → 404; suspending a suspended
//!   session / resuming a running one → 409.

pub mod fixtures;
mod routes;
mod state;

use std::io;
use std::net::SocketAddr;

use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

pub use routes::codes;
pub use state::{Account, AccountSpec, CyberArkState, LiveSession, VaultUser};

use crate::core::SimCore;
use crate::faults::Faults;
use crate::ratelimit::{Decision, RateLimitConfig};
use crate::server::{Running, Simulator, loopback_any_port, serve};

/// Configuration of a CyberArk PVWA simulator.
#[derive(Clone, Debug)]
pub struct CyberArkConfig {
    /// `(username, password)` of the Vault users allowed to log on.
    pub users: Vec<(String, String)>,
    /// Idle timeout of logon tokens in seconds (PVWA's default is 20 minutes); 0 never expires.
    pub session_timeout_secs: u64,
    /// Optional rate limit (self-hosted PVWA has none; useful for benchmarks). 429 without
    /// `Retry-After`.
    pub rate_limit: Option<RateLimitConfig>,
    /// Fault knobs.
    pub faults: Faults,
    /// Seed [`fixtures::demo`] at start.
    pub demo_fixtures: bool,
    /// Address to listen on; `127.0.0.1:0` picks a free port.
    pub bind: SocketAddr,
}

impl Default for CyberArkConfig {
    fn default() -> Self {
        Self {
            users: vec![("Administrator".into(), "Cyberark1".into())],
            session_timeout_secs: 20 * 60,
            rate_limit: None,
            faults: Faults::default(),
            demo_fixtures: false,
            bind: loopback_any_port(),
        }
    }
}

impl CyberArkConfig {
    /// Default config whose only API user is `user` / `password`.
    pub fn with_user(user: &str, password: &str) -> Self {
        Self {
            users: vec![(user.to_owned(), password.to_owned())],
            ..Self::default()
        }
    }
}

/// The CyberArk PVWA simulator.
pub struct CyberArkSim;

impl CyberArkSim {
    /// Creates the state from `config` and serves it on `config.bind`.
    pub async fn start(config: CyberArkConfig) -> io::Result<(Running, CyberArkState)> {
        let state = CyberArkState::new(&config);
        if config.demo_fixtures {
            fixtures::demo(&state);
        }
        let running = Self::serve(state.clone(), config.bind).await?;
        Ok((running, state))
    }

    /// Serves an existing state (e.g. seeded before start) on `bind`.
    pub async fn serve(state: CyberArkState, bind: SocketAddr) -> io::Result<Running> {
        serve(bind, routes::router(), state).await
    }
}

#[derive(Deserialize)]
struct UserSeed {
    username: String,
    #[serde(default)]
    password: Option<String>,
}

/// Body of `POST /__sim/seed` on the CyberArk simulator.
#[derive(Deserialize, Default)]
#[serde(default)]
struct SeedBody {
    demo: bool,
    users: Vec<UserSeed>,
    accounts: Vec<AccountSpec>,
    live_sessions: Vec<LiveSession>,
}

impl Simulator for CyberArkState {
    fn core(&self) -> &SimCore {
        &self.core
    }

    fn fault_response(&self, status: StatusCode) -> Response {
        if status == StatusCode::SERVICE_UNAVAILABLE {
            routes::pv_error(status, codes::UNAVAILABLE, "The service is unavailable.")
        } else {
            routes::pv_error(status, codes::INTERNAL, "An unexpected error occurred.")
        }
    }

    fn rate_limited_response(&self, _path: &str, _d: &Decision) -> Response {
        routes::pv_error(
            StatusCode::TOO_MANY_REQUESTS,
            codes::TOO_MANY,
            "Too many requests.",
        )
    }

    fn dump(&self) -> Value {
        CyberArkState::dump(self)
    }

    fn seed(&self, body: Value) -> Result<Value, String> {
        let b: SeedBody = serde_json::from_value(body).map_err(|e| e.to_string())?;
        let demo = b.demo.then(|| fixtures::demo(self));
        let users: Vec<u64> = b
            .users
            .iter()
            .map(|u| self.add_user(&u.username, u.password.as_deref()))
            .collect();
        let accounts: Vec<String> = b
            .accounts
            .into_iter()
            .map(|a| self.add_account(a))
            .collect();
        let sessions: Vec<String> = b
            .live_sessions
            .into_iter()
            .map(|x| self.add_live_session(x))
            .collect();
        Ok(json!({
            "demo": demo,
            "users": users,
            "accounts": accounts,
            "live_sessions": sessions,
        }))
    }
}
