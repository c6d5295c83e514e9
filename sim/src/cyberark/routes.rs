//! CyberArk PVWA REST handlers (base path `/PasswordVault`, case-sensitive).

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::state::{Account, CyberArkState, LiveSession, Logon};
use crate::util::now_ms;

type R = Result<Response, Response>;

/// Error codes. `PASWS006E` (invalid session token) and `ITATS004E` (logon failure) are the
/// product's; the `CASIM…` codes are the simulator's own: key on the HTTP status instead.
pub mod codes {
    /// 401: the session token is missing, invalid, expired or logged off.
    pub const SESSION: &str = "PASWS006E";
    /// 403: logon failure (wrong user or password, disabled user).
    pub const AUTH_FAILURE: &str = "ITATS004E";
    /// 400: invalid request.
    pub const BAD_REQUEST: &str = "CASIM400E";
    /// 403: not authorized for this operation.
    pub const FORBIDDEN: &str = "CASIM403E";
    /// 404: object not found.
    pub const NOT_FOUND: &str = "CASIM404E";
    /// 409: conflicting state.
    pub const CONFLICT: &str = "CASIM409E";
    /// 429: too many requests.
    pub const TOO_MANY: &str = "CASIM429E";
    /// 500: internal error.
    pub const INTERNAL: &str = "CASIM500E";
    /// 503: unavailable.
    pub const UNAVAILABLE: &str = "CASIM503E";
}

/// `{"ErrorCode","ErrorMessage"}` with `status`.
pub(crate) fn pv_error(status: StatusCode, code: &str, msg: &str) -> Response {
    (
        status,
        axum::Json(json!({ "ErrorCode": code, "ErrorMessage": msg })),
    )
        .into_response()
}

fn bad(msg: &str) -> Response {
    pv_error(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, msg)
}

fn not_found(msg: &str) -> Response {
    pv_error(StatusCode::NOT_FOUND, codes::NOT_FOUND, msg)
}

fn ok_empty() -> Response {
    StatusCode::OK.into_response()
}

/// A logged-on caller: header `Authorization: <token>` (raw, no scheme) holding a valid, not
/// idle-expired logon token of an enabled user; else 401 PASWS006E.
pub(crate) struct Authed(pub String);

impl FromRequestParts<CyberArkState> for Authed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &CyberArkState) -> Result<Self, Response> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if s.lock().touch(&token, now_ms()).is_some() {
            Ok(Authed(token))
        } else {
            Err(pv_error(
                StatusCode::UNAUTHORIZED,
                codes::SESSION,
                "Your session has expired. Please log in again.",
            ))
        }
    }
}

#[derive(Deserialize)]
struct LogonBody {
    username: Option<String>,
    password: Option<String>,
    #[serde(rename = "concurrentSession", default)]
    concurrent_session: bool,
}

/// Logon: 200 with the token as a JSON string. Wrong credentials or a disabled user → 403
/// ITATS004E. Without `concurrentSession: true`, the user's earlier tokens are invalidated.
async fn logon(State(s): State<CyberArkState>, body: Bytes) -> R {
    let b: LogonBody =
        serde_json::from_slice(&body).map_err(|_| bad("The request body is invalid."))?;
    let (Some(user), Some(pass)) = (b.username, b.password) else {
        return Err(bad("Missing mandatory parameter [username/password]."));
    };
    let mut d = s.lock();
    let uid = d
        .user_by_name(&user)
        .filter(|u| !u.disabled && u.password.as_deref() == Some(pass.as_str()))
        .map(|u| u.id);
    let Some(uid) = uid else {
        return Err(pv_error(
            StatusCode::FORBIDDEN,
            codes::AUTH_FAILURE,
            &format!("Authentication failure for User [{user}]."),
        ));
    };
    if !b.concurrent_session {
        d.logons.retain(|_, l| l.user_id != uid);
    }
    let now = now_ms();
    let token = d.rng.base64(132);
    d.logons.insert(
        token.clone(),
        Logon {
            user_id: uid,
            last_used_ms: now,
        },
    );
    if let Some(u) = d.users.get_mut(&uid) {
        u.last_logon_ms = Some(now);
    }
    Ok(axum::Json(Value::String(token)).into_response())
}

async fn logoff(State(s): State<CyberArkState>, Authed(token): Authed) -> R {
    s.lock().logons.remove(&token);
    Ok(axum::Json(json!({})).into_response())
}

