//! Okta Management API handlers.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};

use super::state::{OAuthGrant, OktaApp, OktaState, OktaUser};
use crate::util::{now_ms, rfc3339_ms};

type R = Result<Response, Response>;

/// An Okta error body `{"errorCode","errorSummary","errorLink","errorId","errorCauses"}`.
pub(crate) fn okta_error(
    s: &OktaState,
    status: StatusCode,
    code: &str,
    summary: &str,
    causes: &[&str],
) -> Response {
    let error_id = format!("oae{}", s.core.random_alnum(22));
    let causes: Vec<Value> = causes
        .iter()
        .map(|c| json!({ "errorSummary": c }))
        .collect();
    (
        status,
        axum::Json(json!({
            "errorCode": code,
            "errorSummary": summary,
            "errorLink": code,
            "errorId": error_id,
            "errorCauses": causes,
        })),
    )
        .into_response()
}

fn not_found(s: &OktaState, id: &str, kind: &str) -> Response {
    okta_error(
        s,
        StatusCode::NOT_FOUND,
        "E0000007",
        &format!("Not found: Resource not found: {id} ({kind})"),
        &[],
    )
}

fn validation(s: &OktaState, cause: &str) -> Response {
    okta_error(
        s,
        StatusCode::BAD_REQUEST,
        "E0000001",
        &format!("Api validation failed: {cause}"),
        &[cause],
    )
}

fn empty_object() -> Response {
    axum::Json(json!({})).into_response()
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn ts(ms: Option<u64>) -> Value {
    ms.map(|m| json!(rfc3339_ms(m))).unwrap_or(Value::Null)
}

/// An authenticated caller: `Authorization: SSWS <token>` or `Bearer <token>` naming an API
/// token whose owner is ACTIVE; anything else → 401 E0000011.
pub(crate) struct Authed;

impl FromRequestParts<OktaState> for Authed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &OktaState) -> Result<Self, Response> {
        let header = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let secret = header.split_once(' ').and_then(|(scheme, rest)| {
            (scheme.eq_ignore_ascii_case("SSWS") || scheme.eq_ignore_ascii_case("Bearer"))
                .then(|| rest.trim())
        });
        let ok = secret.is_some_and(|t| s.lock().valid_api_token(t).is_some());
        if ok {
            Ok(Authed)
        } else {
            Err(okta_error(
                s,
                StatusCode::UNAUTHORIZED,
                "E0000011",
                "Invalid token provided",
                &[],
            ))
        }
    }
}

fn user_json(u: &OktaUser) -> Value {
    json!({
        "id": u.id,
        "status": u.status,
        "created": rfc3339_ms(u.created_ms),
        "activated": rfc3339_ms(u.created_ms),
        "statusChanged": ts(u.status_changed_ms),
        "lastLogin": ts(u.last_login_ms),
        "lastUpdated": rfc3339_ms(u.last_updated_ms),
        "passwordChanged": rfc3339_ms(u.created_ms),
        "type": { "id": "oty1simdefaultusertype" },
        "profile": u.profile,
        "credentials": { "provider": { "type": "OKTA", "name": "OKTA" } },
    })
}

fn app_json(a: &OktaApp) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "label": a.label,
        "status": a.status,
        "created": rfc3339_ms(a.created_ms),
        "lastUpdated": rfc3339_ms(a.last_updated_ms),
        "signOnMode": a.sign_on_mode,
        "credentials": { "oauthClient": { "client_id": a.client_id, "autoKeyRotation": true } },
        "settings": { "oauthClient": { "application_type": "service", "grant_types": ["client_credentials"] } },
    })
}

fn grant_json(g: &OAuthGrant) -> Value {
    json!({
        "id": g.id,
        "status": "ACTIVE",
        "created": rfc3339_ms(g.created_ms),
        "lastUpdated": rfc3339_ms(g.created_ms),
        "issuer": "https://sim.okta.example/oauth2/default",
        "clientId": g.client_id,
        "userId": g.user_id,
        "scopeId": g.scope,
        "source": "END_USER",
    })
}

