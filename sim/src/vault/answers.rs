//! How the Vault simulator answers: Vault's error and response envelopes,
//! and the checks its HTTP layer makes before any handler runs.

use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::state::VaultState;

/// `{"errors":[…]}` with `status`.
pub(crate) fn errors(status: StatusCode, msgs: &[&str]) -> Response {
    (status, axum::Json(json!({ "errors": msgs }))).into_response()
}

/// How Vault renders a plain (non-logical) backend error: 500 with a multierror text.
pub(crate) fn internal(msg: &str) -> Response {
    errors(
        StatusCode::INTERNAL_SERVER_ERROR,
        &[&format!("1 error occurred:\n\t* {msg}\n\n")],
    )
}

pub(crate) fn denied() -> Response {
    errors(StatusCode::FORBIDDEN, &["permission denied"])
}

pub(crate) fn sealed() -> Response {
    errors(StatusCode::SERVICE_UNAVAILABLE, &["Vault is sealed"])
}

/// A 400 as a backend reports it: a multierror text.
pub(crate) fn bad_backend(msg: &str) -> Response {
    errors(
        StatusCode::BAD_REQUEST,
        &[&format!("1 error occurred:\n\t* {msg}\n\n")],
    )
}

pub(crate) fn bad(msg: &str) -> Response {
    errors(StatusCode::BAD_REQUEST, &[msg])
}

/// The envelope Vault answers a no-op with: 200, `data: null` and one warning.
pub(crate) fn warning(s: &VaultState, warning: &str) -> Response {
    envelope(s, Value::Null, json!([warning]))
}

/// An error some backends (AppRole's lookups) answer inside the response
/// envelope, as `data.error`, with `status`.
pub(crate) fn data_error(s: &VaultState, status: StatusCode, error: &str) -> Response {
    let mut answer = data(s, json!({ "error": error }));
    *answer.status_mut() = status;
    answer
}

/// A standard Vault response envelope around `data`.
pub(crate) fn data(s: &VaultState, data: Value) -> Response {
    envelope(s, data, Value::Null)
}

/// Vault's response envelope (takes the state's lock for the request id).
fn envelope(s: &VaultState, data: Value, warnings: Value) -> Response {
    let request_id = s.lock().rng.uuid();
    axum::Json(json!({
        "request_id": request_id,
        "lease_id": "",
        "renewable": false,
        "lease_duration": 0,
        "data": data,
        "wrap_info": null,
        "warnings": warnings,
        "auth": null,
    }))
    .into_response()
}

pub(crate) fn parse<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|_| bad("error parsing JSON"))
}

pub(crate) fn no_handler(path: &str) -> Response {
    errors(
        StatusCode::NOT_FOUND,
        &[&format!(
            "no handler for route {path:?}. route entry not found."
        )],
    )
}

/// Vault's HTTP layer refuses a write to a path ending in `/` before it
/// looks at the token or the route: 400 `cannot write to a path ending in '/'`.
pub(crate) async fn refuse_trailing_slash(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    let write = matches!(*request.method(), Method::POST | Method::PUT);
    if write && path.starts_with("/v1/") && path.ends_with('/') {
        return bad("cannot write to a path ending in '/'");
    }
    next.run(request).await
}
