//! The plugin's HTTP client: one pool of kept-alive connections per plugin.
//!
//! wasmtime-wasi-http's default sender opens a TCP connection (and a TLS
//! session) for every request. A containment run makes thousands of
//! requests to one or two origins, so here each plugin has one client whose
//! connections are kept alive and reused: HTTP/1.1 keep-alive, HTTP/2 where a
//! TLS origin offers it by ALPN, and TLS sessions resumed from one shared
//! client configuration. The pool keeps at most the plugin's concurrency of
//! idle connections per origin; the connections in use are bounded by the
//! plugin's share of requests in flight ([`crate::caps`]), which the
//! [`crate::http_guard::HttpGuard`] enforces before a request reaches here.
//!
//! The allow-list, the time caps and the request records stay in the guard;
//! this module only carries requests.

use bytes::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error, WasiBody};

/// How long an idle connection is kept: below the idle timeouts of common
/// servers and load balancers (60 s and more), so the pool rarely offers a
/// connection the other side is closing.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// One plugin's HTTP client.
pub(crate) struct Outbound {
    client: Client<Connector, WasiBody>,
    connects: Arc<AtomicU64>,
}

impl Outbound {
    /// A client keeping up to `idle_per_origin` idle connections per
    /// origin, giving up on a connection (TCP and TLS) after
    /// `connect_timeout`.
    pub(crate) fn new(idle_per_origin: usize, connect_timeout: Duration) -> Outbound {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        Outbound::trusting(roots, idle_per_origin, connect_timeout)
    }

    /// A client trusting only `roots`.
    fn trusting(
        roots: rustls::RootCertStore,
        idle_per_origin: usize,
        connect_timeout: Duration,
    ) -> Outbound {
        let connects = Arc::new(AtomicU64::new(0));
        let connector = Connector {
            tls: tls_connector(roots),
            timeout: connect_timeout,
            connects: connects.clone(),
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_max_idle_per_host(idle_per_origin.max(1))
            .build(connector);
        Outbound { client, connects }
    }

    /// Connections this client has opened so far.
    pub(crate) fn connects(&self) -> u64 {
        self.connects.load(Ordering::Relaxed)
    }

    /// Sends `request` (an absolute URI) on a pooled connection; the answer
    /// must start within `first_byte`, and its body may pause at most
    /// `between_bytes` between frames. The connection goes back to the pool
    /// when the body is read to its end or dropped.
    pub(crate) async fn send(
        &self,
        request: http::Request<WasiBody>,
        first_byte: Duration,
        between_bytes: Duration,
    ) -> Result<http::Response<WasiBody>, Error> {
        use http_body_util::BodyExt;
        let response = match tokio::time::timeout(first_byte, self.client.request(request)).await {
            Err(_) => return Err(Error::ConnectionReadTimeout),
            Ok(Err(err)) => return Err(classify(&err)),
            Ok(Ok(response)) => response,
        };
        // Tokio panics on a zero interval.
        let mut timeout = tokio::time::interval(between_bytes.max(Duration::from_nanos(1)));
        timeout.reset();
        Ok(response.map(|incoming| TimedBody { incoming, timeout }.boxed_unsync()))
    }
}

/// The error wasmtime-wasi-http expects for a failed exchange, from the
/// pooled client's error and its causes.
fn classify(err: &hyper_util::client::legacy::Error) -> Error {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(c) = cause {
        if let Some(failure) = c.downcast_ref::<ConnectFailure>() {
            return match failure {
                ConnectFailure::Timeout => Error::ConnectionTimeout,
                ConnectFailure::Tcp(e) => Error::Connect(copy_io(e)),
                ConnectFailure::Tls(e) => Error::Tls(copy_io(e)),
                ConnectFailure::Name(_) => Error::DnsError {
                    rcode: Some("invalid dns name".to_string()),
                    info_code: None,
                },
            };
        }
        if let Some(h) = c.downcast_ref::<hyper::Error>() {
            return from_hyper(h);
        }
        cause = c.source();
    }
    if err.is_connect() {
        return Error::ConnectionRefused;
    }
    Error::HttpProtocolError
}

/// The closest error code for a hyper error seen by reference (hyper's
/// errors cannot be copied).
fn from_hyper(err: &hyper::Error) -> Error {
    if err.is_timeout() {
        Error::HttpResponseTimeout
    } else if err.is_incomplete_message() || err.is_closed() || err.is_canceled() {
        Error::ConnectionTerminated
    } else if err.is_body_write_aborted() {
        Error::HttpRequestBodySize(None)
    } else {
        Error::HttpProtocolError
    }
}

/// An I/O error with the same OS code (or kind) and message.
fn copy_io(err: &std::io::Error) -> std::io::Error {
    match err.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code),
        None => std::io::Error::new(err.kind(), err.to_string()),
    }
}

