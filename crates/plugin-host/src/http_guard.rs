//! The plugin's outbound HTTP: the allow-list, the timeout caps, a record of
//! every request in the call's [`CallLog`], and failures logged with the
//! plugin and the request they belong to.
//!
//! wasmtime-wasi-http reports a transport failure to the guest as a bare
//! error code; its default hooks log the underlying error (`hyper error:
//! hyper::Error(…)`) naming neither the plugin nor the request. The hooks
//! here log the same error with both, and the request's record keeps it.

use super::sandbox::{CallLog, Grant, Violation};
use crate::settings::Origin;
use cordon_types::RequestRecord;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

/// Enforces the allow-list on outbound requests and records each one.
pub(super) struct HttpGuard {
    grant: Arc<Grant>,
    log: Arc<Mutex<CallLog>>,
    /// `METHOD origin/path` of the request sent last (no query: queries may
    /// carry credentials), named when a transport failure is logged.
    last_request: Option<String>,
    /// Places for this call's requests in flight
    /// ([`crate::caps::MAX_REQUESTS_PER_CALL`]).
    in_call: Arc<tokio::sync::Semaphore>,
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                ),
                wasmtime_wasi_http::Error,
            >,
        > + Send,
>;

impl HttpGuard {
    pub(super) fn new(grant: Arc<Grant>, log: Arc<Mutex<CallLog>>) -> HttpGuard {
        HttpGuard {
            grant,
            log,
            last_request: None,
            in_call: Arc::new(tokio::sync::Semaphore::new(
                crate::caps::MAX_REQUESTS_PER_CALL,
            )),
        }
    }

    /// Logs a transport failure with the plugin and the request.
    fn failed(&self, kind: &str, err: &dyn std::fmt::Display) {
        let request = self.last_request.as_deref().unwrap_or("(no request yet)");
        let request = self
            .log
            .lock()
            .expect("call log")
            .scrub(&self.grant.secrets, request);
        let request = request.as_str();
        tracing::warn!(
            plugin = %self.grant.plugin,
            request,
            "plugin `{}`: {request} failed: {kind} error: {err}",
            self.grant.plugin
        );
    }
}

/// The error of a request that had no answer when its call ended.
pub(crate) const UNANSWERED: &str = "no answer before the call ended";

impl WasiHttpHooks for HttpGuard {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> ResponseFuture {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        let host = uri.host().unwrap_or_default().to_ascii_lowercase();
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "http" { 80 } else { 443 });
        let origin = Origin { scheme, host, port };
        let mut record = RequestRecord {
            method: request.method().to_string(),
            origin: origin.to_string(),
            path: uri.path().to_string(),
            status: None,
            duration_ms: 0,
            denied: false,
            error: None,
        };
        self.last_request = Some(format!(
            "{} {}{}",
            record.method, record.origin, record.path
        ));

        if !self.grant.allowed_hosts.contains(&origin) {
            record.denied = true;
            let violation = Violation::HttpDenied {
                method: record.method.clone(),
                origin: record.origin.clone(),
            };
            tracing::warn!(plugin = %self.grant.plugin, "{violation}");
            let mut log = self.log.lock().expect("call log");
            log.requests.push(record);
            log.violations.push(violation);
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }

        // The guest may ask for long timeouts; none may outlast the
        // request timeout, so a hung request fails (a transient error the
        // plugin and the engine retry) while the call can still answer.
        let cap = self.grant.limits.request_timeout();
        let options = options.unwrap_or_default();
        let clamp = |d: Option<Duration>| Some(d.map_or(cap, |d| d.min(cap)));
        // Connecting is capped by the pool's connect timeout (the same cap);
        // the answer must start within the first-byte cap counted from the
        // request's start, connecting included.
        let first_byte = clamp(options.first_byte_timeout).unwrap_or(cap);
        let between_bytes = clamp(options.between_bytes_timeout).unwrap_or(cap);

