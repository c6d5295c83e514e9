//! The web console: one page and two scripts, built into the binary (no
//! build step, no third-party requests), served under `/console/` with a
//! strict Content-Security-Policy. It calls the `/v1` API with the signed-in
//! person's bearer credential, so it can do nothing its user could not do
//! with the CLI.

use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Serialize;
use std::sync::Arc;

const INDEX: &str = include_str!("../console/index.html");
const APP_JS: &str = include_str!("../console/app.js");
const VIEWS_JS: &str = include_str!("../console/views.js");
const APP_CSS: &str = include_str!("../console/app.css");

/// The console's routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(page))
        .route("/console/callback", get(page))
        .route(
            "/console/app.js",
            get(|s: State<Arc<AppState>>| asset(s, APP_JS, "text/javascript")),
        )
        .route(
            "/console/views.js",
            get(|s: State<Arc<AppState>>| asset(s, VIEWS_JS, "text/javascript")),
        )
        .route(
            "/console/app.css",
            get(|s: State<Arc<AppState>>| asset(s, APP_CSS, "text/css")),
        )
        .route("/console/config.json", get(config))
}

/// What the page needs to know before anyone signs in (nothing secret).
#[derive(Debug, Serialize)]
struct ConsoleConfig {
    oidc: Option<OidcLogin>,
}

#[derive(Debug, Serialize)]
struct OidcLogin {
    issuer: String,
    client_id: String,
    scope: String,
    resource: Option<String>,
}

/// `scheme://host[:port]` of an absolute URL.
fn origin(url: &str) -> &str {
    let start = url.find("://").map_or(0, |i| i + 3);
    url[start..]
        .find('/')
        .map_or(url, |end| &url[..start + end])
}

/// The policy every console response carries: scripts and styles from this
/// origin only, requests to this origin and to the OIDC issuer (discovery
/// and the token endpoint), no framing, no plugins.
fn policy(state: &AppState) -> String {
    let issuer = state
        .config
        .server
        .oidc
        .as_ref()
        .filter(|o| o.console.is_some())
        .map(|o| format!(" {}", origin(&o.issuer)))
        .unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'{issuer}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
}

fn secured(state: &AppState, body: &'static str, content_type: &'static str) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        body,
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&policy(state)) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

async fn page(State(state): State<Arc<AppState>>) -> Response {
    secured(&state, INDEX, "text/html; charset=utf-8")
}

async fn asset(
    State(state): State<Arc<AppState>>,
    body: &'static str,
    content_type: &'static str,
) -> Response {
    secured(&state, body, content_type)
}

async fn config(State(state): State<Arc<AppState>>) -> Response {
    let oidc = state.config.server.oidc.as_ref().and_then(|o| {
        o.console.as_ref().map(|c| OidcLogin {
            issuer: o.issuer.clone(),
            client_id: c.client_id.clone(),
            scope: c.scope.clone(),
            resource: c.resource.clone(),
        })
    });
    let mut response = axum::Json(ConsoleConfig { oidc }).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn origins_drop_the_path() {
        assert_eq!(
            origin("https://idp.example/realms/x"),
            "https://idp.example"
        );
        assert_eq!(origin("http://127.0.0.1:9000"), "http://127.0.0.1:9000");
    }
}
