//! The incident report and the audit log.

use crate::auth::Caller;
use crate::problem::Problem;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use cordon_config::Scope;
use cordon_report::{IncidentReport, html, markdown, restore_table};
use cordon_store::StoreExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// The report's format.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ReportQuery {
    /// `json` (default), `md` or `html` (one self-contained page).
    pub format: Option<String>,
}

/// The post-incident review of everything done for an incident.
#[utoipa::path(get, path = "/v1/incidents/{incident}/report", tag = "incidents",
    params(("incident" = String, Path), ReportQuery),
    responses((status = 200, body = Object), (status = 404, body = Problem)))]
pub async fn report(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(incident): Path<String>,
    Query(query): Query<ReportQuery>,
) -> Result<Response, Problem> {
    caller.require(&state, Scope::Read).await?;
    let format = query.format.as_deref().unwrap_or("json");
    if !["md", "json", "html"].contains(&format) {
        return Err(Problem::invalid(
            "unknown report format",
            vec![crate::problem::FieldError {
                field: "format".into(),
                message: "must be json, md or html".into(),
                line: None,
                column: None,
            }],
        ));
    }
    let restore_with = restore_table(state.plugins.as_ref());
    let model = state.authority.as_ref().map(|a| a.model());
    let Some(report) =
        IncidentReport::build(state.store.as_ref(), &incident, model, &restore_with)?
    else {
        return Err(Problem::not_found(format!(
            "nothing is recorded for incident `{}`",
            incident.escape_debug()
        )));
    };
    Ok(match format {
        "md" => (
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            markdown(&report),
        )
            .into_response(),
        "html" => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html(&report),
        )
            .into_response(),
        _ => axum::Json(report).into_response(),
    })
}

/// What `audit verify` found.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditVerification {
    /// Whether the hash chain is intact.
    pub intact: bool,
    /// How many records were checked.
    pub records: u64,
    /// The first broken record's seq, if any.
    pub broken_at: Option<u64>,
    /// Why it is broken.
    pub reason: Option<String>,
}

/// Recompute the audit log's hash chain.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit", responses((status = 200, body = AuditVerification)))]
pub async fn verify(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<axum::Json<AuditVerification>, Problem> {
    caller.require(&state, Scope::Read).await?;
    let verification = state.store.verify_audit()?;
    Ok(axum::Json(AuditVerification {
        intact: verification.first_break.is_none(),
        records: verification.records,
        broken_at: verification.first_break.as_ref().map(|(seq, _)| *seq),
        reason: verification.first_break.map(|(_, reason)| reason),
    }))
}

/// Every audit record, as JSON lines.
#[utoipa::path(get, path = "/v1/audit/export", tag = "audit",
    responses((status = 200, content_type = "application/x-ndjson", body = String)))]
pub async fn export(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Response, Problem> {
    caller.require(&state, Scope::Read).await?;
    let mut body = Vec::new();
    for record in state.store.audit_records()? {
        serde_json::to_writer(&mut body, &record).map_err(Problem::internal)?;
        body.push(b'\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}
