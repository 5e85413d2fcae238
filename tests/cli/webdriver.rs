//! A small synchronous W3C WebDriver client: chromedriver on a free port, one headless
//! Chromium session, and the few commands the dashboard test needs.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "chromedriver";
/// The key of an element reference in W3C WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    http: reqwest::blocking::Client,
    /// `http://127.0.0.1:PORT/session/ID`
    session: String,
}

/// An element found in the page; stale once the page replaces it.
#[derive(Clone, Debug)]
pub struct Element(String);

/// One line of the browser's console.
#[derive(Debug)]
pub struct LogEntry {
    pub level: String,
    pub message: String,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session with its console log kept.
    pub fn start() -> Browser {
        // reqwest is built without a TLS provider of its own; it needs one even for http://.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::blocking::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        // A port the OS just handed out; chromedriver cannot take port 0 and report it.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{CHROMEDRIVER} does not start ({e}): ci/test.sh installs chromium-driver")
            });
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Browser {
            driver,
            http,
            session: String::new(),
        };
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = browser
                .http
                .get(format!("{base}/status"))
                .send()
                .ok()
                .and_then(|r| r.text().ok())
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                break;
            }
            if let Ok(Some(status)) = browser.driver.try_wait() {
                panic!("{CHROMEDRIVER} exited with {status} before it answered");
            }
            assert!(
                Instant::now() < until,
                "{CHROMEDRIVER} did not answer on port {port} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--window-size=1280,900", "--disable-dev-shm-usage",
                         "--no-first-run", "--no-default-browser-check"],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let answer = browser.call("POST", &format!("{base}/session"), Some(caps));
        let id = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {answer}"));
        browser.session = format!("{base}/session/{id}");
        browser
    }

    /// One WebDriver command; panics with WebDriver's error for a failed one.
    fn call(&self, method: &str, url: &str, body: Option<Value>) -> Value {
        self.try_call(method, url, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {url}: {e}"))
    }

    fn try_call(&self, method: &str, url: &str, body: Option<Value>) -> Result<Value, String> {
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self
                .http
                .post(url)
                .header("Content-Type", "application/json")
                .body(body.unwrap_or_else(|| json!({})).to_string()),
        };
        let response = request.send().map_err(|e| e.to_string())?;
        let status = response.status();
        let text = response.text().map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        if status.is_success() {
            Ok(v["value"].clone())
        } else {
            Err(format!(
                "{status} {}: {}",
                v["value"]["error"],
                v["value"]["message"].as_str().unwrap_or_default()
            ))
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("{}{path}", self.session), body)
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.cmd("GET", "/url", None).as_str().unwrap().to_string()
    }

    pub fn find_all(&self, css: &str) -> Vec<Element> {
        let found = self.cmd(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        );
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|e| Element(e[ELEMENT].as_str().unwrap().to_string()))
            .collect()
    }

    pub fn find(&self, css: &str) -> Option<Element> {
        self.find_all(css).into_iter().next()
    }

    /// The first element matching `css`, waiting for it to appear.
    pub fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        let mut found = None;
        self.wait_until(&format!("an element `{css}`"), timeout, |b| {
            found = b.find(css);
            found.is_some()
        });
        found.unwrap()
    }

    /// Polls `done` until it holds; panics after `timeout` with `what`, the page's URL and
    /// the end of its text.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&Browser) -> bool,
    ) {
        let until = Instant::now() + timeout;
        while !done(self) {
            if Instant::now() >= until {
                let body = self.exec("return document.body ? document.body.innerText : ''", &[]);
                let body = body.as_str().unwrap_or_default();
                let tail: String = body
                    .chars()
                    .rev()
                    .take(600)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                panic!(
                    "timed out after {timeout:?} waiting for {what} on {}\npage text (end): {tail}",
                    self.url()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn click(&self, element: &Element) {
        self.cmd("POST", &format!("/element/{}/click", element.0), None);
    }

    /// The element's rendered text.
    pub fn text(&self, element: &Element) -> String {
        let v = self.cmd("GET", &format!("/element/{}/text", element.0), None);
        v.as_str().unwrap().to_string()
    }

    pub fn attr(&self, element: &Element, name: &str) -> Option<String> {
        let v = self.cmd(
            "GET",
            &format!("/element/{}/attribute/{name}", element.0),
            None,
        );
        v.as_str().map(str::to_string)
    }

    pub fn clear(&self, element: &Element) {
        self.cmd("POST", &format!("/element/{}/clear", element.0), None);
    }

    /// Types `text` into the element as keystrokes.
    pub fn type_text(&self, element: &Element, text: &str) {
        self.cmd(
            "POST",
            &format!("/element/{}/value", element.0),
            Some(json!({ "text": text })),
        );
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns what it returns.
    pub fn exec(&self, script: &str, args: &[Value]) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Runs an async script: it calls `arguments[arguments.length - 1]` with its result.
    pub fn exec_async(&self, script: &str, args: &[Value]) -> Value {
        self.cmd(
            "POST",
            "/execute/async",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Saves a PNG of the viewport.
    pub fn screenshot(&self, file: &Path) {
        let data = self.cmd("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap())
            .unwrap();
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(file, png).unwrap();
    }

    /// The console lines since the last call (each is returned once).
    pub fn console(&self) -> Vec<LogEntry> {
        let log = self.cmd("POST", "/se/log", Some(json!({"type": "browser"})));
        log.as_array()
            .unwrap()
            .iter()
            .map(|e| LogEntry {
                level: e["level"].as_str().unwrap_or_default().to_string(),
                message: e["message"].as_str().unwrap_or_default().to_string(),
            })
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.try_call("DELETE", &self.session, None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