/// Query parameters are case-insensitive in PVWA (ASP.NET binding); paths are not.
fn param<'a>(q: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    q.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn session_json(x: &LiveSession, now: u64) -> Value {
    json!({
        "SessionID": x.id,
        "SessionGuid": x.id,
        "SafeName": x.safe_name,
        "FileName": "",
        "Start": x.start_ms / 1000,
        "End": 0,
        "Duration": now.saturating_sub(x.start_ms) / 1000,
        "User": x.user,
        "RemoteMachine": x.account_address,
        "ProtocolName": x.protocol,
        "ClientApp": if x.protocol == "RDP" { "mstsc" } else { "PuTTY" },
        "AccountUsername": x.account_username,
        "AccountAddress": x.account_address,
        "AccountPlatformID": x.platform_id,
        "AccountID": x.account_id.clone().unwrap_or_default(),
        "FromIP": x.from_ip,
        "ConnectionComponentID": x.connection_component_id,
        "RiskScore": -1.0,
        "IsLive": true,
        "CanTerminate": x.can_terminate,
        "CanMonitor": true,
        "CanSuspend": x.can_suspend,
        "Severity": "None",
        "TicketID": "",
        "RawProperties": {},
    })
}

fn paginate<T>(items: Vec<T>, q: &HashMap<String, String>) -> Vec<T> {
    let offset = param(q, "offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let limit = param(q, "limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    items.into_iter().skip(offset).take(limit).collect()
}

/// Live sessions (terminated ones excluded). `Search` matches any text field
/// (case-insensitive substring), `Safe` the safe name exactly (case-insensitive).
async fn list_sessions(
    State(s): State<CyberArkState>,
    _a: Authed,
    Query(q): Query<HashMap<String, String>>,
) -> R {
    let search = param(&q, "Search").map(str::to_lowercase);
    let safe = param(&q, "Safe");
    let now = now_ms();
    let d = s.lock();
    let hits: Vec<Value> = d
        .live_sessions
        .values()
        .filter(|x| !x.terminated)
        .filter(|x| safe.is_none_or(|sf| x.safe_name.eq_ignore_ascii_case(sf)))
        .filter(|x| {
            search.as_deref().is_none_or(|t| {
                [
                    &x.user,
                    &x.account_username,
                    &x.account_address,
                    &x.from_ip,
                    &x.safe_name,
                    &x.protocol,
                    &x.connection_component_id,
                ]
                .iter()
                .any(|f| f.to_lowercase().contains(t))
            })
        })
        .map(|x| session_json(x, now))
        .collect();
    let total = hits.len();
    let page = paginate(hits, &q);
    Ok(axum::Json(json!({ "LiveSessions": page, "Total": total })).into_response())
}

#[derive(Clone, Copy)]
enum SessionOp {
    Terminate,
    Suspend,
    Resume,
}

/// Terminate/Suspend/Resume. Unknown or already terminated session → 404; suspending a
/// suspended session or resuming one that is not suspended → 409; `CanTerminate`/`CanSuspend`
/// false → 403.
fn session_op(s: &CyberArkState, id: &str, op: SessionOp) -> R {
    let mut d = s.lock();
    let x = d
        .live_sessions
        .get_mut(id)
        .filter(|x| !x.terminated)
        .ok_or_else(|| not_found(&format!("Live session [{id}] was not found.")))?;
    let allowed = match op {
        SessionOp::Terminate => x.can_terminate,
        SessionOp::Suspend | SessionOp::Resume => x.can_suspend,
    };
    if !allowed {
        return Err(pv_error(
            StatusCode::FORBIDDEN,
            codes::FORBIDDEN,
            "You are not authorized to perform this action.",
        ));
    }
    match op {
        SessionOp::Terminate => {
            x.terminated = true;
            x.terminated_at_ms = Some(now_ms());
        }
        SessionOp::Suspend if x.suspended => {
            return Err(pv_error(
                StatusCode::CONFLICT,
                codes::CONFLICT,
                &format!("Live session [{id}] is already suspended."),
            ));
        }
        SessionOp::Resume if !x.suspended => {
            return Err(pv_error(
                StatusCode::CONFLICT,
                codes::CONFLICT,
                &format!("Live session [{id}] is not suspended."),
            ));
        }
        SessionOp::Suspend => x.suspended = true,
        SessionOp::Resume => x.suspended = false,
    }
    Ok(ok_empty())
}

async fn terminate(State(s): State<CyberArkState>, _a: Authed, Path(id): Path<String>) -> R {
    session_op(&s, &id, SessionOp::Terminate)
}

async fn suspend(State(s): State<CyberArkState>, _a: Authed, Path(id): Path<String>) -> R {
    session_op(&s, &id, SessionOp::Suspend)
}

async fn resume(State(s): State<CyberArkState>, _a: Authed, Path(id): Path<String>) -> R {
    session_op(&s, &id, SessionOp::Resume)
}

fn account_json(a: &Account) -> Value {
    let mut sm = json!({
        "automaticManagementEnabled": a.automatic_management_enabled,
        "lastModifiedTime": a.last_modified_ms / 1000,
    });
    if let Some(r) = &a.manual_management_reason {
        sm["manualManagementReason"] = json!(r);
    }
    if let Some(st) = &a.cpm_status {
        sm["status"] = json!(st);
    }
    json!({
        "categoryModificationTime": a.created_ms / 1000,
        "platformId": a.platform_id,
        "safeName": a.safe_name,
        "id": a.id,
        "name": a.name,
        "address": a.address,
        "userName": a.user_name,
        "secretType": "password",
        "platformAccountProperties": a.platform_account_properties,
        "secretManagement": sm,
        "createdTime": a.created_ms / 1000,
    })
}

fn account_missing(id: &str) -> Response {
    not_found(&format!("Account [{id}] was not found."))
}

async fn list_accounts(
    State(s): State<CyberArkState>,
    _a: Authed,
    Query(q): Query<HashMap<String, String>>,
) -> R {
    let search = param(&q, "search").map(str::to_lowercase);
    let safe = param(&q, "filter")
        .and_then(|f| f.trim().strip_prefix("safeName eq "))
        .map(|v| v.trim().to_owned());
    let d = s.lock();
    let hits: Vec<Value> = d
        .accounts
        .values()
        .filter(|a| {
            safe.as_deref()
                .is_none_or(|sf| a.safe_name.eq_ignore_ascii_case(sf))
        })
        .filter(|a| {
            search.as_deref().is_none_or(|t| {
                t.split_whitespace().all(|w| {
                    [&a.name, &a.address, &a.user_name, &a.safe_name]
                        .iter()
                        .any(|f| f.to_lowercase().contains(w))
                })
            })
        })
        .map(account_json)
        .collect();
    let count = hits.len();
    let page = paginate(hits, &q);
    Ok(axum::Json(json!({ "value": page, "count": count })).into_response())
}

async fn get_account(State(s): State<CyberArkState>, _a: Authed, Path(id): Path<String>) -> R {
    let a = s.account(&id).ok_or_else(|| account_missing(&id))?;
    Ok(axum::Json(account_json(&a)).into_response())
}

/// Immediate credential change: a new secret version, `lastModifiedTime` = now, CPM status
/// `success`. Answers 200 with an empty body.
async fn change(
    State(s): State<CyberArkState>,
    _a: Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> R {
    if !body.iter().all(u8::is_ascii_whitespace) {
        serde_json::from_slice::<Value>(&body).map_err(|_| bad("The request body is invalid."))?;
    }
    let mut d = s.lock();
    let a = d
        .accounts
        .get_mut(&id)
        .ok_or_else(|| account_missing(&id))?;
    a.secret_version += 1;
    a.last_modified_ms = now_ms();
    a.cpm_status = Some("success".into());
    Ok(ok_empty())
}

#[derive(Deserialize)]
struct PatchOp {
    op: String,
    path: String,
    #[serde(default)]
    value: Value,
}

fn apply_patch(a: &mut Account, p: &PatchOp) -> Result<(), String> {
    let remove = match p.op.as_str() {
        "replace" | "add" => false,
        "remove" => true,
        other => return Err(format!("Operation [{other}] is not supported.")),
    };
    let text = || {
        p.value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("Invalid value for [{}].", p.path))
    };
    match p.path.as_str() {
        "/secretManagement/automaticManagementEnabled" if !remove => {
            a.automatic_management_enabled = p
                .value
                .as_bool()
                .ok_or_else(|| format!("Invalid value for [{}].", p.path))?;
        }
        "/secretManagement/manualManagementReason" => {
            a.manual_management_reason = if remove { None } else { Some(text()?) };
        }
        "/name" if !remove => a.name = text()?,
        "/address" if !remove => a.address = text()?,
        "/userName" if !remove => a.user_name = text()?,
        path => match path.strip_prefix("/platformAccountProperties/") {
            Some(k) if remove => {
                a.platform_account_properties.remove(k);
            }
            Some(k) => {
                a.platform_account_properties.insert(k.to_owned(), text()?);
            }
            None => return Err(format!("Path [{path}] cannot be updated.")),
        },
    }
    Ok(())
}

/// JSON-patch update; the whole patch is validated before anything is applied. Answers 200
/// with the updated account.
async fn patch_account(
    State(s): State<CyberArkState>,
    _a: Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> R {
    let ops: Vec<PatchOp> =
        serde_json::from_slice(&body).map_err(|_| bad("The request body is invalid."))?;
    let mut d = s.lock();
    let a = d
        .accounts
        .get_mut(&id)
        .ok_or_else(|| account_missing(&id))?;
    let mut copy = a.clone();
    for op in &ops {
        apply_patch(&mut copy, op).map_err(|e| bad(&e))?;
    }
    *a = copy;
    Ok(axum::Json(account_json(a)).into_response())
}

fn user_missing(id: &str) -> Response {
    not_found(&format!("User [{id}] was not found."))
}

fn user_id(id: &str) -> Result<u64, Response> {
    id.parse().map_err(|_| user_missing(id))
}

async fn get_user(State(s): State<CyberArkState>, _a: Authed, Path(id): Path<String>) -> R {
    let u = s.user(user_id(&id)?).ok_or_else(|| user_missing(&id))?;
    Ok(axum::Json(json!({
        "id": u.id,
        "username": u.username,
        "source": "CyberArk",
        "userType": "EPVUser",
        "componentUser": false,
        "suspended": false,
        "enableUser": !u.disabled,
        "changePassOnNextLogon": false,
        "expiryDate": -1,
        "lastSuccessfulLoginDate": u.last_logon_ms.map(|m| m / 1000),
        "location": "\\",
        "vaultAuthorization": [],
        "personalDetails": {},
    }))
    .into_response())
}

/// Disable/enable a Vault user (idempotent, 200 with an empty body). Disabling also
/// invalidates the user's logon tokens.
fn set_disabled(s: &CyberArkState, id: &str, disabled: bool) -> R {
    let uid = user_id(id)?;
    let mut d = s.lock();
    let u = d.users.get_mut(&uid).ok_or_else(|| user_missing(id))?;
    u.disabled = disabled;
    if disabled {
        d.logons.retain(|_, l| l.user_id != uid);
    }
    Ok(ok_empty())
}

async fn disable_user(State(s): State<CyberArkState>, _a: Authed, Path(id): Path<String>) -> R {
    set_disabled(&s, &id, true)
}

async fn enable_user(State(s): State<CyberArkState>, _a: Authed, Path(id): Path<String>) -> R {
    set_disabled(&s, &id, false)
}

/// IIS answers unknown (including wrongly-cased) paths with an HTML 404, before any auth.
async fn fallback() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html")],
        "<!DOCTYPE html><html><head><title>404 - File or directory not found.</title></head>\
         <body><h2>404 - File or directory not found.</h2></body></html>",
    )
        .into_response()
}

