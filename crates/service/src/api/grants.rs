//! Incident commander grants: given and revoked as the caller.

use super::body::Json;
use crate::auth::Caller;
use crate::problem::Problem;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use cordon_authority::Authority;
use cordon_authority::grants::{self, GrantError, Revoked};
use cordon_authority::model::parse_duration;
use cordon_config::Scope;
use cordon_report::GrantView;
use cordon_types::now_ms;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// A commander grant to give.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// The incident.
    pub incident: String,
    /// Who becomes incident commander.
    pub principal: String,
    /// For how long, e.g. `2h` (at most the model's `max_ttl`).
    pub ttl: String,
}

/// A grant as given or revoked, with the effects it allows.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GrantAnswer {
    /// The grant.
    #[schema(value_type = Object)]
    pub grant: GrantView,
    /// What the commander may do in every domain.
    pub effects: Vec<String>,
    /// For a revocation: whether it had been revoked before.
    #[serde(default)]
    pub already_revoked: bool,
}

fn authority(state: &AppState) -> Result<&Authority, Problem> {
    state.authority.as_deref().ok_or_else(|| {
        Problem::conflict("the server has no authority model: there are no commander grants")
    })
}

fn effects(authority: &Authority) -> Vec<String> {
    authority
        .model()
        .commander
        .iter()
        .flat_map(|rule| rule.effects.iter().map(|e| e.to_string()))
        .collect()
}

fn problem(err: GrantError) -> Problem {
    match err {
        GrantError::NotEntitled { .. } | GrantError::NotEntitledToRevoke { .. } => {
            Problem::forbidden(err.to_string())
        }
        GrantError::TooLong { .. } => Problem::invalid(
            err.to_string(),
            vec![crate::problem::FieldError {
                field: "ttl".into(),
                message: err.to_string(),
                line: None,
                column: None,
            }],
        ),
        GrantError::NoSuchGrant(_) => Problem::not_found(err.to_string()),
        GrantError::NoCommanderRule => Problem::conflict(err.to_string()),
        GrantError::Store(err) => err.into(),
    }
}

/// Every commander grant.
#[utoipa::path(get, path = "/v1/grants", tag = "grants", responses((status = 200, body = Vec<Object>)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<axum::Json<Vec<GrantView>>, Problem> {
    caller.require(&state, Scope::Read).await?;
    let now = now_ms();
    Ok(axum::Json(
        state
            .store
            .grants()?
            .iter()
            .map(|g| GrantView::new(g, now))
            .collect(),
    ))
}

/// Grant temporary cross-domain authority for one incident, as the caller.
#[utoipa::path(post, path = "/v1/grants", tag = "grants", request_body = GrantBody,
    responses((status = 201, body = GrantAnswer), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Json(body): Json<GrantBody>,
) -> Result<impl IntoResponse, Problem> {
    caller.require(&state, Scope::Respond).await?;
    let authority = authority(&state)?;
    let ttl = parse_duration(&body.ttl).map_err(|e| {
        Problem::invalid(
            "the grant is invalid; nothing was changed",
            vec![crate::problem::FieldError {
                field: "ttl".into(),
                message: e.to_string(),
                line: None,
                column: None,
            }],
        )
    })?;
    let grant = grants::create(
        state.store.as_ref(),
        authority.model(),
        &body.incident,
        &body.principal,
        ttl,
        caller.name(),
    )
    .await
    .map_err(problem)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(GrantAnswer {
            grant: GrantView::new(&grant, now_ms()),
            effects: effects(authority),
            already_revoked: false,
        }),
    ))
}

/// Revoke a commander grant before it expires, as the caller.
#[utoipa::path(delete, path = "/v1/grants/{grant_id}", tag = "grants", params(("grant_id" = String, Path)),
    responses((status = 200, body = GrantAnswer), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(grant_id): Path<String>,
) -> Result<axum::Json<GrantAnswer>, Problem> {
    caller.require(&state, Scope::Respond).await?;
    let authority = authority(&state)?;
    let revoked = grants::revoke(
        state.store.as_ref(),
        authority.model(),
        &grant_id,
        caller.name(),
    )
    .await
    .map_err(problem)?;
    let (grant, already_revoked) = match revoked {
        Revoked::Already(grant) => (grant, true),
        Revoked::Now(grant) => (grant, false),
    };
    Ok(axum::Json(GrantAnswer {
        grant: GrantView::new(&grant, now_ms()),
        effects: effects(authority),
        already_revoked,
    }))
}
