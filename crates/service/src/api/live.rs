//! `/v1/events` (Server-Sent Events), `/healthz` and `/readyz`.

use crate::auth::Caller;
use crate::events::{LiveEvent, read_after};
use crate::problem::Problem;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use cordon_config::Scope;
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use utoipa::IntoParams;

/// Which events to stream.
#[derive(Debug, Deserialize, IntoParams)]
pub struct EventsQuery {
    /// Only the events of this run.
    pub run_id: Option<String>,
    /// Only the events of this incident.
    pub incident: Option<String>,
    /// Start after this audit seq (like `Last-Event-ID`); default: only new events.
    pub after: Option<u64>,
}

/// How many records one read takes.
const PAGE: u64 = 256;

/// Live events: each durable audit record as it is written (`id` = its
/// seq, `event` = its kind, or `approval.needed`). Reconnect with
/// `Last-Event-ID` to miss nothing.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventsQuery),
    responses((status = 200, content_type = "text/event-stream", body = LiveEvent)))]
pub async fn events(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    caller.require(&state, Scope::Read).await?;
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let start = last_event_id
        .or(query.after)
        .unwrap_or_else(|| state.watch.durable());
    let durable = state.watch.subscribe();
    let stopping = state.stopping.subscribe();
    let cursor = Cursor {
        stopping,
        state,
        durable,
        after: start,
        pending: VecDeque::new(),
        query,
    };
    let stream = stream::unfold(cursor, |mut cursor| async move {
        loop {
            if let Some(event) = cursor.pending.pop_front() {
                if !cursor.wanted(&event) {
                    continue;
                }
                let sse = Event::default()
                    .id(event.seq.to_string())
                    .event(event.event.clone())
                    .json_data(&event)
                    .unwrap_or_else(|_| Event::default().comment("unencodable event"));
                return Some((Ok(sse), cursor));
            }
            let durable = *cursor.durable.borrow_and_update();
            if durable > cursor.after {
                match read_after(cursor.state.store.as_ref(), cursor.after, durable, PAGE) {
                    Ok(events) => {
                        cursor.after = events.last().map_or(durable, |e| e.seq);
                        cursor.pending.extend(events);
                    }
                    Err(err) => {
                        tracing::error!("cannot read the audit log for live events: {err}");
                        return None;
                    }
                }
                continue;
            }
            // The stream ends when the service stops, so that it can.
            if *cursor.stopping.borrow() {
                return None;
            }
            tokio::select! {
                changed = cursor.durable.changed() => if changed.is_err() { return None },
                _ = cursor.stopping.changed() => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

struct Cursor {
    state: Arc<AppState>,
    stopping: tokio::sync::watch::Receiver<bool>,
    durable: tokio::sync::watch::Receiver<u64>,
    after: u64,
    pending: VecDeque<LiveEvent>,
    query: EventsQuery,
}

impl Cursor {
    fn wanted(&self, event: &LiveEvent) -> bool {
        self.query
            .run_id
            .as_ref()
            .is_none_or(|r| event.run_id.as_ref() == Some(r))
            && self
                .query
                .incident
                .as_ref()
                .is_none_or(|i| event.incident.as_ref() == Some(i))
    }
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = String)))]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// The service takes work: its store is open and its unfinished runs were
/// resumed; 503 while starting or stopping.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, body = String), (status = 503, body = Problem)))]
pub async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    if state.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        Problem::unavailable("the service is starting or stopping").into_response()
    }
}

/// Prometheus metrics (text format).
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<impl IntoResponse, Problem> {
    caller.require(&state, Scope::Read).await?;
    state
        .metrics
        .catch_up(state.store.as_ref(), state.watch.durable())?;
    let text = state.metrics.render(state.store.as_ref(), &state.plugins)?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    ))
}

/// Who the caller is, as the server verified it.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct WhoAmI {
    /// The principal the authority model decides for.
    pub principal: String,
    /// How it authenticated: `token:ID` or `oidc:ISSUER`.
    pub credential: String,
    /// What it may do (`signals`, `read`, `respond`).
    pub scopes: Vec<String>,
    /// The authority model's teams it belongs to.
    pub teams: Vec<String>,
}

/// The verified caller: principal, credential, scopes and teams.
#[utoipa::path(get, path = "/v1/whoami", tag = "health", responses((status = 200, body = WhoAmI), (status = 401, body = Problem)))]
pub async fn whoami(State(state): State<Arc<AppState>>, caller: Caller) -> axum::Json<WhoAmI> {
    let teams = state
        .authority
        .as_ref()
        .map(|a| {
            a.model()
                .teams_of(caller.name())
                .into_iter()
                .map(|t| t.name.clone())
                .collect()
        })
        .unwrap_or_default();
    axum::Json(WhoAmI {
        principal: caller.name().to_string(),
        credential: caller.principal.credential.clone(),
        scopes: caller
            .principal
            .scopes
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
        teams,
    })
}