/// A response body that fails when the origin pauses longer than the
/// between-bytes timeout, as wasmtime-wasi-http's own sender does.
struct TimedBody {
    incoming: hyper::body::Incoming,
    timeout: tokio::time::Interval,
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(err))) if err.is_timeout() => {
                Poll::Ready(Some(Err(Error::HttpResponseTimeout)))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(Error::Hyper(err)))),
            Poll::Ready(Some(Ok(frame))) => {
                self.timeout.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(self.timeout.poll_tick(cx));
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.incoming)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.incoming)
    }
}

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
enum ConnectFailure {
    #[error("connecting took longer than the request timeout")]
    Timeout,
    #[error("TCP connect: {0}")]
    Tcp(std::io::Error),
    #[error("TLS handshake: {0}")]
    Tls(std::io::Error),
    #[error("not a valid TLS server name: {0}")]
    Name(String),
}

/// TLS trusting `roots` (in use: the Mozilla set from `webpki-roots`, as
/// wasmtime-wasi-http's own sender), with ALPN offering HTTP/2 first. One
/// configuration per client, so its session cache resumes TLS sessions.
fn tls_connector(roots: rustls::RootCertStore) -> tokio_rustls::TlsConnector {
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Opens the pool's connections: TCP (no Nagle delay), then TLS for
/// `https`, counting each one.
#[derive(Clone)]
struct Connector {
    tls: tokio_rustls::TlsConnector,
    timeout: Duration,
    connects: Arc<AtomicU64>,
}

type Connecting = Pin<Box<dyn Future<Output = Result<Conn, ConnectFailure>> + Send>>;

impl tower_service::Service<http::Uri> for Connector {
    type Response = Conn;
    type Error = ConnectFailure;
    type Future = Connecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectFailure>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Connecting {
        let this = self.clone();
        Box::pin(async move {
            let tls = uri.scheme_str() == Some("https");
            let host = uri.host().unwrap_or_default();
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
            let connecting = async {
                this.connects.fetch_add(1, Ordering::Relaxed);
                let tcp = TcpStream::connect((host.as_str(), port))
                    .await
                    .map_err(ConnectFailure::Tcp)?;
                let _ = tcp.set_nodelay(true);
                if !tls {
                    return Ok(Conn {
                        io: TokioIo::new(Box::new(tcp)),
                        h2: false,
                    });
                }
                let name = match host.parse::<std::net::IpAddr>() {
                    Ok(ip) => rustls::pki_types::ServerName::from(ip),
                    Err(_) => rustls::pki_types::ServerName::try_from(host.clone())
                        .map_err(|_| ConnectFailure::Name(host.clone()))?,
                };
                let stream = this
                    .tls
                    .connect(name, tcp)
                    .await
                    .map_err(ConnectFailure::Tls)?;
                let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                Ok(Conn {
                    io: TokioIo::new(Box::new(stream)),
                    h2,
                })
            };
            tokio::time::timeout(this.timeout, connecting)
                .await
                .unwrap_or(Err(ConnectFailure::Timeout))
        })
    }
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// One pooled connection, plain or TLS.
struct Conn {
    io: TokioIo<Box<dyn Stream>>,
    h2: bool,
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        let connected = Connected::new();
        if self.h2 {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
#[path = "outbound_tests.rs"]
mod tests;
