//! Who may use `callhook serve`: the API token (`Authorization: Bearer`), dashboard sessions
//! (a cookie got through a one-time login link), the `Host` check against DNS rebinding, the
//! same-origin check against cross-site requests, and the limit on failed attempts.

use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::http::{HeaderMap, Method, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::serve::error::ApiError;

/// The session cookie's name.
pub const COOKIE: &str = "callhook_session";
/// How long a login link works.
const LOGIN_LINK_LIFE: Duration = Duration::from_secs(120);
/// A dashboard session ends after this long without a request.
const SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);
/// Failed attempts allowed per client address in [`FAILURE_WINDOW`]; beyond, 429.
const FAILURES_ALLOWED: u32 = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// The API token's file in the config directory, readable by its user only.
pub fn token_path(config_path: &Path) -> PathBuf {
    config_path
        .parent()
        .unwrap_or(Path::new("."))
        .join("serve-token")
}

/// A random secret: 32 bytes, URL-safe base64.
pub fn secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no random numbers: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The API token: read, or created (user-only) on first start.
pub fn load_or_create_token(path: &Path) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    let token = format!("chk_{}", secret()?);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut file = crate::platform::create_private(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{token}").with_context(|| format!("cannot write {}", path.display()))?;
    Ok(token)
}

/// Reads the token of a running server, for `callhook dashboard` and scripts.
pub fn read_token(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the API token {} (does `callhook serve` run with this config?)",
            path.display()
        )
    })?;
    Ok(text.trim().to_string())
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// How a request was authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    Token,
    Session,
}

/// The server's secrets and what it remembers about clients. Secrets are kept as hashes, and
/// compared as hashes, so comparing leaks no timing about them.
pub struct Auth {
    token: [u8; 32],
    sessions: Mutex<HashMap<[u8; 32], Instant>>,
    login_codes: Mutex<HashMap<[u8; 32], Instant>>,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
    /// `Host` values this server answers to.
    hosts: Vec<String>,
    secure: bool,
}

impl Auth {
    pub fn new(token: &str, hosts: Vec<String>, secure: bool) -> Self {
        Auth {
            token: digest(token),
            sessions: Mutex::default(),
            login_codes: Mutex::default(),
            failures: Mutex::default(),
            hosts,
            secure,
        }
    }

