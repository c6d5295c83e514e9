//! The GitHub REST endpoints the simulator answers, with GitHub's error
//! bodies (`message`, `documentation_url`, `status`) and quirks.

use crate::state::{DeployKey, GitHubState, Mode, User};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine as _;
use serde_json::{Value, json};

/// The body GitHub sends without a `User-Agent`.
const NO_USER_AGENT: &str = "Request forbidden by administrative rules. Please make sure your \
    request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). \
    Check https://developer.github.com for other possible causes.\n";

type Answer = Result<Response, Response>;

/// GitHub's error body.
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": status.as_u16().to_string(),
    });
    (status, axum::Json(body)).into_response()
}

fn validation_failed(resource: &str, field: &str, code: &str, message: Option<&str>) -> Response {
    let mut detail = json!({ "resource": resource, "field": field, "code": code });
    if let Some(message) = message {
        detail["message"] = json!(message);
    }
    let body = json!({
        "message": "Validation Failed",
        "errors": [detail],
        "documentation_url": "https://docs.github.com/rest",
        "status": "422",
    });
    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
}

/// Every provider route, under `/api/v3` on Enterprise Server.
pub(crate) fn router(state: &GitHubState) -> Router<GitHubState> {
    let api = Router::new()
        .route("/user", get(authenticated_user))
        .route("/users/{login}", get(user))
        .route("/users/{login}/suspended", put(suspend).delete(unsuspend))
        .route("/repos/{owner}/{repo}/keys", get(list_keys).post(add_key))
        .route(
            "/repos/{owner}/{repo}/keys/{id}",
            get(read_key).delete(delete_key),
        )
        .route("/credentials/revoke", post(revoke_credentials))
        .route(
            "/applications/{client_id}/token",
            post(check_token).delete(delete_token),
        )
        .route(
            "/applications/{client_id}/grant",
            axum::routing::delete(delete_grant),
        );
    let api = match state.mode() {
        Mode::DotCom => api,
        Mode::EnterpriseServer => Router::new().nest("/api/v3", api),
    };
    api.fallback(|| async { error(StatusCode::NOT_FOUND, "Not Found") })
        .method_not_allowed_fallback(|| async { error(StatusCode::NOT_FOUND, "Not Found") })
        .layer(middleware::from_fn_with_state(state.clone(), gate))
}

/// Before any route: the `User-Agent` rule and a tripped secondary limit.
async fn gate(State(state): State<GitHubState>, request: Request, next: Next) -> Response {
    let refusal = if !request.headers().contains_key(header::USER_AGENT) {
        Some((StatusCode::FORBIDDEN, NO_USER_AGENT).into_response())
    } else {
        let wait = state.data().secondary_limit.take();
        wait.map(|wait| {
            let mut refused = error(
                StatusCode::FORBIDDEN,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            );
            if let Ok(value) = wait.to_string().parse() {
                refused.headers_mut().insert(header::RETRY_AFTER, value);
            }
            refused
        })
    };
    // The framework has read the body already, so refusing early is safe.
    match refusal {
        Some(refusal) => refusal,
        None => next.run(request).await,
    }
}

/// The token of `Authorization: Bearer …` or `token …`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("token "))
        .map(str::trim)
}

/// The user a request authenticates as: a live personal access token or
/// OAuth token. Anything else is 401 Bad credentials.
fn caller(state: &GitHubState, headers: &HeaderMap) -> Result<User, Response> {
    let bad = || error(StatusCode::UNAUTHORIZED, "Bad credentials");
    let token = bearer(headers).ok_or_else(bad)?;
    let data = state.data();
    let owner = match data.tokens.get(token) {
        Some(t) if t.alive => t.owner.clone(),
        _ => match data.oauth_tokens.get(token) {
            Some(t) if t.alive => t.user.clone(),
            _ => return Err(bad()),
        },
    };
    data.users.get(&owner).cloned().ok_or_else(bad)
}

fn user_json(user: &User, mode: Mode) -> Value {
    let mut body = json!({
        "login": user.login,
        "id": user.id,
        "type": "User",
        "site_admin": user.site_admin,
        "url": format!("https://api.github.com/users/{}", user.login),
    });
    if mode == Mode::EnterpriseServer {
        body["suspended_at"] = json!(user.suspended_at);
    }
    body
}

async fn authenticated_user(State(state): State<GitHubState>, headers: HeaderMap) -> Answer {
    let user = caller(&state, &headers)?;
    Ok(axum::Json(user_json(&user, state.mode())).into_response())
}

