//! A real `cordon serve` process for one test, and a small client for its API.

use crate::cordon::Workspace;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A `cordon serve` running in a workspace; killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The CA certificate (PEM) the server's certificate chains to, over TLS.
    ca: Option<Vec<u8>>,
    client: std::sync::OnceLock<reqwest::blocking::Client>,
    /// Lines the server writes to stderr after its listening line.
    stderr: std::sync::Mutex<mpsc::Receiver<String>>,
}

impl Server {
    /// Starts `cordon serve --config cordon.toml` in `ws` (whose config must
    /// listen on `127.0.0.1:0`) and waits until it listens and is ready.
    pub fn start(ws: &Workspace) -> Server {
        Server::spawn(ws.command(&["serve", "--config", "cordon.toml"]))
    }

    /// Starts `command` (a `cordon serve …`) and waits until it listens and
    /// is ready.
    pub fn spawn(command: std::process::Command) -> Server {
        Server::spawn_trusting(command, None)
    }

    /// [`Server::spawn`] for a server whose certificate `ca` (PEM) signed.
    pub fn spawn_trusting(mut command: std::process::Command, ca: Option<&[u8]>) -> Server {
        let mut child = command
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start cordon serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let url = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(120))
                .unwrap_or_else(|_| {
                    panic!("cordon serve did not start; it said:\n{}", seen.join("\n"))
                });
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest
                    .split_whitespace()
                    .next()
                    .expect("an address")
                    .to_string();
            }
            seen.push(line);
        };
        let server = Server {
            ca: ca.map(<[u8]>::to_vec),
            client: std::sync::OnceLock::new(),
            child,
            url,
            stderr: std::sync::Mutex::new(rx),
        };
        server.wait_until("the server is ready", Duration::from_secs(120), || {
            server.get_status("/readyz", None) == 200
        });
        server
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`.
    pub fn kill9(&mut self) -> ExitStatus {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("wait")
    }

    /// Sends `signal` (`STOP`, `CONT`, …) to the process.
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal}");
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn sigterm(&mut self) -> ExitStatus {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        self.child.wait().expect("wait")
    }

    /// Everything the server wrote to stderr since the last call.
    pub fn log(&self) -> Vec<String> {
        let stderr = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        stderr.try_iter().collect()
    }

    /// Polls `condition` until it holds, failing after `limit`.
    pub fn wait_until(&self, what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// One client (and its pool of connections) for every request.
    fn client(&self) -> reqwest::blocking::Client {
        self.client
            .get_or_init(|| {
                let mut builder =
                    reqwest::blocking::Client::builder().timeout(Duration::from_secs(120));
                if let Some(ca) = &self.ca {
                    builder = builder.add_root_certificate(
                        reqwest::Certificate::from_pem(ca).expect("a PEM CA certificate"),
                    );
                }
                builder.build().expect("client")
            })
            .clone()
    }

    /// A request to the server as `token` (none: unauthenticated).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client().request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().expect("the server answers");
        let headers = response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
            .collect();
        Response {
            headers,
            status: response.status().as_u16(),
            content_type: response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string(),
            body: response.text().unwrap_or_default(),
        }
    }

    /// The status of a GET.
    pub fn get_status(&self, path: &str, token: Option<&str>) -> u16 {
        match self
            .client()
            .get(format!("{}{path}", self.url))
            .bearer_auth(token.unwrap_or(""))
            .send()
        {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        }
    }

    /// A GET's JSON, which must be a 2xx.
    pub fn get(&self, path: &str, token: &str) -> Value {
        self.request("GET", path, Some(token), None).ok()
    }

    /// A POST's JSON, which must be a 2xx.
    pub fn post(&self, path: &str, token: &str, body: &Value) -> Value {
        self.request("POST", path, Some(token), Some(&body.to_string()))
            .ok()
    }

    /// Waits until run `run_id` stops executing; returns its report.
    pub fn settled(&self, run_id: &str, token: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let report = self.get(&format!("/v1/runs/{run_id}?wait_ms=10000"), token);
            if report["status"] != "running" {
                return report;
            }
            assert!(
                Instant::now() < deadline,
                "run {run_id} did not settle: {report}"
            );
        }
    }

    /// Opens `/v1/events` as `token`; events arrive on the returned channel
    /// as parsed JSON objects, in order.
    pub fn events(&self, query: &str, token: &str) -> mpsc::Receiver<Value> {
        // A stream lasts as long as the test reads it: no overall timeout.
        let response = reqwest::blocking::Client::builder()
            .timeout(None)
            .build()
            .expect("client")
            .get(format!("{}/v1/events{query}", self.url))
            .bearer_auth(token)
            .send()
            .expect("open the event stream");
        assert_eq!(response.status(), 200);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut name = String::new();
            for line in BufReader::new(response).lines().map_while(Result::ok) {
                if let Some(event) = line.strip_prefix("event:") {
                    name = event.trim().to_string();
                } else if let Some(data) = line.strip_prefix("data:") {
                    let mut value: Value = serde_json::from_str(data.trim()).expect("event JSON");
                    value["sse_event"] = Value::String(name.clone());
                    if tx.send(value).is_err() {
                        break;
                    }
                }
            }
        });
        rx
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Response {
    /// Its status.
    pub status: u16,
    /// Its content type.
    pub content_type: String,
    /// Its headers (lowercase names; the last of repeated ones).
    pub headers: std::collections::BTreeMap<String, String>,
    /// Its body.
    pub body: String,
}

impl Response {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The JSON of a 2xx answer.
    pub fn ok(&self) -> Value {
        assert!(
            (200..300).contains(&self.status),
            "{} {}",
            self.status,
            self.body
        );
        self.json()
    }

    /// Asserts a problem document with this status, and returns it.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(
            self.content_type, "application/problem+json",
            "{}",
            self.body
        );
        self.json()
    }
}

/// Waits for the next event that `pick` accepts, failing after `limit`.
pub fn next_event(
    events: &mpsc::Receiver<Value>,
    limit: Duration,
    pick: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(event) if pick(&event) => return event,
            Ok(_) => {}
            Err(_) => panic!("no such event within {limit:?}"),
        }
    }
}