/// Resolves `key` to a user id or answers 404.
fn user_id(s: &OktaState, key: &str) -> Result<String, Response> {
    let found = s.lock().find_user(key);
    found.ok_or_else(|| not_found(s, key, "User"))
}

async fn get_user(State(s): State<OktaState>, _a: Authed, Path(key): Path<String>) -> R {
    let id = user_id(&s, &key)?;
    let v = user_json(&s.lock().users[&id]);
    Ok(axum::Json(v).into_response())
}

/// Suspend only works on ACTIVE users (400 E0000001 otherwise): not idempotent.
async fn suspend(State(s): State<OktaState>, _a: Authed, Path(key): Path<String>) -> R {
    transition(
        &s,
        &key,
        "ACTIVE",
        "SUSPENDED",
        "Cannot suspend a user that is not active",
    )
}

/// Unsuspend only works on SUSPENDED users (400 E0000001 otherwise).
async fn unsuspend(State(s): State<OktaState>, _a: Authed, Path(key): Path<String>) -> R {
    transition(
        &s,
        &key,
        "SUSPENDED",
        "ACTIVE",
        "Cannot unsuspend a user that is not suspended",
    )
}

fn transition(s: &OktaState, key: &str, from: &str, to: &str, refusal: &str) -> R {
    let id = user_id(s, key)?;
    let ok = {
        let mut d = s.lock();
        let u = d.users.get_mut(&id).expect("resolved user exists");
        if u.status == from {
            let now = now_ms();
            u.status = to.to_owned();
            u.status_changed_ms = Some(now);
            u.last_updated_ms = now;
            true
        } else {
            false
        }
    };
    if ok {
        Ok(empty_object())
    } else {
        Err(validation(s, refusal))
    }
}

async fn clear_sessions(
    State(s): State<OktaState>,
    _a: Authed,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> R {
    let id = user_id(&s, &key)?;
    let oauth = q
        .get("oauthTokens")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut d = s.lock();
    d.sessions.retain(|x| x.user_id != id);
    if oauth {
        d.tokens.retain(|t| t.user_id != id);
    }
    Ok(no_content())
}

async fn list_grants(State(s): State<OktaState>, _a: Authed, Path(key): Path<String>) -> R {
    let id = user_id(&s, &key)?;
    let v: Vec<Value> = s.grants_of(&id).iter().map(grant_json).collect();
    Ok(axum::Json(v).into_response())
}

async fn revoke_grants(State(s): State<OktaState>, _a: Authed, Path(key): Path<String>) -> R {
    let id = user_id(&s, &key)?;
    s.lock().grants.retain(|g| g.user_id != id);
    Ok(no_content())
}

async fn list_clients(State(s): State<OktaState>, _a: Authed, Path(key): Path<String>) -> R {
    let id = user_id(&s, &key)?;
    let d = s.lock();
    let mut clients: Vec<&str> = d
        .grants
        .iter()
        .filter(|g| g.user_id == id)
        .map(|g| g.client_id.as_str())
        .chain(
            d.tokens
                .iter()
                .filter(|t| t.user_id == id)
                .map(|t| t.client_id.as_str()),
        )
        .collect();
    clients.sort_unstable();
    clients.dedup();
    let v: Vec<Value> = clients
        .iter()
        .map(|c| {
            let name = d
                .apps
                .values()
                .find(|a| a.client_id == *c)
                .map(|a| a.label.clone())
                .unwrap_or_default();
            json!({ "client_id": c, "client_name": name, "client_uri": null, "logo_uri": null })
        })
        .collect();
    Ok(axum::Json(v).into_response())
}

async fn revoke_client_tokens(
    State(s): State<OktaState>,
    _a: Authed,
    Path((key, client)): Path<(String, String)>,
) -> R {
    let id = user_id(&s, &key)?;
    let known = s.lock().apps.values().any(|a| a.client_id == client);
    if !known {
        return Err(not_found(&s, &client, "AppInstance"));
    }
    s.lock()
        .tokens
        .retain(|t| !(t.user_id == id && t.client_id == client));
    Ok(no_content())
}

async fn get_app(State(s): State<OktaState>, _a: Authed, Path(id): Path<String>) -> R {
    let app = s
        .app(&id)
        .ok_or_else(|| not_found(&s, &id, "AppInstance"))?;
    Ok(axum::Json(app_json(&app)).into_response())
}

/// App lifecycle is idempotent in Okta: deactivating an INACTIVE app (or activating an ACTIVE
/// one) answers 200 `{}` as well.
fn set_app_status(s: &OktaState, id: &str, status: &str) -> R {
    let mut d = s.lock();
    let Some(app) = d.apps.get_mut(id) else {
        drop(d);
        return Err(not_found(s, id, "AppInstance"));
    };
    if app.status != status {
        app.status = status.to_owned();
        app.last_updated_ms = now_ms();
    }
    Ok(empty_object())
}

async fn deactivate_app(State(s): State<OktaState>, _a: Authed, Path(id): Path<String>) -> R {
    set_app_status(&s, &id, "INACTIVE")
}

async fn activate_app(State(s): State<OktaState>, _a: Authed, Path(id): Path<String>) -> R {
    set_app_status(&s, &id, "ACTIVE")
}

fn api_token_json(t: &super::state::ApiToken) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "userId": t.user_id,
        "clientName": "Okta API",
        "created": rfc3339_ms(t.created_ms),
        "lastUpdated": rfc3339_ms(t.created_ms),
        "expiresAt": rfc3339_ms(t.created_ms + 30 * 86_400_000),
        "tokenWindow": "P30D",
        "network": { "connection": "ANYWHERE" },
    })
}