async fn user(
    State(state): State<GitHubState>,
    headers: HeaderMap,
    Path(login): Path<String>,
) -> Answer {
    // Public, but credentials that are sent must be good.
    if headers.contains_key(header::AUTHORIZATION) {
        caller(&state, &headers)?;
    }
    let user = state
        .user(&login)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "Not Found"))?;
    Ok(axum::Json(user_json(&user, state.mode())).into_response())
}

/// `PUT` / `DELETE /users/{login}/suspended`: Enterprise Server only, by a
/// site administrator; 204 whether or not the state changes. The body, an
/// optional `{"reason": "…"}`, must be JSON when present.
async fn set_suspended(
    state: &GitHubState,
    headers: &HeaderMap,
    login: &str,
    on: bool,
    body: &Bytes,
) -> Answer {
    if state.mode() == Mode::DotCom {
        return Err(error(StatusCode::NOT_FOUND, "Not Found"));
    }
    if !body.is_empty() {
        json_body(body)?;
    }
    let admin = caller(state, headers)?;
    if !admin.site_admin {
        return Err(error(
            StatusCode::FORBIDDEN,
            "Must be a site administrator.",
        ));
    }
    let mut data = state.data();
    let user = data
        .users
        .get_mut(login)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "Not Found"))?;
    if on && user.suspended_at.is_none() {
        user.suspended_at = Some(cordon_sim::util::rfc3339_ms(cordon_sim::util::now_ms()));
    } else if !on {
        user.suspended_at = None;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn suspend(
    State(state): State<GitHubState>,
    headers: HeaderMap,
    Path(login): Path<String>,
    body: Bytes,
) -> Answer {
    set_suspended(&state, &headers, &login, true, &body).await
}

async fn unsuspend(
    State(state): State<GitHubState>,
    headers: HeaderMap,
    Path(login): Path<String>,
    body: Bytes,
) -> Answer {
    set_suspended(&state, &headers, &login, false, &body).await
}

/// The repository, if the caller administers it; GitHub answers 404 rather
/// than reveal a repository to others.
fn admin_repo(
    state: &GitHubState,
    headers: &HeaderMap,
    owner: &str,
    repo: &str,
) -> Result<String, Response> {
    let user = caller(state, headers)?;
    let name = format!("{owner}/{repo}");
    let data = state.data();
    match data.repos.get(&name) {
        Some(r) if r.admins.contains(&user.login) => Ok(name),
        _ => Err(error(StatusCode::NOT_FOUND, "Not Found")),
    }
}

fn key_json(key: &DeployKey, repo: &str) -> Value {
    json!({
        "id": key.id,
        "key": key.key,
        "url": format!("https://api.github.com/repos/{repo}/keys/{}", key.id),
        "title": key.title,
        "verified": true,
        "created_at": "2026-11-02T09:14:00Z",
        "read_only": key.read_only,
        "added_by": "octocat",
        "last_used": null,
        "enabled": true,
    })
}

async fn list_keys(
    State(state): State<GitHubState>,
    headers: HeaderMap,
    Path((owner, repo)): Path<(String, String)>,
) -> Answer {
    let name = admin_repo(&state, &headers, &owner, &repo)?;
    let keys: Vec<Value> = state
        .deploy_keys(&name)
        .iter()
        .map(|k| key_json(k, &name))
        .collect();
    Ok(axum::Json(keys).into_response())
}

async fn read_key(
    State(state): State<GitHubState>,
    headers: HeaderMap,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Answer {
    let name = admin_repo(&state, &headers, &owner, &repo)?;
    let key = id
        .parse::<u64>()
        .ok()
        .and_then(|id| state.deploy_keys(&name).into_iter().find(|k| k.id == id))
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "Not Found"))?;
    Ok(axum::Json(key_json(&key, &name)).into_response())
}

