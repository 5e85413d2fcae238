//! `callhook serve` run as a real process on a desk, and an HTTP client for it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Desk, retry_start};

/// `callhook serve --listen 127.0.0.1:0` on a desk, stopped on drop.
pub struct Served {
    child: Child,
    pub url: String,
    pub token: String,
    pub http: reqwest::blocking::Client,
}

impl Desk {
    pub fn serve(&self) -> Served {
        self.serve_on("127.0.0.1:0")
    }

    pub fn serve_on(&self, listen: &str) -> Served {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("tmp/serve.log"))
            .unwrap();
        let mut child = retry_start(|| {
            self.command()
                .args(["serve", "--listen", listen])
                .stdout(Stdio::piped())
                .stderr(log.try_clone().unwrap())
                .spawn()
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().map(Result::unwrap).unwrap_or_else(|| {
            panic!(
                "callhook serve printed nothing: {}",
                std::fs::read_to_string(self.path("tmp/serve.log")).unwrap()
            )
        });
        let url = first
            .strip_prefix("callhook serve: ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_string();
        // The rest of stdout is drained so that the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let token = std::fs::read_to_string(self.path("config/serve-token"))
            .unwrap()
            .trim()
            .to_string();
        Served {
            child,
            url,
            token,
            http: client(),
        }
    }
}

/// An HTTP client that follows no redirects and sets no credentials of its own.
pub fn client() -> reqwest::blocking::Client {
    builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// A client builder with rustls set up, no proxy.
pub fn builder() -> reqwest::blocking::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder().no_proxy()
}

impl Served {
    /// `GET path` with the token: the status and the body as JSON.
    pub fn get(&self, path: &str) -> (u16, Value) {
        let answer = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .unwrap();
        let status = answer.status().as_u16();
        (
            status,
            serde_json::from_str(&answer.text().unwrap()).unwrap(),
        )
    }

    /// `GET path` with the token, which must answer 200 with JSON.
    pub fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// `POST path` with the token and a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let answer = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .header("Content-Type", "application/json")
            .body(serde_json::to_string(&body).unwrap())
            .send()
            .unwrap();
        let status = answer.status().as_u16();
        (
            status,
            serde_json::from_str(&answer.text().unwrap()).unwrap(),
        )
    }

    /// The live events from now (or after `last_id`), one `(id, data)` per event, read on a
    /// thread of their own.
    pub fn events(&self, last_id: Option<&str>) -> EventStream {
        let mut request = builder()
            .timeout(None)
            .build()
            .unwrap()
            .get(format!("{}/api/events", self.url))
            .bearer_auth(&self.token);
        if let Some(id) = last_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let (send, frames) = mpsc::channel();
        std::thread::spawn(move || {
            let (mut id, mut data) = (String::new(), String::new());
            for line in BufReader::new(response).lines() {
                let Ok(line) = line else { return };
                if let Some(rest) = line.strip_prefix("id: ") {
                    id = rest.to_string();
                } else if let Some(rest) = line.strip_prefix("data: ") {
                    data = rest.to_string();
                } else if line.is_empty() && !id.is_empty() {
                    let frame = (std::mem::take(&mut id), std::mem::take(&mut data));
                    if send.send(frame).is_err() {
                        return;
                    }
                }
            }
        });
        EventStream { frames }
    }

    /// Stops the server (as Ctrl+C would not be portable here: killed).
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct EventStream {
    frames: mpsc::Receiver<(String, String)>,
}

impl EventStream {
    /// The next `n` events: their ids and payloads; panics after 20 s.
    pub fn take(&self, n: usize) -> Vec<(String, Value)> {
        (0..n)
            .map(|i| {
                let (id, data) = self
                    .frames
                    .recv_timeout(Duration::from_secs(20))
                    .unwrap_or_else(|_| panic!("event {} of {n} did not come", i + 1));
                (id, serde_json::from_str(&data).unwrap())
            })
            .collect()
    }

    /// Whether another event comes within `wait`.
    pub fn more_within(&self, wait: Duration) -> Option<String> {
        self.frames.recv_timeout(wait).ok().map(|(id, _)| id)
    }
}
