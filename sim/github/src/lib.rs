//! A loopback simulator of the GitHub REST API (github.com and Enterprise
//! Server), built on the `cordon-sim` framework without changing it: the
//! framework brings rate limits, injected faults, latency, the request log
//! and the `/__sim/…` admin surface; this crate brings GitHub's routes,
//! error bodies and quirks.
//!
//! What it answers like GitHub does (docs.github.com, REST API 2022-11-28):
//! - every request needs a `User-Agent` (403 with GitHub's text otherwise);
//! - `Authorization: Bearer …` or `token …`; a bad token is 401
//!   `{"message":"Bad credentials",…}`; errors carry `message`,
//!   `documentation_url` and `status`;
//! - every answer carries `x-ratelimit-limit/remaining/reset/used/resource`;
//!   the primary limit (the framework's rate limit) answers 403 with
//!   `x-ratelimit-remaining: 0`; [`GitHubState::trip_secondary_limit`]
//!   makes the next request a secondary-limit 403 with `retry-after`;
//! - `POST /credentials/revoke`: on github.com only unauthenticated (an
//!   authenticated request is 403), also for OAuth tokens; on Enterprise
//!   Server authenticated; 60 requests an hour, 1 to 1,000 credentials, 202
//!   whether or not a value was a live token;
//! - deploy keys: a repository the caller does not administer is 404; the
//!   same public key twice is 422 `key is already in use`; a re-added key
//!   gets a new id;
//! - user suspension only on Enterprise Server (404 on github.com), by site
//!   administrators, 204 whether or not it changes anything;
//! - OAuth apps (Basic `client_id:client_secret`): checking a token that is
//!   not the app's is 404; deleting the grant revokes every token the user
//!   holds for the app.

// Handlers return `Result<Response, Response>` (axum's idiom: the error is
// GitHub's error response); boxing it would only add noise.
#![allow(clippy::result_large_err)]
#![warn(missing_docs)]

pub mod fixtures;
mod routes;
mod state;

pub use state::{DeployKey, GitHubState, Mode, TokenKind, User};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use cordon_sim::{Decision, Faults, RateLimitConfig, Running, SimCore, Simulator};
use serde_json::Value;
use std::net::SocketAddr;

/// How to start a simulated GitHub.
#[derive(Debug, Clone)]
pub struct GitHubConfig {
    /// github.com or Enterprise Server.
    pub mode: Mode,
    /// The primary rate limit, if any (GitHub's is 5,000 an hour).
    pub rate_limit: Option<RateLimitConfig>,
    /// Injected faults.
    pub faults: Faults,
}

impl GitHubConfig {
    /// A simulator of `mode` with no limit and no faults.
    pub fn new(mode: Mode) -> GitHubConfig {
        GitHubConfig {
            mode,
            rate_limit: None,
            faults: Faults::default(),
        }
    }
}

/// Starting and serving the simulator.
pub struct GitHubSim;

impl GitHubSim {
    /// Serves an empty GitHub on a free loopback port.
    pub async fn start(config: GitHubConfig) -> std::io::Result<(Running, GitHubState)> {
        let state = GitHubState::new(SimCore::new(config.faults, config.rate_limit), config.mode);
        let running = GitHubSim::serve(state.clone(), cordon_sim::loopback_any_port()).await?;
        Ok((running, state))
    }

    /// Serves `state` on `bind`.
    pub async fn serve(state: GitHubState, bind: SocketAddr) -> std::io::Result<Running> {
        let router = routes::router(&state);
        cordon_sim::serve(bind, router, state).await
    }
}

impl Simulator for GitHubState {
    fn core(&self) -> &SimCore {
        &self.core
    }

    fn fault_response(&self, status: StatusCode) -> Response {
        routes::error(status, "Server Error")
    }

    fn rate_limited_response(&self, _path: &str, _decision: &Decision) -> Response {
        routes::error(
            StatusCode::FORBIDDEN,
            "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.",
        )
    }

    fn decorate(&self, decision: Option<&Decision>, headers: &mut HeaderMap) {
        let now = cordon_sim::util::now_ms() / 1000;
        let (limit, remaining, reset) = match decision {
            Some(d) => (
                d.limit as u64,
                if d.allowed { d.remaining as u64 } else { 0 },
                d.reset_epoch_secs,
            ),
            None => (5000, 4999, now + 3600),
        };
        let mut set = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        };
        set("x-ratelimit-limit", limit.to_string());
        set("x-ratelimit-remaining", remaining.to_string());
        set("x-ratelimit-reset", reset.to_string());
        set("x-ratelimit-used", (limit - remaining).to_string());
        set("x-ratelimit-resource", "core".to_string());
    }

    fn dump(&self) -> Value {
        GitHubState::dump(self)
    }

    fn seed(&self, body: Value) -> Result<Value, String> {
        if body["demo"].as_bool() == Some(true) {
            let demo = fixtures::demo(self);
            return serde_json::to_value(demo.public()).map_err(|e| e.to_string());
        }
        Err("POST /__sim/seed takes {\"demo\": true}".into())
    }
}