async fn list_api_tokens(State(s): State<OktaState>, _a: Authed) -> R {
    let d = s.lock();
    let v: Vec<Value> = d.api_tokens.values().map(api_token_json).collect();
    Ok(axum::Json(v).into_response())
}

async fn get_api_token(State(s): State<OktaState>, _a: Authed, Path(id): Path<String>) -> R {
    let t = s
        .api_token(&id)
        .ok_or_else(|| not_found(&s, &id, "ApiToken"))?;
    Ok(axum::Json(api_token_json(&t)).into_response())
}

async fn revoke_api_token(State(s): State<OktaState>, _a: Authed, Path(id): Path<String>) -> R {
    let removed = s.lock().api_tokens.remove(&id).is_some();
    if removed {
        Ok(no_content())
    } else {
        Err(not_found(&s, &id, "ApiToken"))
    }
}

async fn fallback(State(s): State<OktaState>, _a: Authed, uri: Uri) -> Response {
    not_found(&s, uri.path(), "Path")
}

async fn method_not_allowed(State(s): State<OktaState>) -> Response {
    okta_error(
        &s,
        StatusCode::METHOD_NOT_ALLOWED,
        "E0000022",
        "The endpoint does not support the provided HTTP method",
        &[],
    )
}

/// Every Okta route, the admin routes, the fallback (404 E0000007) and the 405 handler.
pub(crate) fn router() -> Router<OktaState> {
    Router::new()
        .route("/api/v1/users/{id}", get(get_user))
        .route("/api/v1/users/{id}/lifecycle/suspend", post(suspend))
        .route("/api/v1/users/{id}/lifecycle/unsuspend", post(unsuspend))
        .route("/api/v1/users/{id}/sessions", delete(clear_sessions))
        .route(
            "/api/v1/users/{id}/grants",
            get(list_grants).delete(revoke_grants),
        )
        .route("/api/v1/users/{id}/clients", get(list_clients))
        .route(
            "/api/v1/users/{id}/clients/{client}/tokens",
            delete(revoke_client_tokens),
        )
        .route("/api/v1/apps/{id}", get(get_app))
        .route(
            "/api/v1/apps/{id}/lifecycle/deactivate",
            post(deactivate_app),
        )
        .route("/api/v1/apps/{id}/lifecycle/activate", post(activate_app))
        .route("/api/v1/api-tokens", get(list_api_tokens))
        .route(
            "/api/v1/api-tokens/{id}",
            get(get_api_token).delete(revoke_api_token),
        )
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
}
