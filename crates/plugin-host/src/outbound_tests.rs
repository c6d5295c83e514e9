//! The pooled client against real local servers: plain HTTP/1.1, TLS with
//! HTTP/1.1 only, and TLS offering HTTP/2.

use super::*;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::server::conn::auto;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Serves `200 ok` on a loopback port (TLS when `tls` holds the server's
/// config) and answers with the HTTP version each request came in.
async fn server(tls: Option<Arc<rustls::ServerConfig>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let tls = tls.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|req: http::Request<_>| async move {
                    let version = format!("{:?}", req.version());
                    Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from(
                        version,
                    ))))
                });
                let builder = auto::Builder::new(TokioExecutor::new());
                match tls {
                    Some(config) => {
                        let acceptor = tokio_rustls::TlsAcceptor::from(config);
                        let Ok(stream) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                    }
                }
            });
        }
    });
    addr
}

/// A self-signed certificate for 127.0.0.1: the server's config (offering
/// `alpn`) and the roots a client needs to trust it.
fn certificate(alpn: &[&[u8]]) -> (Arc<rustls::ServerConfig>, rustls::RootCertStore) {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = certified.cert.der().clone();
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(certified.key_pair.serialize_der()).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.clone()], key)
    .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    (Arc::new(config), roots)
}

/// A body-less GET of `url`.
fn get(url: &str) -> http::Request<WasiBody> {
    http::Request::get(url)
        .body(Empty::new().map_err(|never| match never {}).boxed_unsync())
        .unwrap()
}

/// Sends `n` requests one after another; the versions the server saw.
async fn send(client: &Outbound, url: &str, n: usize) -> Vec<String> {
    let mut versions = Vec::new();
    for _ in 0..n {
        let request = get(url);
        let response = client
            .send(request, Duration::from_secs(5), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        versions.push(String::from_utf8(body.to_vec()).unwrap());
    }
    versions
}

#[tokio::test]
async fn plain_http_requests_share_one_kept_alive_connection() {
    let addr = server(None).await;
    let client = Outbound::new(4, Duration::from_secs(5));
    let versions = send(&client, &format!("http://{addr}/v1/x"), 10).await;
    assert!(versions.iter().all(|v| v == "HTTP/1.1"), "{versions:?}");
    assert_eq!(client.connects(), 1);
}

#[tokio::test]
async fn tls_with_http_1_1_only_keeps_its_connection_alive() {
    let (config, roots) = certificate(&[b"http/1.1"]);
    let addr = server(Some(config)).await;
    let client = Outbound::trusting(roots, 4, Duration::from_secs(5));
    let versions = send(&client, &format!("https://127.0.0.1:{}/", addr.port()), 10).await;
    assert!(versions.iter().all(|v| v == "HTTP/1.1"), "{versions:?}");
    assert_eq!(client.connects(), 1);
}

#[tokio::test]
async fn a_tls_origin_offering_http_2_gets_it() {
    let (config, roots) = certificate(&[b"h2", b"http/1.1"]);
    let addr = server(Some(config)).await;
    let client = Outbound::trusting(roots, 4, Duration::from_secs(5));
    let versions = send(&client, &format!("https://127.0.0.1:{}/", addr.port()), 10).await;
    assert!(versions.iter().all(|v| v == "HTTP/2.0"), "{versions:?}");
    assert_eq!(client.connects(), 1);
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_error() {
    let (config, _) = certificate(&[b"http/1.1"]);
    let addr = server(Some(config)).await;
    let client = Outbound::new(4, Duration::from_secs(5));
    let request = get(&format!("https://127.0.0.1:{}/", addr.port()));
    let err = client
        .send(request, Duration::from_secs(5), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Tls(_)), "{err:?}");
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let addr = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let client = Outbound::new(4, Duration::from_secs(5));
    let request = get(&format!("http://{addr}/"));
    let err = client
        .send(request, Duration::from_secs(5), Duration::from_secs(5))
        .await
        .unwrap_err();
    match err {
        Error::Connect(io) => assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused),
        other => panic!("{other:?}"),
    }
}