        // Recorded now, so a request the call's end cuts off is still in the
        // record; its answer, when one comes, completes the entry.
        let log = self.log.clone();
        let index = {
            let mut log = log.lock().expect("call log");
            let mut pending = record.clone();
            pending.error = Some(UNANSWERED.to_string());
            log.requests.push(pending);
            log.requests.len() - 1
        };
        let (in_call, grant) = (self.in_call.clone(), self.grant.clone());
        Box::new(async move {
            // A place under both caps, held until the answer's head arrives,
            // so neither one call nor one plugin has more requests waiting on
            // providers than its share. It is not held while the guest reads
            // the body: a guest may wait on its requests in any order, and a
            // place kept by an answer it has not taken yet would leave the
            // request it waits on without one (a deadlock its time limit
            // would end). Unread answers are bounded by the guest's own
            // resource table; idle connections by the pool.
            let places = (
                in_call.acquire_owned().await,
                grant.outbound.clone().acquire_owned().await,
            );
            let started = Instant::now();
            let result = grant.http.send(request, first_byte, between_bytes).await;
            drop(places);
            record.duration_ms = started.elapsed().as_millis() as u64;
            match &result {
                Ok(response) => record.status = Some(response.status().as_u16()),
                Err(err) => record.error = Some(err.to_string()),
            }
            if let Some(entry) = log.lock().expect("call log").requests.get_mut(index) {
                *entry = record;
            }
            Ok((
                result?,
                Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }

    fn p2_error_from_hyper(&mut self, err: &hyper::Error) -> ErrorCode {
        self.failed("HTTP", err);
        ErrorCode::HttpProtocolError
    }

    fn p2_error_from_connect(&mut self, err: &std::io::Error) -> ErrorCode {
        // EMFILE / ENFILE: the host, not the provider, is out of descriptors.
        if matches!(err.raw_os_error(), Some(23 | 24)) {
            self.failed(
                "connect: the host is out of file descriptors (raise its `ulimit -n`, or lower the plugins' concurrency);",
                err,
            );
            return ErrorCode::InternalError(Some(
                "the Cordon host is out of file descriptors".to_string(),
            ));
        }
        self.failed("connect", err);
        ErrorCode::ConnectionRefused
    }

    fn p2_error_from_tls(&mut self, err: &std::io::Error) -> ErrorCode {
        self.failed("TLS", err);
        ErrorCode::TlsProtocolError
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::Secrets;
    use crate::settings::Limits;
    use std::io::Write;

    /// Everything logged while `f` runs, as text.
    fn logged(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    /// The guard of a call of a plugin named `vault`, granted nothing.
    fn vault_guard() -> HttpGuard {
        let grant = Arc::new(Grant {
            plugin: "vault".to_string(),
            declared_secrets: std::sync::OnceLock::new(),
            allowed_hosts: Vec::new(),
            secrets: Secrets::from_values([]),
            config: Default::default(),
            limits: Limits::default(),
            outbound: Arc::new(tokio::sync::Semaphore::new(1)),
            http: crate::outbound::Outbound::new(1, Duration::from_secs(1)),
        });
        HttpGuard::new(grant, Arc::default())
    }

    #[test]
    fn a_transport_failure_is_logged_with_its_plugin_and_request() {
        let mut guard = vault_guard();
        guard.last_request =
            Some("POST http://127.0.0.1:8200/v1/auth/token/revoke-accessor".to_string());
        let text = logged(|| {
            let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
            assert!(matches!(
                guard.p2_error_from_connect(&refused),
                ErrorCode::ConnectionRefused
            ));
        });
        assert!(text.contains("plugin `vault`"), "{text}");
        assert!(
            text.contains("POST http://127.0.0.1:8200/v1/auth/token/revoke-accessor failed"),
            "{text}"
        );
        assert!(text.contains("connect error"), "{text}");
    }

    #[test]
    fn running_out_of_file_descriptors_is_reported_as_the_hosts_problem() {
        let mut guard = vault_guard();
        let text = logged(|| {
            let exhausted = std::io::Error::from_raw_os_error(24);
            match guard.p2_error_from_connect(&exhausted) {
                ErrorCode::InternalError(Some(message)) => {
                    assert!(message.contains("out of file descriptors"), "{message}")
                }
                other => panic!("{other:?}"),
            }
        });
        assert!(text.contains("raise its `ulimit -n`"), "{text}");
    }
}
