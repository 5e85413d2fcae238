//! `[serve]` in the config: where `callhook serve` listens, and its TLS certificate when that
//! is not this computer alone.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// The address `callhook serve` takes when the config says none.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8765";

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// `address:port`; loopback only unless TLS is configured.
    pub listen: SocketAddr,
    /// PEM certificate chain and private key: required for any address other than loopback.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Names the server is reached by besides its address (`Host` headers), such as
    /// `callhook.office.example`; every other `Host` is refused (DNS rebinding).
    pub hosts: Vec<String>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: DEFAULT_LISTEN.parse().expect("the default address parses"),
            tls_cert: None,
            tls_key: None,
            hosts: Vec::new(),
        }
    }
}

impl ServeConfig {
    /// The certificate and key, when both are set.
    pub fn tls(&self) -> Option<(&PathBuf, &PathBuf)> {
        self.tls_cert.as_ref().zip(self.tls_key.as_ref())
    }

    /// What is wrong with listening on `listen` with this config, if anything: the key to fix
    /// and why.
    pub fn problem(&self, listen: SocketAddr) -> Option<(&'static str, String)> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Some((
                "tls_cert",
                "tls_cert and tls_key go together: set both, or neither".into(),
            ));
        }
        if !listen.ip().is_loopback() && self.tls().is_none() {
            return Some((
                "listen",
                format!(
                    "{listen} is reachable from other computers: set tls_cert and tls_key \
                     (the token and the call log must not cross the network in clear), or \
                     listen on 127.0.0.1"
                ),
            ));
        }
        None
    }
}
