//! Errors as RFC 9457 problem documents (`application/problem+json`).
//!
//! Every handler fails with a [`Problem`]: a status, a title, a detail that
//! never carries a secret, and for invalid input the fields at fault.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cordon_input::InputErrors;
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One field of a request that is wrong.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct FieldError {
    /// The field, as a dotted path (e.g. `identities[0].kind`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
    /// 1-based line in the submitted document, when it is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`about:blank` plus `title` when generic).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong this time.
    pub detail: String,
    /// The fields at fault, for invalid input.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Seconds to wait before retrying (429, 503).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem of `status` with a title and detail.
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("https://cordon.dev/problems/{kind}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// 400: the request cannot be read.
    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )
    }

    /// 401: no valid credential.
    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Not authenticated",
            detail,
        )
    }

    /// 403: authenticated, not entitled.
    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, "forbidden", "Not entitled", detail)
    }

    /// 404: no such thing.
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 409: the request conflicts with what is recorded.
    pub fn conflict(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    /// 422: well-formed, but invalid.
    pub fn invalid(detail: impl Into<String>, errors: Vec<FieldError>) -> Problem {
        let mut problem = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-input",
            "Invalid input",
            detail,
        );
        problem.errors = errors;
        problem
    }

    /// 422 for a document whose every problem is located.
    pub fn from_input(errors: &InputErrors) -> Problem {
        let fields = errors
            .0
            .iter()
            .map(|e| FieldError {
                field: e.field.clone(),
                message: e.message.clone(),
                line: Some(e.line),
                column: Some(e.column),
            })
            .collect();
        Problem::invalid("the request body is invalid; nothing was changed", fields)
    }

    /// 429: too many requests from this principal.
    pub fn too_many(retry_after: u64) -> Problem {
        let mut problem = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            format!("this caller's request rate is over its limit; retry in {retry_after} s"),
        );
        problem.retry_after = Some(retry_after);
        problem
    }

    /// 503: the service cannot answer now.
    pub fn unavailable(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail,
        )
    }

    /// 500: something failed inside; the detail names what, never a secret.
    pub fn internal(detail: impl std::fmt::Display) -> Problem {
        tracing::error!("request failed: {detail}");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            detail.to_string(),
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"cordon\""),
            );
        }
        response
    }
}

impl From<cordon_store::StoreError> for Problem {
    fn from(error: cordon_store::StoreError) -> Problem {
        match error {
            cordon_store::StoreError::NoSuchRun(id) => {
                Problem::not_found(format!("no run with id `{}`", id.escape_debug()))
            }
            // The store cannot be reached or written now: the caller (a
            // detector's delivery, a person) retries, as it would any 503.
            error if error.is_transient() => {
                tracing::warn!("request refused, the store is unavailable: {error}");
                let mut problem = Problem::unavailable(format!(
                    "the store is unavailable, so this request was not carried out; \
                     retry later ({error})"
                ));
                problem.retry_after = Some(STORE_RETRY_AFTER_S);
                problem
            }
            other => Problem::internal(other),
        }
    }
}

/// What a 503 for an unavailable store asks callers to wait, in seconds.
const STORE_RETRY_AFTER_S: u64 = 5;

impl From<cordon_engine::EngineError> for Problem {
    fn from(error: cordon_engine::EngineError) -> Problem {
        match error {
            cordon_engine::EngineError::Store(error) => Problem::from(error),
            other => Problem::internal(other),
        }
    }
}
