//! A real HTTP server on 127.0.0.1 (port 0) that records the webhooks it receives and answers
//! as a test scripts it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;

#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    /// Checks `webhook-signature` as a receiver would, from the raw body bytes.
    pub fn signature_is_valid(&self, secret: &str) -> bool {
        let key = base64::engine::general_purpose::STANDARD
            .decode(secret.trim_start_matches("whsec_"))
            .unwrap();
        let (Some(id), Some(ts), Some(sig)) = (
            self.header("webhook-id"),
            self.header("webhook-timestamp"),
            self.header("webhook-signature"),
        ) else {
            return false;
        };
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{id}.{ts}.{}", self.body).as_bytes());
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        sig.split(' ').any(|s| s == format!("v1,{expected}"))
    }
}

/// How the server answers one request.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub delay: Duration,
    pub body: Body,
}

/// What an answer carries.
pub enum Body {
    Empty,
    /// This many bytes, with their length announced.
    Huge(usize),
    /// Chunks that never end.
    Endless,
    Text(String),
}

/// Bytes that never end, or end after `left`.
struct Filler {
    left: Option<usize>,
}

impl std::io::Read for Filler {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.left.map_or(buf.len(), |left| left.min(buf.len()));
        buf[..n].fill(b'x');
        if let Some(left) = &mut self.left {
            *left -= n;
        }
        Ok(n)
    }
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            delay: Duration::ZERO,
            body: Body::Empty,
        }
    }

    pub fn body(mut self, body: Body) -> Reply {
        self.body = body;
        self
    }

    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_string()));
        self
    }
}

type Script = Box<dyn FnMut(usize, &Received) -> Reply + Send>;

pub struct Server {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    answered: Arc<Mutex<usize>>,
}

impl Server {
    /// Answers every request with 204.
    pub fn ok() -> Server {
        Server::start(|_, _| Reply::status(204))
    }

    /// Answers the n-th request (0-based) as `script` says; each request on its own thread,
    /// so that a slow answer holds up no other.
    pub fn start(script: impl FnMut(usize, &Received) -> Reply + Send + 'static) -> Server {
        let http = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = http.server_addr().to_ip().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let answered = Arc::new(Mutex::new(0));
        let script: Arc<Mutex<Script>> = Arc::new(Mutex::new(Box::new(script)));
        let (log, done) = (received.clone(), answered.clone());
        std::thread::spawn(move || {
            for mut request in http.incoming_requests() {
                let mut body = String::new();
                std::io::Read::read_to_string(request.as_reader(), &mut body).unwrap();
                let got = Received {
                    path: request.url().to_string(),
                    headers: request
                        .headers()
                        .iter()
                        .map(|h| (h.field.to_string(), h.value.to_string()))
                        .collect(),
                    body,
                    at: Instant::now(),
                };
                let reply = {
                    let mut log = log.lock().unwrap();
                    log.push(got.clone());
                    (script.lock().unwrap())(log.len() - 1, &got)
                };
                let done = done.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(reply.delay);
                    let (reader, length): (Box<dyn std::io::Read + Send>, _) = match reply.body {
                        Body::Empty => (Box::new(std::io::empty()), Some(0)),
                        Body::Huge(n) => (Box::new(Filler { left: Some(n) }), Some(n)),
                        Body::Endless => (Box::new(Filler { left: None }), None),
                        Body::Text(text) => {
                            let n = text.len();
                            (Box::new(std::io::Cursor::new(text.into_bytes())), Some(n))
                        }
                    };
                    let headers = reply
                        .headers
                        .into_iter()
                        .map(|(name, value)| tiny_http::Header::from_bytes(name, value).unwrap())
                        .collect();
                    let response = tiny_http::Response::new(
                        tiny_http::StatusCode(reply.status),
                        headers,
                        reader,
                        length,
                        None,
                    );
                    // A client that stops reading ends the answer with an error: fine.
                    let _ = request.respond(response);
                    *done.lock().unwrap() += 1;
                });
            }
        });
        Server {
            port,
            received,
            answered,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn answered(&self) -> usize {
        *self.answered.lock().unwrap()
    }

    /// Waits until `n` requests have arrived (panics after `timeout`).
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let until = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < until,
                "{} of {n} requests arrived",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A port on which nothing listens.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
