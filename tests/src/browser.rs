//! A real headless Chromium (Debian's `chromium`), driven over WebDriver
//! through Debian's `chromedriver`: enough of the W3C protocol to open
//! pages, find, click and type, run a script, and save screenshots.

use base64::Engine as _;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key W3C WebDriver names element references with.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long a wait for something on the page may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// A browser session; chromedriver and Chromium stop when it is dropped.
pub struct Browser {
    driver: Child,
    session: String,
    base: String,
    http: reqwest::blocking::Client,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

/// An element of the page.
#[derive(Clone)]
pub struct Element<'b> {
    browser: &'b Browser,
    id: String,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium with an
    /// empty profile; screenshots go to `target/screenshots/<name>/`.
    pub fn start(name: &str) -> Browser {
        let chromium =
            std::env::var("CORDON_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let chromedriver =
            std::env::var("CORDON_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        assert!(
            Path::new(&chromium).exists() && Path::new(&chromedriver).exists(),
            "{chromium} or {chromedriver} is missing: `cargo xtask setup` installs Debian's chromium and chromium-driver"
        );
        let mut driver = Command::new(&chromedriver)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut lines = BufReader::new(driver.stdout.take().expect("stdout")).lines();
        let port = loop {
            let line = lines
                .next()
                .expect("chromedriver printed its port")
                .expect("read chromedriver's output");
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                break rest.trim_end_matches('.').trim().to_string();
            }
        };
        // Keep reading chromedriver's output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let base = format!("http://127.0.0.1:{port}");
        let profile = tempfile::tempdir().expect("a profile folder");
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("an HTTP client");
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .and_then(|r| r.json())
            .expect("create a WebDriver session");
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {answer}"))
            .to_string();
        let shots = crate::workspace_root()
            .join("target/screenshots")
            .join(name);
        std::fs::create_dir_all(&shots).expect("the screenshot folder");
        Browser {
            driver,
            session,
            base,
            http,
            _profile: profile,
            shots,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let request = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self
                .http
                .post(&url)
                .json(&body.unwrap_or_else(|| json!({}))),
        };
        let answer: Value = request
            .send()
            .and_then(|r| r.json())
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        answer["value"].clone()
    }

    /// Whether a WebDriver answer is an error, and which.
    fn error(value: &Value) -> Option<String> {
        value["error"].as_str().map(|e| {
            format!(
                "{e}: {}",
                value["message"]
                    .as_str()
                    .unwrap_or_default()
                    .lines()
                    .next()
                    .unwrap_or_default()
            )
        })
    }

    /// Opens `url`.
    pub fn open(&self, url: &str) {
        let value = self.call("POST", "/url", Some(json!({ "url": url })));
        if let Some(error) = Browser::error(&value) {
            panic!("open {url}: {error}");
        }
    }

    /// The page's URL.
    pub fn url(&self) -> String {
        self.call("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The first element matching `css`, if any.
    pub fn find(&self, css: &str) -> Option<Element<'_>> {
        let value = self.call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        value[ELEMENT].as_str().map(|id| Element {
            browser: self,
            id: id.to_string(),
        })
    }

    /// Every element matching `css`.
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let value = self.call(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        );
        value
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[ELEMENT].as_str())
            .map(|id| Element {
                browser: self,
                id: id.to_string(),
            })
            .collect()
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub fn script(&self, script: &str, args: Value) -> Value {
        let value = self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        );
        if let Some(error) = Browser::error(&value) {
            panic!("script failed: {error}");
        }
        value
    }

    /// The page's visible text.
    pub fn text(&self) -> String {
        self.script("return document.body.innerText;", json!([]))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits until `probe` finds something, failing the test (with a
    /// screenshot `failed-<what>.png`) after 30 s.
    pub fn wait<'a, T>(&'a self, what: &str, mut probe: impl FnMut(&'a Browser) -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(found) = probe(self) {
                return found;
            }
            if Instant::now() > deadline {
                let file = self.screenshot(&format!("failed-{}", what.replace([' ', '/'], "-")));
                panic!(
                    "waited 30 s for {what}; the page ({}) says:\n{}\n(screenshot: {})",
                    self.url(),
                    self.text(),
                    file.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Clicks the element matching `css`, waiting for it. The console draws
    /// its live parts again on every event, so an element found a moment
    /// ago may be gone: then the new one is found and clicked.
    pub fn click(&self, css: &str) {
        self.wait(&format!("to click {css}"), |b| {
            let element = b.find(css)?;
            let value = b.call("POST", &format!("/element/{}/click", element.id), None);
            match Browser::error(&value) {
                None => Some(()),
                Some(error) if error.starts_with("stale element") => None,
                Some(error) => panic!("click {css}: {error}"),
            }
        })
    }

    /// Waits for an element matching `css`.
    pub fn wait_for(&self, css: &str) -> Element<'_> {
        self.wait(css, |b| b.find(css))
    }

    /// Waits until the page's text contains `text`.
    pub fn wait_text(&self, text: &str) {
        self.wait(&format!("text `{text}`"), |b| {
            b.text().contains(text).then_some(())
        })
    }

    /// Saves a PNG of the viewport as `<name>.png`, returning its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let value = self.call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap_or_default())
            .unwrap_or_default();
        let file = self.shots.join(format!("{name}.png"));
        std::fs::write(&file, png).expect("write the screenshot");
        file
    }
}

impl Element<'_> {
    /// Clicks it.
    pub fn click(&self) {
        let value = self
            .browser
            .call("POST", &format!("/element/{}/click", self.id), None);
        if let Some(error) = Browser::error(&value) {
            panic!("click: {error}");
        }
    }

    /// Types `text` into it.
    pub fn type_text(&self, text: &str) {
        let value = self.browser.call(
            "POST",
            &format!("/element/{}/value", self.id),
            Some(json!({ "text": text })),
        );
        if let Some(error) = Browser::error(&value) {
            panic!("type: {error}");
        }
    }

    /// Its visible text.
    pub fn text(&self) -> String {
        self.browser
            .call("GET", &format!("/element/{}/text", self.id), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The value of its attribute `name`.
    pub fn attribute(&self, name: &str) -> Option<String> {
        self.browser
            .call(
                "GET",
                &format!("/element/{}/attribute/{name}", self.id),
                None,
            )
            .as_str()
            .map(str::to_string)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
