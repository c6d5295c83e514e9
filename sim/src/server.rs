//! Serving a simulator: the request pipeline (rate limit, faults, request log), the admin
//! surface under `/__sim/…`, and the [`Running`] handle that shuts the server down on drop.

use std::io;
use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::core::SimCore;
use crate::faults::{FaultsUpdate, Injected};
use crate::ratelimit::{Decision, RateLimitConfig};

/// Prefix of the admin surface; requests under it skip auth, faults, rate limits and the log.
pub const ADMIN_PREFIX: &str = "/__sim";

/// One running simulator on `127.0.0.1:<port>`. Dropping it stops the server (gracefully:
/// it stops accepting and closes connections once their current request is answered).
pub struct Running {
    /// The address the simulator listens on.
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// `http://<addr>`, e.g. `http://127.0.0.1:8200`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits until it has stopped.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A simulator, as the shared pipeline and admin surface see it: implemented by a provider's
/// state handle (a cheap `Clone` over shared data holding a [`SimCore`]).
///
/// A new provider's simulator needs no change to this crate: implement this trait on its state
/// handle, give [`serve`] a router of the provider's routes, and the rate limit, injected
/// faults, latency, request log and the `/__sim/…` admin surface come with it.
/// [`sim_handle!`](crate::sim_handle) adds the usual observation methods to the state handle.
/// `sim/github` is a simulator built this way, outside this crate.
pub trait Simulator: Clone + Send + Sync + 'static {
    /// The shared knobs and observations.
    fn core(&self) -> &SimCore;
    /// The provider's response to an injected fault (500 or 503).
    fn fault_response(&self, status: StatusCode) -> Response;
    /// The provider's 429 response.
    fn rate_limited_response(&self, path: &str, decision: &Decision) -> Response;
    /// Adds headers every provider response carries (Okta's rate-limit headers).
    fn decorate(&self, _decision: Option<&Decision>, _headers: &mut HeaderMap) {}
    /// JSON dump of the provider's data for `GET /__sim/state`.
    fn dump(&self) -> Value;
    /// Seeds data from a JSON body (`POST /__sim/seed`), returning what was created.
    fn seed(&self, body: Value) -> Result<Value, String>;
}

/// Largest request body a simulator reads.
const MAX_BODY_BYTES: usize = 16 << 20;

/// Wraps every provider request: body read, rate limit, injected faults, latency, headers,
/// request log.
async fn pipeline<P: Simulator>(State(p): State<P>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path == ADMIN_PREFIX || path.starts_with("/__sim/") {
        return next.run(req).await;
    }
    let method = req.method().as_str().to_owned();
    // Read the whole body before anything answers (a 429, an injected fault, a
    // handler that ignores it): answering first resets the connection of a
    // client still sending, which no real API behind a proxy does.
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let req = Request::from_parts(parts, axum::body::Body::from(body));
    let adm = p.core().admit(&path);
    let mut resp = match (adm.rate, adm.injected) {
        (Some(d), _) if !d.allowed => p.rate_limited_response(&path, &d),
        (_, Injected::Unavailable) => p.fault_response(StatusCode::SERVICE_UNAVAILABLE),
        (_, Injected::ServerError) => p.fault_response(StatusCode::INTERNAL_SERVER_ERROR),
        (_, Injected::Throttled) => {
            let now = crate::util::now_ms() / 1000;
            let decision = Decision {
                allowed: false,
                limit: 0,
                remaining: 0,
                reset_epoch_secs: now + 1,
                retry_after_secs: 1,
            };
            p.rate_limited_response(&path, &decision)
        }
        (_, Injected::Hang) => hang_until_the_client_leaves().await,
        (_, Injected::LoseAnswer) => {
            let _applied = next.run(req).await;
            hang_until_the_client_leaves().await
        }
        (_, Injected::None) => next.run(req).await,
    };
    if !adm.latency.is_zero() {
        tokio::time::sleep(adm.latency).await;
    }
    p.decorate(adm.rate.as_ref(), resp.headers_mut());
    p.core()
        .finish(&adm, &method, &path, resp.status().as_u16());
    resp
}

/// Never answers: hyper drops this future when the client closes the
/// connection.
async fn hang_until_the_client_leaves() -> Response {
    std::future::pending().await
}