async fn delete_key(
    State(state): State<GitHubState>,
    headers: HeaderMap,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Answer {
    let name = admin_repo(&state, &headers, &owner, &repo)?;
    let mut data = state.data();
    let removed = id
        .parse::<u64>()
        .ok()
        .and_then(|id| data.repos.get_mut(&name)?.keys.remove(&id));
    match removed {
        Some(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        None => Err(error(StatusCode::NOT_FOUND, "Not Found")),
    }
}

fn json_body(body: &Bytes) -> Result<Value, Response> {
    serde_json::from_slice(body)
        .map_err(|_| error(StatusCode::BAD_REQUEST, "Problems parsing JSON"))
}

async fn add_key(
    State(state): State<GitHubState>,
    headers: HeaderMap,
    Path((owner, repo)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let name = admin_repo(&state, &headers, &owner, &repo)?;
    let body = json_body(&body)?;
    let Some(key) = body["key"].as_str().filter(|k| !k.trim().is_empty()) else {
        return Err(validation_failed("PublicKey", "key", "missing_field", None));
    };
    if state.deploy_keys(&name).iter().any(|k| k.key == key) {
        return Err(validation_failed(
            "PublicKey",
            "key",
            "custom",
            Some("key is already in use"),
        ));
    }
    let title = body["title"].as_str().unwrap_or_default();
    let read_only = body["read_only"].as_bool().unwrap_or(false);
    let id = state.add_deploy_key(&name, title, key, read_only);
    let added = state.deploy_keys(&name).into_iter().find(|k| k.id == id);
    let added = added.ok_or_else(|| error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error"))?;
    Ok((StatusCode::CREATED, axum::Json(key_json(&added, &name))).into_response())
}

/// `POST /credentials/revoke`. github.com: unauthenticated only (an
/// authenticated request gets 403), and it also takes OAuth tokens;
/// Enterprise Server: authenticated. 60 requests an hour either way; unknown
/// values are accepted silently (202 says nothing about validity).
async fn revoke_credentials(
    State(state): State<GitHubState>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let dotcom = state.mode() == Mode::DotCom;
    if dotcom && headers.contains_key(header::AUTHORIZATION) {
        return Err(error(
            StatusCode::FORBIDDEN,
            "This endpoint must be called without authentication.",
        ));
    }
    if !dotcom {
        caller(&state, &headers)?;
    }
    let body = json_body(&body)?;
    let credentials: Vec<&str> = body["credentials"]
        .as_array()
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut data = state.data();
    if credentials.is_empty() || credentials.len() > 1000 || data.revocations >= 60 {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation failed, or the endpoint has been spammed.",
        ));
    }
    data.revocations += 1;
    for value in credentials {
        if let Some(token) = data.tokens.get_mut(value) {
            token.alive = false;
        }
        if dotcom && let Some(token) = data.oauth_tokens.get_mut(value) {
            token.alive = false;
        }
    }
    Ok((StatusCode::ACCEPTED, axum::Json(json!({}))).into_response())
}

/// The OAuth app of a request: Basic `client_id:client_secret` naming the
/// app of the path.
fn oauth_app(state: &GitHubState, headers: &HeaderMap, client_id: &str) -> Result<(), Response> {
    let bad = || error(StatusCode::UNAUTHORIZED, "Bad credentials");
    let encoded = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .ok_or_else(bad)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(bad)?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let data = state.data();
    match data.apps.get(client_id) {
        Some(expected) if id == client_id && secret == expected => Ok(()),
        _ => Err(bad()),
    }
}

/// The live OAuth token of the body, if it belongs to the app; 404 otherwise.
fn app_token(
    state: &GitHubState,
    client_id: &str,
    body: &Bytes,
) -> Result<(String, String), Response> {
    let body = json_body(body)?;
    let value = body["access_token"]
        .as_str()
        .ok_or_else(|| validation_failed("Authorization", "access_token", "missing_field", None))?;
    let data = state.data();
    match data.oauth_tokens.get(value) {
        Some(t) if t.alive && t.client_id == client_id => Ok((value.to_string(), t.user.clone())),
        _ => Err(error(StatusCode::NOT_FOUND, "Not Found")),
    }
}

async fn check_token(
    State(state): State<GitHubState>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
    body: Bytes,
) -> Answer {
    oauth_app(&state, &headers, &client_id)?;
    let (value, user) = app_token(&state, &client_id, &body)?;
    let login = state.user(&user).map(|u| user_json(&u, state.mode()));
    Ok(axum::Json(json!({
        "id": 1,
        "token": value,
        "app": { "client_id": client_id },
        "user": login,
        "scopes": ["repo"],
    }))
    .into_response())
}

async fn delete_token(
    State(state): State<GitHubState>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
    body: Bytes,
) -> Answer {
    revoke_app_tokens(&state, &headers, &client_id, &body, false)
}

async fn delete_grant(
    State(state): State<GitHubState>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
    body: Bytes,
) -> Answer {
    revoke_app_tokens(&state, &headers, &client_id, &body, true)
}

/// `DELETE /applications/{client_id}/token` revokes the token of the body;
/// `…/grant` revokes every token its user holds for the app.
fn revoke_app_tokens(
    state: &GitHubState,
    headers: &HeaderMap,
    client_id: &str,
    body: &Bytes,
    whole_grant: bool,
) -> Answer {
    oauth_app(state, headers, client_id)?;
    let (value, user) = app_token(state, client_id, body)?;
    for (token_value, token) in state.data().oauth_tokens.iter_mut() {
        let of_grant = token.client_id == client_id && token.user == user;
        if *token_value == value || (whole_grant && of_grant) {
            token.alive = false;
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