async fn method_not_allowed(m: Method) -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(json!({
            "Message": format!("The requested resource does not support http method '{m}'.")
        })),
    )
        .into_response()
}

/// Every PVWA route (with and without trailing slash where PVWA documents one), the admin
/// routes, the HTML 404 fallback and the 405 handler.
pub(crate) fn router() -> Router<CyberArkState> {
    const B: &str = "/PasswordVault/API";
    let mut r = Router::new()
        .route(&format!("{B}/auth/CyberArk/Logon"), post(logon))
        .route(&format!("{B}/auth/Cyberark/Logon"), post(logon))
        .route(&format!("{B}/Auth/Logoff"), post(logoff))
        .route(&format!("{B}/LiveSessions"), get(list_sessions))
        .route(&format!("{B}/Accounts"), get(list_accounts))
        .route(
            &format!("{B}/Accounts/{{id}}"),
            get(get_account).patch(patch_account),
        )
        .route(&format!("{B}/Users/{{id}}"), get(get_user));
    for slash in ["", "/"] {
        r = r
            .route(
                &format!("{B}/LiveSessions/{{id}}/Terminate{slash}"),
                post(terminate),
            )
            .route(
                &format!("{B}/LiveSessions/{{id}}/Suspend{slash}"),
                post(suspend),
            )
            .route(
                &format!("{B}/LiveSessions/{{id}}/Resume{slash}"),
                post(resume),
            )
            .route(&format!("{B}/Accounts/{{id}}/Change{slash}"), post(change))
            .route(
                &format!("{B}/Users/{{id}}/disable{slash}"),
                post(disable_user),
            )
            .route(
                &format!("{B}/Users/{{id}}/enable{slash}"),
                post(enable_user),
            );
    }
    r.fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
}
