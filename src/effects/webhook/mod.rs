//! Webhooks: the `[[webhook]]` config, the payload and its Standard Webhooks signature. The
//! hook builds payloads here; only the worker sends them ([`send`], the HTTP client).

pub mod send;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use url::Url;

use crate::config::duration::duration;
use crate::log::call::{CallJson, rfc3339};
use crate::log::event::EventKind;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Shown in `outbox` and used by `webhook test NAME`; defaults to the URL.
    pub name: Option<String>,
    pub url: HttpUrl,
    /// The events sent; all of them when absent.
    pub events: Option<Vec<EventKind>>,
    /// `whsec_` and base64: the key of the `webhook-signature` header.
    pub secret: Option<Secret>,
    /// Extra request headers, such as `Authorization`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

impl WebhookConfig {
    /// What identifies the endpoint in the outbox: its name, else its URL.
    pub fn key(&self) -> &str {
        self.name.as_deref().unwrap_or(self.url.0.as_str())
    }

    pub fn wants(&self, kind: EventKind) -> bool {
        self.events
            .as_ref()
            .is_none_or(|events| events.contains(&kind))
    }

    /// Checks the extra headers are valid HTTP (names are tokens, values have no line breaks).
    pub fn validate_headers(&self) -> Result<(), String> {
        for (name, value) in &self.headers {
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if name.is_empty() || !name.chars().all(token) {
                return Err(format!("`{name}` is not a header name"));
            }
            // callhook sets these itself; a second copy would confuse receivers.
            let lower = name.to_ascii_lowercase();
            if lower.starts_with("webhook-")
                || [
                    "content-type",
                    "content-length",
                    "host",
                    "transfer-encoding",
                ]
                .contains(&lower.as_str())
            {
                return Err(format!("`{name}` is set by callhook and cannot be changed"));
            }
            if value.chars().any(|c| c.is_control() && c != '\t') {
                return Err(format!("the value of `{name}` has control characters"));
            }
        }
        Ok(())
    }
}

/// An http or https URL.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub struct HttpUrl(pub Url);

impl TryFrom<String> for HttpUrl {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let url = Url::parse(&text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
        match url.scheme() {
            "http" | "https" => Ok(HttpUrl(url)),
            other => Err(format!(
                "`{text}`: webhooks are sent over http or https, not {other}"
            )),
        }
    }
}

/// A signing secret: `whsec_` followed by base64 (the prefix may be left out).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl TryFrom<String> for Secret {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let encoded = text.strip_prefix("whsec_").unwrap_or(&text);
        match BASE64.decode(encoded) {
            Ok(key) if !key.is_empty() => Ok(Secret(key)),
            _ => Err("a secret is `whsec_` followed by base64, such as whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
        }
    }
}

impl Secret {
    /// `v1,` and the base64 HMAC-SHA256 of `<id>.<timestamp>.<body>` (Standard Webhooks).
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

/// The JSON body of a webhook: `{"type": "call.<event>", "timestamp": …, "data": {…}}`.
#[derive(Serialize)]
pub struct Payload<'a> {
    #[serde(rename = "type")]
    pub kind: String,
    pub timestamp: String,
    pub data: PayloadData<'a>,
}

/// The call record as it stands after the event (the fields of `calls --format json`), with
/// the event and where it happened.
#[derive(Serialize)]
pub struct PayloadData<'a> {
    #[serde(flatten)]
    pub call: CallJson<'a>,
    pub event: &'a str,
    pub host: &'a str,
    pub user: &'a str,
    /// The event was stored late, from the fallback log: later events of the call may have
    /// been sent before it.
    pub delayed: bool,
}

impl<'a> Payload<'a> {
    pub fn new(
        event: &'a str,
        at: i64,
        call: CallJson<'a>,
        host: &'a str,
        user: &'a str,
        delayed: bool,
    ) -> Self {
        Payload {
            kind: format!("call.{event}"),
            timestamp: rfc3339(at),
            data: PayloadData {
                call,
                event,
                host,
                user,
                delayed,
            },
        }
    }

    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("a payload serializes")
    }
}

/// The `webhook-id` of an event's message: the same for every attempt.
pub fn message_id(event_id: &str) -> String {
    format!("msg_{}", event_id.replace('-', ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_vector() {
        let secret =
            Secret::try_from("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".to_string()).unwrap();
        assert_eq!(
            secret.sign(
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                r#"{"email":"test@example.com","username":"test_user"}"#
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn secrets_and_urls_are_checked() {
        assert!(Secret::try_from("whsec_!!".to_string()).is_err());
        assert!(Secret::try_from("whsec_".to_string()).is_err());
        assert!(Secret::try_from("C2FVsBQIhrscChlQIMV+b5sSYspob7oD".to_string()).is_ok());
        assert!(HttpUrl::try_from("https://crm.example.com/hook".to_string()).is_ok());
        assert!(
            HttpUrl::try_from("ftp://x".to_string())
                .unwrap_err()
                .contains("http or https")
        );
        assert!(HttpUrl::try_from("not a url".to_string()).is_err());
        assert_eq!(format!("{:?}", Secret(vec![1])), "Secret(…)");
    }

    #[test]
    fn header_names_and_values_are_checked() {
        let mut webhook: WebhookConfig =
            toml::from_str("url = \"https://x.example.com/\"\nheaders = { X-Api-Key = \"k\" }")
                .unwrap();
        assert!(webhook.validate_headers().is_ok());
        webhook.headers.insert("Bad Name".into(), "v".into());
        assert!(webhook.validate_headers().unwrap_err().contains("Bad Name"));
        webhook.headers.clear();
        webhook
            .headers
            .insert("X".into(), "a\r\nInjected: 1".into());
        assert!(webhook.validate_headers().is_err());
        for own in ["Content-Type", "webhook-signature", "Webhook-Id", "host"] {
            webhook.headers.clear();
            webhook.headers.insert(own.into(), "v".into());
            let err = webhook.validate_headers().unwrap_err();
            assert!(err.contains("set by callhook"), "{own}: {err}");
        }
    }

    #[test]
    fn message_ids_are_stable_and_compact() {
        assert_eq!(
            message_id("01a2136e-ed23-72e3-9f62-90fbe1ac26aa"),
            "msg_01a2136eed2372e39f6290fbe1ac26aa"
        );
    }
}
