//! Vault HTTP handlers.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::acl::Cap;
use super::answers::{
    bad, bad_backend, data, data_error, denied, errors, internal, no_handler, parse,
    refuse_trailing_slash, sealed, warning,
};
use super::state::{Caller, TokenInfo, VaultData, VaultState};
use crate::util::{now_ms, rfc3339_nanos};

type R = Result<Response, Response>;

fn authorize(d: &VaultData, c: &Caller, path: &str, cap: Cap) -> Result<(), Response> {
    if d.allowed(c, path, cap) {
        Ok(())
    } else {
        Err(denied())
    }
}

/// The authenticated caller: `X-Vault-Token` only. Sealed → 503; missing, unknown, revoked,
/// expired token or disabled entity → 403 `permission denied`.
pub(crate) struct Authed(pub Caller);

impl FromRequestParts<VaultState> for Authed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &VaultState) -> Result<Self, Response> {
        let d = s.lock();
        if d.sealed {
            return Err(sealed());
        }
        let token = parts
            .headers
            .get("x-vault-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        d.authenticate(token, now_ms())
            .map(Authed)
            .ok_or_else(denied)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AccessorBody {
    accessor: String,
}

#[derive(Deserialize)]
#[serde(default)]
struct LeaseBody {
    lease_id: String,
    sync: bool,
}

impl Default for LeaseBody {
    fn default() -> Self {
        Self {
            lease_id: String::new(),
            sync: true,
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
struct SyncBody {
    sync: bool,
}

impl Default for SyncBody {
    fn default() -> Self {
        Self { sync: true }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SecretIdAccessorBody {
    secret_id_accessor: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EntityUpdate {
    name: Option<String>,
    disabled: Option<bool>,
    policies: Option<Vec<String>>,
    metadata: Option<std::collections::BTreeMap<String, String>>,
}

fn token_json(t: &TokenInfo, now: u64, with_id: bool) -> Value {
    let ttl = t
        .expire_time_ms()
        .map(|e| e.saturating_sub(now) / 1000)
        .unwrap_or(0);
    json!({
        "accessor": t.accessor,
        "creation_time": t.creation_time_ms / 1000,
        "creation_ttl": t.ttl_secs,
        "display_name": t.display_name,
        "entity_id": t.entity_id,
        "expire_time": t.expire_time_ms().map(rfc3339_nanos),
        "explicit_max_ttl": 0,
        "id": if with_id { t.id.as_str() } else { "" },
        "issue_time": rfc3339_nanos(t.creation_time_ms),
        "meta": if t.meta.is_empty() { Value::Null } else { json!(t.meta) },
        "num_uses": 0,
        "orphan": t.orphan,
        "path": t.path,
        "policies": t.policies,
        "renewable": t.ttl_secs > 0,
        "ttl": ttl,
        "type": "service",
    })
}

async fn lookup_accessor(State(s): State<VaultState>, Authed(c): Authed, body: Bytes) -> R {
    let b: AccessorBody = parse(&body)?;
    let now = now_ms();
    let v = {
        let d = s.lock();
        authorize(&d, &c, "auth/token/lookup-accessor", Cap::Update)?;
        if b.accessor.is_empty() {
            return Err(bad_backend("missing accessor"));
        }
        let t = d
            .live_token(&b.accessor, now)
            .ok_or_else(|| bad_backend("invalid accessor"))?;
        token_json(t, now, false)
    };
    Ok(data(&s, v))
}

async fn lookup_self(State(s): State<VaultState>, Authed(c): Authed) -> R {
    let now = now_ms();
    let v = {
        let d = s.lock();
        authorize(&d, &c, "auth/token/lookup-self", Cap::Read)?;
        let t = d.live_token(&c.accessor, now).ok_or_else(denied)?;
        token_json(t, now, true)
    };
    Ok(data(&s, v))
}

async fn revoke_accessor(State(s): State<VaultState>, Authed(c): Authed, body: Bytes) -> R {
    let b: AccessorBody = parse(&body)?;
    let now = now_ms();
    let mut d = s.lock();
    authorize(&d, &c, "auth/token/revoke-accessor", Cap::Update)?;
    if b.accessor.is_empty() {
        return Err(bad_backend("missing accessor"));
    }
    // Vault answers an unknown (revoked, expired) accessor with 200 and a
    // warning, not an error.
    if d.live_token(&b.accessor, now).is_none() {
        drop(d);
        return Ok(warning(&s, "No token found with this accessor"));
    }
    d.revoke_token_tree(&b.accessor, now);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn lease_lookup(State(s): State<VaultState>, Authed(c): Authed, body: Bytes) -> R {
    let b: LeaseBody = parse(&body)?;
    let now = now_ms();
    let v = {
        let d = s.lock();
        authorize(&d, &c, "sys/leases/lookup", Cap::Update)?;
        if b.lease_id.is_empty() {
            return Err(bad("missing param: lease_id"));
        }
        let l = d
            .leases
            .get(&b.lease_id)
            .filter(|l| !l.revoked)
            .ok_or_else(|| bad("invalid lease"))?;
        let expire = l.issue_time_ms + l.ttl_secs * 1000;
        json!({
            "id": l.id,
            "issue_time": rfc3339_nanos(l.issue_time_ms),
            "expire_time": rfc3339_nanos(expire),
            "last_renewal": null,
            "renewable": true,
            "ttl": expire.saturating_sub(now) / 1000,
        })
    };
    Ok(data(&s, v))
}

fn revoked_status(sync: bool) -> Response {
    if sync {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::ACCEPTED.into_response()
    }
}

/// Unknown or already revoked lease ids get 204 too: Vault's expiration manager treats a
/// missing lease entry as already revoked.
async fn lease_revoke(State(s): State<VaultState>, Authed(c): Authed, body: Bytes) -> R {
    let b: LeaseBody = parse(&body)?;
    let mut d = s.lock();
    authorize(&d, &c, "sys/leases/revoke", Cap::Update)?;
    if b.lease_id.is_empty() {
        return Err(bad("missing param: lease_id"));
    }
    d.revoke_lease(&b.lease_id, now_ms());
    Ok(revoked_status(b.sync))
}

async fn lease_revoke_prefix(
    State(s): State<VaultState>,
    Authed(c): Authed,
    Path(prefix): Path<String>,
    body: Bytes,
) -> R {
    let b: SyncBody = parse(&body)?;
    let now = now_ms();
    let mut d = s.lock();
    authorize(
        &d,
        &c,
        &format!("sys/leases/revoke-prefix/{prefix}"),
        Cap::SudoUpdate,
    )?;
    // Vault matches whole path segments: `pki/issue/agent-9` is
    // `pki/issue/agent-9/`, which never covers `pki/issue/agent-90/…`. (A
    // prefix ending in `/` never gets here: see `refuse_trailing_slash`.)
    let prefix = format!("{prefix}/");
    let leases: Vec<String> = d
        .leases
        .keys()
        .filter(|id| id.starts_with(&prefix))
        .cloned()
        .collect();
    for id in leases {
        d.revoke_lease(&id, now);
    }
    // A token's lease id is `<its auth path>/<hash>`.
    let tokens: Vec<String> = d
        .tokens
        .values()
        .filter(|t| !t.revoked && format!("{}/", t.path).starts_with(&prefix))
        .map(|t| t.accessor.clone())
        .collect();
    for acc in tokens {
        d.revoke_token_tree(&acc, now);
    }
    Ok(revoked_status(b.sync))
}

/// Mirrors AppRole's `secret-id-accessor/destroy`: unknown role and unknown accessor are plain
/// backend errors (500); an accessor of another role on the same mount is 403 `invalid secret
/// id accessor`.
async fn secret_id_destroy(
    State(s): State<VaultState>,
    Authed(c): Authed,
    Path((mount, role)): Path<(String, String)>,
    body: Bytes,
) -> R {
    let b: SecretIdAccessorBody = parse(&body)?;
    let path = format!("auth/{mount}/role/{role}/secret-id-accessor/destroy");
    let mut d = s.lock();
    authorize(&d, &c, &path, Cap::Update)?;
    if !d.roles.keys().any(|(m, _)| *m == mount) {
        return Err(no_handler(&path));
    }
    if b.secret_id_accessor.is_empty() {
        return Err(bad("missing secret_id_accessor"));
    }
    let key = (mount.clone(), role.clone());
    if !d.roles.contains_key(&key) {
        return Err(internal(&format!("role {role:?} does not exist")));
    }
    let in_mount = d
        .roles
        .iter()
        .filter(|((m, _), _)| *m == mount)
        .any(|(_, ids)| ids.get(&b.secret_id_accessor).is_some_and(|s| !s.destroyed));
    if !in_mount {
        return Err(internal(&format!(
            "failed to find accessor entry for secret_id_accessor: {:?}",
            b.secret_id_accessor
        )));
    }
    let Some(sid) = d
        .roles
        .get_mut(&key)
        .and_then(|ids| ids.get_mut(&b.secret_id_accessor))
        .filter(|sid| !sid.destroyed)
    else {
        return Err(errors(
            StatusCode::FORBIDDEN,
            &["invalid secret id accessor"],
        ));
    };
    sid.destroyed = true;
    sid.destroyed_at_ms = Some(now_ms());
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn secret_id_lookup(
    State(s): State<VaultState>,
    Authed(c): Authed,
    Path((mount, role)): Path<(String, String)>,
    body: Bytes,
) -> R {
    let b: SecretIdAccessorBody = parse(&body)?;
    let path = format!("auth/{mount}/role/{role}/secret-id-accessor/lookup");
    let v = {
        let d = s.lock();
        authorize(&d, &c, &path, Cap::Update)?;
        if !d.roles.keys().any(|(m, _)| *m == mount) {
            return Err(no_handler(&path));
        }
        let ids = d
            .roles
            .get(&(mount.clone(), role.clone()))
            .ok_or_else(|| internal(&format!("role {role:?} does not exist")))?;
        let live = |ids: &std::collections::BTreeMap<String, _>| {
            ids.get(&b.secret_id_accessor)
                .is_some_and(|s: &super::state::SecretIdInfo| !s.destroyed)
        };
        // An accessor of another role on the same mount: 204, no body.
        if !live(ids) && d.roles.iter().any(|((m, _), ids)| *m == mount && live(ids)) {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        let Some(sid) = ids.get(&b.secret_id_accessor).filter(|s| !s.destroyed) else {
            drop(d); // `data_error` takes the lock for its request id
            return Err(data_error(
                &s,
                StatusCode::NOT_FOUND,
                &format!(
                    "failed to find accessor entry for secret_id_accessor: {:?}",
                    b.secret_id_accessor
                ),
            ));
        };
        json!({
            "secret_id_accessor": sid.accessor,
            "metadata": sid.metadata,
            "creation_time": rfc3339_nanos(sid.creation_time_ms),
            "last_updated_time": rfc3339_nanos(sid.creation_time_ms),
            "expiration_time": "0001-01-01T00:00:00Z",
            "secret_id_num_uses": 0,
            "secret_id_ttl": 0,
            "cidr_list": [],
            "token_bound_cidrs": [],
        })
    };
    Ok(data(&s, v))
}

async fn entity_read(State(s): State<VaultState>, Authed(c): Authed, Path(id): Path<String>) -> R {
    let v = {
        let d = s.lock();
        authorize(&d, &c, &format!("identity/entity/id/{id}"), Cap::Read)?;
        let e = d
            .entities
            .get(&id)
            .ok_or_else(|| errors(StatusCode::NOT_FOUND, &[]))?;
        json!({
            "id": e.id,
            "name": e.name,
            "disabled": e.disabled,
            "metadata": if e.metadata.is_empty() { Value::Null } else { json!(e.metadata) },
            "policies": e.policies,
            "aliases": [],
            "creation_time": rfc3339_nanos(e.creation_time_ms),
            "last_update_time": rfc3339_nanos(e.last_update_time_ms),
            "direct_group_ids": [],
            "group_ids": [],
            "inherited_group_ids": [],
            "merged_entity_ids": null,
            "namespace_id": "root",
            "bucket_key_hash": "",
            "mfa_secrets": {},
        })
    };
    Ok(data(&s, v))
}

/// Updating an existing entity answers 204; an unknown id is 400 `entity not found from id`.
async fn entity_update(
    State(s): State<VaultState>,
    Authed(c): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> R {
    let b: EntityUpdate = parse(&body)?;
    let mut d = s.lock();
    authorize(&d, &c, &format!("identity/entity/id/{id}"), Cap::Update)?;
    let e = d
        .entities
        .get_mut(&id)
        .ok_or_else(|| bad("entity not found from id"))?;
    if let Some(v) = b.disabled {
        e.disabled = v;
    }
    if let Some(v) = b.name {
        e.name = v;
    }
    if let Some(v) = b.policies {
        e.policies = v;
    }
    if let Some(v) = b.metadata {
        e.metadata = v;
    }
    e.last_update_time_ms = now_ms();
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn health(State(s): State<VaultState>) -> Response {
    let sealed = s.sealed();
    let body = json!({
        "initialized": true,
        "sealed": sealed,
        "standby": false,
        "performance_standby": false,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": now_ms() / 1000,
        "version": "1.17.0+sim",
        "cluster_name": "vault-cluster-sim",
    });
    let status = if sealed {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, axum::Json(body)).into_response()
}

/// Unknown paths: 403 unless the caller's policies cover the path, then 404.
async fn fallback(State(s): State<VaultState>, Authed(c): Authed, uri: Uri) -> Response {
    let path = uri.path().trim_start_matches("/v1/").to_owned();
    let d = s.lock();
    if d.allowed(&c, &path, Cap::Update) || d.allowed(&c, &path, Cap::Read) {
        no_handler(&path)
    } else {
        denied()
    }
}

async fn method_not_allowed(_m: Method) -> Response {
    errors(StatusCode::METHOD_NOT_ALLOWED, &[])
}

#[derive(Deserialize)]
struct SealBody {
    sealed: bool,
}

async fn admin_seal(State(s): State<VaultState>, body: Bytes) -> Response {
    match serde_json::from_slice::<SealBody>(&body) {
        Ok(b) => {
            s.set_sealed(b.sealed);
            axum::Json(json!({ "sealed": b.sealed })).into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": e.to_string() })),
        )
            .into_response(),
    }
}

/// Every Vault route, the admin routes (`/__sim/…` plus `POST /__sim/seal {"sealed":bool}`),
/// the fallback and the 405 handler.
pub(crate) fn router() -> Router<VaultState> {
    Router::new()
        .route("/v1/sys/health", get(health))
        .route("/v1/auth/token/lookup-self", get(lookup_self))
        .route(
            "/v1/auth/token/lookup-accessor",
            post(lookup_accessor).put(lookup_accessor),
        )
        .route(
            "/v1/auth/token/revoke-accessor",
            post(revoke_accessor).put(revoke_accessor),
        )
        .route(
            "/v1/sys/leases/lookup",
            post(lease_lookup).put(lease_lookup),
        )
        .route(
            "/v1/sys/leases/revoke",
            post(lease_revoke).put(lease_revoke),
        )
        .route(
            "/v1/sys/leases/revoke-prefix/{*prefix}",
            post(lease_revoke_prefix).put(lease_revoke_prefix),
        )
        .route(
            "/v1/auth/{mount}/role/{role}/secret-id-accessor/destroy",
            post(secret_id_destroy)
                .put(secret_id_destroy)
                .delete(secret_id_destroy),
        )
        .route(
            "/v1/auth/{mount}/role/{role}/secret-id-accessor/lookup",
            post(secret_id_lookup).put(secret_id_lookup),
        )
        .route(
            "/v1/identity/entity/id/{id}",
            get(entity_read).post(entity_update).put(entity_update),
        )
        .route("/__sim/seal", post(admin_seal))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(refuse_trailing_slash))
}