fn admin_json(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

fn parse_admin<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Response> {
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"null"
    } else {
        body
    };
    serde_json::from_slice(text).map_err(|e| {
        admin_json(
            StatusCode::BAD_REQUEST,
            json!({"error": format!("invalid JSON: {e}")}),
        )
    })
}

async fn admin_state<P: Simulator>(State(p): State<P>) -> Response {
    let core = p.core();
    admin_json(
        StatusCode::OK,
        json!({
            "provider": p.dump(),
            "stats": core.stats(),
            "faults": core.faults(),
            "rate_limit": core.rate_limit(),
        }),
    )
}

async fn admin_requests<P: Simulator>(State(p): State<P>) -> Response {
    admin_json(StatusCode::OK, json!(p.core().requests()))
}

async fn admin_stats<P: Simulator>(State(p): State<P>) -> Response {
    admin_json(StatusCode::OK, json!(p.core().stats()))
}

async fn admin_get_faults<P: Simulator>(State(p): State<P>) -> Response {
    admin_json(StatusCode::OK, json!(p.core().faults()))
}

async fn admin_set_faults<P: Simulator>(State(p): State<P>, body: Bytes) -> Response {
    match parse_admin::<Option<FaultsUpdate>>(&body) {
        Ok(u) => admin_json(
            StatusCode::OK,
            json!(p.core().update_faults(&u.unwrap_or_default())),
        ),
        Err(r) => r,
    }
}

async fn admin_set_rate_limit<P: Simulator>(State(p): State<P>, body: Bytes) -> Response {
    match parse_admin::<Option<RateLimitConfig>>(&body) {
        Ok(cfg) => {
            p.core().set_rate_limit(cfg);
            admin_json(StatusCode::OK, json!(cfg))
        }
        Err(r) => r,
    }
}

async fn admin_reset<P: Simulator>(State(p): State<P>) -> Response {
    p.core().reset_requests();
    StatusCode::NO_CONTENT.into_response()
}

async fn admin_seed<P: Simulator>(State(p): State<P>, body: Bytes) -> Response {
    let v = match parse_admin::<Value>(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    match p.seed(v) {
        Ok(created) => admin_json(StatusCode::OK, created),
        Err(e) => admin_json(StatusCode::BAD_REQUEST, json!({ "error": e })),
    }
}

/// The admin routes every simulator offers:
/// `GET /__sim/state`, `GET /__sim/requests`, `GET /__sim/stats`, `GET|POST /__sim/faults`,
/// `POST /__sim/rate-limit`, `POST /__sim/reset`, `POST /__sim/seed`.
fn admin_routes<P: Simulator>() -> Router<P> {
    Router::new()
        .route("/__sim/state", get(admin_state::<P>))
        .route("/__sim/requests", get(admin_requests::<P>))
        .route("/__sim/stats", get(admin_stats::<P>))
        .route(
            "/__sim/faults",
            get(admin_get_faults::<P>).post(admin_set_faults::<P>),
        )
        .route("/__sim/rate-limit", post(admin_set_rate_limit::<P>))
        .route("/__sim/reset", post(admin_reset::<P>))
        .route("/__sim/seed", post(admin_seed::<P>))
}

/// Binds `bind`, adds the admin routes to `router` (the provider's routes), wraps both in the
/// pipeline and serves them in a background task on the current tokio runtime.
///
/// `router` should end with the provider's own `fallback` and `method_not_allowed_fallback`, so
/// unknown paths and wrong methods get the provider's error bodies.
pub async fn serve<P: Simulator>(
    bind: SocketAddr,
    router: Router<P>,
    provider: P,
) -> io::Result<Running> {
    let core = provider.core().clone();
    let app = admin_routes::<P>()
        .merge(router)
        .layer(middleware::from_fn_with_state(
            provider.clone(),
            pipeline::<P>,
        ))
        .with_state(provider);
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    // Every accepted connection is counted, so a test or a benchmark can
    // judge whether its client keeps connections alive.
    let listener = listener.tap_io(move |_| core.connected());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    Ok(Running {
        addr,
        shutdown: Some(tx),
        task: Some(task),
    })
}

/// The loopback address with an OS-chosen port, the default bind address of every simulator.
pub fn loopback_any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}