    /// The `Host` values of a server listening on `port` and reachable by `names`.
    pub fn hosts_for(port: u16, ip: IpAddr, names: &[String]) -> Vec<String> {
        let mut hosts = vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ];
        if !ip.is_loopback() && !ip.is_unspecified() {
            hosts.push(match ip {
                IpAddr::V4(v4) => format!("{v4}:{port}"),
                IpAddr::V6(v6) => format!("[{v6}]:{port}"),
            });
        }
        hosts.extend(
            names
                .iter()
                .map(|n| format!("{}:{port}", n.to_ascii_lowercase())),
        );
        hosts
    }

    /// A new one-time login code.
    pub fn login_code(&self) -> Result<String> {
        let code = secret()?;
        let mut codes = self.login_codes.lock().expect("login codes");
        let now = Instant::now();
        codes.retain(|_, expires| *expires > now);
        codes.insert(digest(&code), now + LOGIN_LINK_LIFE);
        Ok(code)
    }

    /// Trades a login code (once) for a new session id.
    pub fn log_in(&self, code: &str, client: IpAddr) -> Result<String, ApiError> {
        self.check_failures(client)?;
        let valid = {
            let mut codes = self.login_codes.lock().expect("login codes");
            codes
                .remove(&digest(code))
                .is_some_and(|expires| expires > Instant::now())
        };
        if !valid {
            self.failed(client);
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "login_link_invalid",
                "this login link is used up or expired: run `callhook dashboard` for a new one",
            ));
        }
        let session = secret().map_err(ApiError::from)?;
        self.sessions
            .lock()
            .expect("sessions")
            .insert(digest(&session), Instant::now() + SESSION_IDLE);
        Ok(session)
    }

    pub fn log_out(&self, headers: &HeaderMap) {
        if let Some(session) = cookie(headers, COOKIE) {
            self.sessions
                .lock()
                .expect("sessions")
                .remove(&digest(&session));
        }
    }

    /// The `Set-Cookie` value of a session.
    pub fn session_cookie(&self, session: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/{secure}")
    }

    /// Checks `Host` and `Origin`, then the token or the session; requests that change
    /// something with a session must come from the dashboard's own origin.
    pub fn check(
        &self,
        method: &Method,
        headers: &HeaderMap,
        client: IpAddr,
    ) -> Result<Who, ApiError> {
        self.check_host(headers)?;
        self.check_failures(client)?;
        let same_origin = self.check_origin(headers)?;
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            if token.is_some_and(|t| digest(t) == self.token) {
                return Ok(Who::Token);
            }
            self.failed(client);
            return Err(unauthorized("the API token is wrong"));
        }
        if let Some(session) = cookie(headers, COOKIE) {
            if self.touch_session(&session) {
                let safe = matches!(*method, Method::GET | Method::HEAD);
                if !safe && !same_origin {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "cross_origin",
                        "a request that changes something must come from the dashboard itself",
                    ));
                }
                return Ok(Who::Session);
            }
            return Err(unauthorized(
                "the session has ended: run `callhook dashboard` to log in again",
            ));
        }
        Err(unauthorized(
            "send `Authorization: Bearer <token>` (the token is in the file serve-token beside \
             the config), or log in with `callhook dashboard`",
        ))
    }

    /// Refuses a `Host` that is not this server's: a page on another site whose name was made
    /// to point at 127.0.0.1 must not reach the API.
    pub fn check_host(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_ascii_lowercase);
        match host {
            Some(host) if self.hosts.contains(&host) => Ok(()),
            _ => Err(ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                "host_not_allowed",
                "this server does not answer to that Host (add the name to [serve] hosts)",
            )),
        }
    }

    /// Whether the request comes from this server's own pages: its `Origin` (or, without one,
    /// `Sec-Fetch-Site`). An `Origin` of another site is refused whatever the credentials.
    fn check_origin(&self, headers: &HeaderMap) -> Result<bool, ApiError> {
        let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
        match origin {
            Some(origin) => {
                let host = origin
                    .strip_prefix(if self.secure { "https://" } else { "http://" })
                    .map(str::to_ascii_lowercase);
                if host.is_some_and(|h| self.hosts.contains(&h)) {
                    Ok(true)
                } else {
                    Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "cross_origin",
                        "requests from other sites are refused",
                    ))
                }
            }
            None => Ok(headers
                .get("sec-fetch-site")
                .is_some_and(|s| s.as_bytes() == b"same-origin")),
        }
    }

    /// Whether the request carries a live session (without the checks of [`Auth::check`]).
    pub fn has_session(&self, headers: &HeaderMap) -> bool {
        cookie(headers, COOKIE).is_some_and(|s| self.touch_session(&s))
    }

    fn touch_session(&self, session: &str) -> bool {
        let mut sessions = self.sessions.lock().expect("sessions");
        let now = Instant::now();
        sessions.retain(|_, expires| *expires > now);
        match sessions.get_mut(&digest(session)) {
            Some(expires) => {
                *expires = now + SESSION_IDLE;
                true
            }
            None => false,
        }
    }

    pub fn check_failures(&self, client: IpAddr) -> Result<(), ApiError> {
        let failures = self.failures.lock().expect("failures");
        match failures.get(&client) {
            Some((count, since))
                if *count >= FAILURES_ALLOWED && since.elapsed() < FAILURE_WINDOW =>
            {
                Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    "too many failed attempts: wait a minute",
                ))
            }
            _ => Ok(()),
        }
    }

    pub fn failed(&self, client: IpAddr) {
        let mut failures = self.failures.lock().expect("failures");
        let entry = failures.entry(client).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= FAILURE_WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// The value of cookie `name`.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn auth() -> Auth {
        Auth::new(
            "chk_secret",
            Auth::hosts_for(8765, "127.0.0.1".parse().unwrap(), &[]),
            false,
        )
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn a_session_posts_only_from_its_own_origin() {
        let auth = auth();
        let code = auth.login_code().unwrap();
        let session = auth.log_in(&code, LOCAL).unwrap();
        let cookie = format!("{COOKIE}={session}");
        let own = headers(&[
            ("host", "127.0.0.1:8765"),
            ("cookie", &cookie),
            ("origin", "http://127.0.0.1:8765"),
        ]);
        assert_eq!(
            auth.check(&Method::POST, &own, LOCAL).unwrap(),
            Who::Session
        );
        let no_origin = headers(&[("host", "127.0.0.1:8765"), ("cookie", &cookie)]);
        assert_eq!(
            auth.check(&Method::GET, &no_origin, LOCAL).unwrap(),
            Who::Session
        );
        assert_eq!(
            auth.check(&Method::POST, &no_origin, LOCAL)
                .unwrap_err()
                .code,
            "cross_origin"
        );
        let evil = headers(&[
            ("host", "127.0.0.1:8765"),
            ("cookie", &cookie),
            ("origin", "http://evil.example"),
        ]);
        assert_eq!(
            auth.check(&Method::GET, &evil, LOCAL).unwrap_err().code,
            "cross_origin"
        );
        // The code was used up.
        assert!(auth.log_in(&code, LOCAL).is_err());
    }

    #[test]
    fn failed_attempts_are_limited_per_client() {
        let auth = auth();
        let wrong = headers(&[("host", "localhost:8765"), ("authorization", "Bearer nope")]);
        for _ in 0..FAILURES_ALLOWED {
            assert_eq!(
                auth.check(&Method::GET, &wrong, LOCAL).unwrap_err().status,
                StatusCode::UNAUTHORIZED
            );
        }
        let right = headers(&[
            ("host", "localhost:8765"),
            ("authorization", "Bearer chk_secret"),
        ]);
        assert_eq!(
            auth.check(&Method::GET, &right, LOCAL).unwrap_err().status,
            StatusCode::TOO_MANY_REQUESTS
        );
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(auth.check(&Method::GET, &right, other).unwrap(), Who::Token);
    }

    #[test]
    fn a_foreign_host_is_refused_even_with_the_token() {
        let auth = auth();
        let rebound = headers(&[
            ("host", "attacker.example:8765"),
            ("authorization", "Bearer chk_secret"),
        ]);
        assert_eq!(
            auth.check(&Method::GET, &rebound, LOCAL).unwrap_err().code,
            "host_not_allowed"
        );
    }
}
