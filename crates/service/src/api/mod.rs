//! The `/v1` API: thin handlers over the library crates, documented by the
//! OpenAPI document at `/v1/openapi.json`.

pub mod body;
pub mod grants;
pub mod live;
pub mod records;
pub mod runs;

use crate::problem::Problem;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use std::sync::Arc;
use std::time::Duration;
use utoipa::OpenApi;

/// The OpenAPI document of the API.
#[derive(OpenApi)]
#[openapi(
    info(title = "Cordon", description = "Containment orchestration for identity abuse: signals in, runs, approvals, commander grants, restore, incident reports, the audit log and live events."),
    paths(
        runs::submit_signal, runs::submit_run, runs::list_runs, runs::show_run,
        runs::list_approvals, runs::approve, runs::reject, runs::restore,
        grants::list, grants::create, grants::revoke,
        records::report, records::verify, records::export,
        live::events, live::healthz, live::readyz, live::metrics, live::whoami,
    ),
    components(schemas(Problem, crate::problem::FieldError, crate::events::LiveEvent, live::WhoAmI)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token (`cordon token create`)"))
                    .build(),
            ),
        );
    }
}

/// The whole HTTP surface.
pub fn router(state: Arc<AppState>) -> Router {
    let config = &state.config.server;
    let timeout = Duration::from_millis(config.request_timeout_ms);
    let timed = Router::new()
        .route("/v1/signals", post(runs::submit_signal))
        .route("/v1/runs", post(runs::submit_run).get(runs::list_runs))
        .route("/v1/runs/{run_id}", get(runs::show_run))
        .route("/v1/runs/{run_id}/approve", post(runs::approve))
        .route("/v1/runs/{run_id}/reject", post(runs::reject))
        .route("/v1/runs/{run_id}/restore", post(runs::restore))
        .route("/v1/approvals", get(runs::list_approvals))
        .route("/v1/grants", get(grants::list).post(grants::create))
        .route("/v1/grants/{grant_id}", delete(grants::revoke))
        .route("/v1/incidents/{incident}/report", get(records::report))
        .route("/v1/audit/verify", get(records::verify))
        .route("/v1/audit/export", get(records::export))
        .route("/v1/whoami", get(live::whoami))
        .route("/v1/openapi.json", get(openapi))
        .route("/healthz", get(live::healthz))
        .route("/readyz", get(live::readyz))
        .route("/metrics", get(live::metrics))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ));
    // Live events stream for as long as the client listens.
    let streams = Router::new().route("/v1/events", get(live::events));
    timed
        .merge(streams)
        .merge(crate::console::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .with_state(state)
}

async fn openapi() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

async fn not_found() -> Problem {
    Problem::not_found("no such endpoint: see /v1/openapi.json")
}
