//! A loopback HTTP proxy in front of moto that records every IAM call a plugin
//! makes (its `Action` and parameters) and can answer some with errors.
//!
//! It forwards the `Host` header unchanged, so SigV4 signatures still verify
//! at moto. Tests use it as an independent witness: how many times a key was
//! really deactivated, how many calls were in flight at once.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// One call seen by the proxy.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The IAM `Action` (e.g. `UpdateAccessKey`).
    pub action: String,
    /// The other form parameters.
    pub params: BTreeMap<String, String>,
    /// The status returned to the plugin (0 while in flight).
    pub status: u16,
}

/// An error to return instead of forwarding.
#[derive(Debug, Clone)]
struct Fault {
    action: String,
    remaining: u32,
    status: u16,
    body: String,
    /// Forward the call first (moto applies it), then answer with the
    /// error: the provider's answer is lost on the way back.
    forward_first: bool,
}

#[derive(Default)]
struct State {
    seen: Mutex<Vec<Seen>>,
    faults: Mutex<Vec<Fault>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// The running proxy; stops when dropped.
pub struct Proxy {
    pub port: u16,
    state: Arc<State>,
    _runtime: tokio::runtime::Runtime,
}

impl Proxy {
    /// Proxies `127.0.0.1:<new port>` to `127.0.0.1:upstream_port`.
    pub fn start(upstream_port: u16) -> Proxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("proxy runtime");
        let state = Arc::new(State::default());
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let shared = state.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                let client = client.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        forward(request, state.clone(), client.clone(), upstream_port)
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Proxy {
            port,
            state,
            _runtime: runtime,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Answers the next `times` calls of `action` with `status` and an IAM error `code`.
    pub fn fail(&self, action: &str, times: u32, status: u16, code: &str) {
        let body = format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>injected by the test proxy</Message></Error><RequestId>0</RequestId></ErrorResponse>"
        );
        self.state.faults.lock().unwrap().push(Fault {
            action: action.into(),
            remaining: times,
            status,
            body,
            forward_first: false,
        });
    }

    /// Forwards the next `times` calls of `action` to moto (which applies
    /// them) but answers each with a proxy's 502 page, as a gateway does when
    /// the upstream connection drops after the request went through.
    pub fn lose_answer(&self, action: &str, times: u32) {
        self.state.faults.lock().unwrap().push(Fault {
            action: action.into(),
            remaining: times,
            status: 502,
            body: "<html><head><title>502 Bad Gateway</title></head><body>upstream closed the connection</body></html>".into(),
            forward_first: true,
        });
    }

    /// Every call seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// How many calls of `action` were seen (whatever their answer).
    pub fn count(&self, action: &str) -> usize {
        self.state
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.action == action)
            .count()
    }

    /// How many calls of `action` carried `param = value`.
    pub fn count_with(&self, action: &str, param: &str, value: &str) -> usize {
        self.state
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| {
                s.action == action && s.params.get(param).map(String::as_str) == Some(value)
            })
            .count()
    }

    /// The most calls that were in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }
}

async fn forward(
    request: Request<Incoming>,
    state: Arc<State>,
    client: Client<HttpConnector, Full<Bytes>>,
    upstream_port: u16,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let (parts, body) = request.into_parts();
    let body_bytes = body.collect().await?.to_bytes();
    let mut params = parse_form(&body_bytes);
    let action = params.remove("Action").unwrap_or_default();
    params.remove("Version");

    // Recorded on arrival: if the plugin's caller dies mid-call, the request
    // was still sent (and may have reached moto).
    let index = {
        let mut seen = state.seen.lock().unwrap();
        seen.push(Seen {
            action: action.clone(),
            params,
            status: 0,
        });
        seen.len() - 1
    };
    let injected = {
        let mut faults = state.faults.lock().unwrap();
        faults
            .iter_mut()
            .find(|f| f.action == action && f.remaining > 0)
            .map(|f| {
                f.remaining -= 1;
                (f.status, f.body.clone(), f.forward_first)
            })
    };
    let response = match injected {
        Some((status, body, false)) => Response::builder()
            .status(status)
            .header("content-type", "text/xml")
            .body(Full::new(Bytes::from(body)))
            .expect("response"),
        Some((status, body, true)) => {
            let forwarded =
                forward_upstream(&parts, body_bytes.clone(), &client, upstream_port).await?;
            assert!(
                forwarded.status().is_success(),
                "moto refused the call whose answer the test loses: {}",
                forwarded.status()
            );
            Response::builder()
                .status(status)
                .header("content-type", "text/html")
                .body(Full::new(Bytes::from(body)))
                .expect("response")
        }
        None => forward_upstream(&parts, body_bytes, &client, upstream_port).await?,
    };
    state.seen.lock().unwrap()[index].status = response.status().as_u16();
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    Ok(response)
}

/// Sends the call to moto and reads its whole answer (a 502 if moto cannot
/// be reached).
async fn forward_upstream(
    parts: &hyper::http::request::Parts,
    body: Bytes,
    client: &Client<HttpConnector, Full<Bytes>>,
    upstream_port: u16,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut upstream = Request::builder()
        .method(parts.method.clone())
        .uri(format!("http://127.0.0.1:{upstream_port}{path}"));
    for (name, value) in &parts.headers {
        upstream = upstream.header(name, value);
    }
    let upstream = upstream.body(Full::new(body)).expect("request");
    Ok(match client.request(upstream).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Response::from_parts(parts, Full::new(body))
        }
        Err(err) => Response::builder()
            .status(502)
            .body(Full::new(Bytes::from(err.to_string())))
            .expect("response"),
    })
}

fn parse_form(body: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
