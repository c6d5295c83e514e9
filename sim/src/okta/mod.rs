//! Okta Management API simulator: users and their lifecycle, sessions, OAuth grants and tokens,
//! OIDC service apps and API tokens, with Okta's rate-limit headers on every response.
//!
//! Behaviour (see `sim/README.md` for the full list of quirks):
//! - auth is `Authorization: SSWS <token>` (or `Bearer <token>`); a wrong or missing token, a
//!   revoked API token, or one whose owner is not ACTIVE → 401 E0000011;
//! - every provider response — success, error, 401, 404, 429, injected fault — carries
//!   `X-Rate-Limit-Limit`, `X-Rate-Limit-Remaining` and `X-Rate-Limit-Reset` (epoch seconds of
//!   the window's end); over the limit → 429 E0000047 without `Retry-After`;
//! - the limit is one fixed window shared by all endpoints of the simulator (Okta has per
//!   endpoint-family buckets; one global bucket is stricter and easier to reason about);
//! - suspend on a non-ACTIVE user / unsuspend on a non-SUSPENDED user → 400 E0000001;
//! - unknown user/app/API token → 404 E0000007.

pub mod fixtures;
mod routes;
mod state;

use std::io;
use std::net::SocketAddr;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

pub use state::{
    ADMIN_API_TOKEN_ID, ADMIN_USER_ID, ApiToken, AppSpec, OAuthGrant, OAuthToken, OktaApp,
    OktaSession, OktaState, OktaUser, UserProfile, UserSpec,
};

use crate::core::SimCore;
use crate::faults::Faults;
use crate::ratelimit::{Decision, RateLimitConfig};
use crate::server::{Running, Simulator, loopback_any_port, serve};

/// Configuration of an Okta simulator.
#[derive(Clone, Debug)]
pub struct OktaConfig {
    /// The API token (`SSWS …`) the plugin uses; owned by the super-admin user
    /// [`ADMIN_USER_ID`], token id [`ADMIN_API_TOKEN_ID`].
    pub api_token: String,
    /// Requests per fixed window, shared by all endpoints.
    pub rate_limit: RateLimitConfig,
    /// Fault knobs.
    pub faults: Faults,
    /// Seed [`fixtures::demo`] at start.
    pub demo_fixtures: bool,
    /// Address to listen on; `127.0.0.1:0` picks a free port.
    pub bind: SocketAddr,
}

impl Default for OktaConfig {
    fn default() -> Self {
        Self {
            api_token: "00sim-okta-api-token".into(),
            rate_limit: RateLimitConfig::okta_default(),
            faults: Faults::default(),
            demo_fixtures: false,
            bind: loopback_any_port(),
        }
    }
}

impl OktaConfig {
    /// Default config with the given API token.
    pub fn with_api_token(token: &str) -> Self {
        Self {
            api_token: token.to_owned(),
            ..Self::default()
        }
    }
}

/// The Okta simulator.
pub struct OktaSim;

impl OktaSim {
    /// Creates the state from `config` and serves it on `config.bind`.
    pub async fn start(config: OktaConfig) -> io::Result<(Running, OktaState)> {
        let state = OktaState::new(&config);
        if config.demo_fixtures {
            fixtures::demo(&state);
        }
        let running = Self::serve(state.clone(), config.bind).await?;
        Ok((running, state))
    }

    /// Serves an existing state (e.g. seeded before start) on `bind`.
    pub async fn serve(state: OktaState, bind: SocketAddr) -> io::Result<Running> {
        serve(bind, routes::router(), state).await
    }
}

#[derive(Deserialize)]
struct SessionSeed {
    user_id: String,
    #[serde(default)]
    ip: String,
}

#[derive(Deserialize)]
struct GrantSeed {
    user_id: String,
    client_id: String,
    #[serde(default)]
    scope: String,
    /// When set, also issue a token of this kind (`refresh`/`access`) for the pair.
    #[serde(default)]
    token: Option<String>,
}

#[derive(Deserialize)]
struct ApiTokenSeed {
    name: String,
    user_id: String,
}

/// Body of `POST /__sim/seed` on the Okta simulator.
#[derive(Deserialize, Default)]
#[serde(default)]
struct SeedBody {
    demo: bool,
    users: Vec<UserSpec>,
    apps: Vec<AppSpec>,
    sessions: Vec<SessionSeed>,
    grants: Vec<GrantSeed>,
    api_tokens: Vec<ApiTokenSeed>,
}

impl Simulator for OktaState {
    fn core(&self) -> &SimCore {
        &self.core
    }

    fn fault_response(&self, status: StatusCode) -> Response {
        let summary = if status == StatusCode::SERVICE_UNAVAILABLE {
            "Service Unavailable"
        } else {
            "Internal Server Error"
        };
        routes::okta_error(self, status, "E0000009", summary, &[])
    }

    fn rate_limited_response(&self, _path: &str, _d: &Decision) -> Response {
        routes::okta_error(
            self,
            StatusCode::TOO_MANY_REQUESTS,
            "E0000047",
            "API call exceeded rate limit due to too many requests.",
            &[],
        )
    }

    fn decorate(&self, d: Option<&Decision>, h: &mut HeaderMap) {
        if let Some(d) = d {
            h.insert("x-rate-limit-limit", HeaderValue::from(d.limit));
            h.insert("x-rate-limit-remaining", HeaderValue::from(d.remaining));
            h.insert("x-rate-limit-reset", HeaderValue::from(d.reset_epoch_secs));
        }
    }

    fn dump(&self) -> Value {
        OktaState::dump(self)
    }

    fn seed(&self, body: Value) -> Result<Value, String> {
        let b: SeedBody = serde_json::from_value(body).map_err(|e| e.to_string())?;
        let demo = b.demo.then(|| fixtures::demo(self));
        let users: Vec<String> = b.users.into_iter().map(|u| self.add_user(u)).collect();
        let apps: Vec<String> = b.apps.into_iter().map(|a| self.add_app(a)).collect();
        let sessions: Vec<String> = b
            .sessions
            .iter()
            .map(|x| self.add_session(&x.user_id, &x.ip))
            .collect();
        let grants: Vec<String> = b
            .grants
            .iter()
            .map(|g| {
                if let Some(kind) = &g.token {
                    self.add_oauth_token(&g.user_id, &g.client_id, kind);
                }
                self.add_grant(&g.user_id, &g.client_id, &g.scope)
            })
            .collect();
        let api_tokens: Vec<Value> = b
            .api_tokens
            .iter()
            .map(|t| {
                let (id, token) = self.add_api_token(&t.name, &t.user_id);
                json!({ "id": id, "token": token })
            })
            .collect();
        Ok(json!({
            "demo": demo,
            "users": users,
            "apps": apps,
            "sessions": sessions,
            "grants": grants,
            "api_tokens": api_tokens,
        }))
    }
}
